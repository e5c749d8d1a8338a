"""Devices: "cpu" tensors hold numpy arrays, "cuda" tensors hold CuPy arrays.

CuPy is optional; it is imported only when a CUDA array is asked for, so pyconv imports
everywhere.

A device is named by a string ("cpu", "cuda", "cuda:0") or by a `Device`, torch.device's
counterpart, made by calling this module: `pyconv.device("cuda")`. A Device is itself a string,
so it goes wherever a device string goes. pyconv uses one GPU, the current one: "cuda" and
"cuda:0" name the same device.
"""
import sys
import types

import numpy as np

DEVICES = ("cpu", "cuda")


_cupy = []  # [module or None] once CuPy's import was tried


def cupy_or_none():
    """The cupy module if it imports, else None (never raises; tried once)."""
    if not _cupy:
        try:
            import cupy
        except Exception:
            cupy = None
        _cupy.append(cupy)
    return _cupy[0]


def is_cupy_array(obj):
    """True for a CuPy array (without importing CuPy when it is not loaded already)."""
    cp = sys.modules.get("cupy")
    return cp is not None and isinstance(obj, cp.ndarray)


def device_of(array):
    """"cpu" for numpy arrays, "cuda" for CuPy arrays."""
    if isinstance(array, np.ndarray):
        return "cpu"
    if is_cupy_array(array):
        return "cuda"
    raise TypeError(f"expected a numpy or cupy array, got {type(array).__name__}")


def array_module(device):
    """numpy for "cpu", cupy for "cuda" (a clear RuntimeError without CuPy or a GPU)."""
    device = check_device(device)
    if device == "cpu":
        return np
    cp = cupy_or_none()
    if cp is None:
        raise RuntimeError("device 'cuda' needs CuPy and an NVIDIA GPU, but CuPy does not import "
                           "here: pip install -e '.[cuda]'")
    if not cuda_available():
        raise RuntimeError("device 'cuda' needs an NVIDIA GPU, but CuPy sees none here")
    return cp


_gpu_count = []  # [number of GPUs] once asked


def cuda_available():
    """True when CuPy imports and sees at least one GPU (asked once)."""
    cp = cupy_or_none()
    if cp is None:
        return False
    if not _gpu_count:
        try:
            _gpu_count.append(cp.cuda.runtime.getDeviceCount())
        except Exception:
            _gpu_count.append(0)
    return _gpu_count[0] > 0


def _parse(name):
    """(type, index or None) of a device string, checked."""
    kind, colon, index = str(name).partition(":")
    if kind not in DEVICES or (colon and not index.isdigit()):
        raise ValueError(f"unknown device {str(name)!r}; expected one of {DEVICES}, or 'cuda:0'")
    return kind, int(index) if colon else None


def check_device(device):
    """"cpu" or "cuda" for a device string or Device; ValueError for anything else."""
    if type(device) is str and device in DEVICES:  # the common case, on every tensor made
        return device
    kind, index = _parse(device)
    if kind == "cuda" and index not in (None, 0):
        raise ValueError(f"device {str(device)!r}: pyconv uses one GPU, the current one: "
                         f"'cuda' or 'cuda:0' (choose the GPU with CUDA_VISIBLE_DEVICES)")
    return kind


def move(array, device):
    """Copy an array to a device (no copy when it is already there). The only place where data
    crosses between host and GPU."""
    device = check_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return array_module("cuda").asarray(array)


class Device(str):
    """A device, as torch.device: Device("cuda:0"), Device("cuda", 0), Device("cpu").

    It is the string it prints as ("cuda:0"), so every function taking a device string takes
    it, with `.type` ("cpu" or "cuda") and `.index` (an int or None) as torch.device has. It
    equals the strings and Devices naming the same device: Device("cuda:0") == "cuda".
    """

    def __new__(cls, type, index=None):
        if isinstance(type, Device) and index is None:
            return type
        if isinstance(type, int) and not isinstance(type, bool) and index is None:
            type, index = "cuda", type  # torch.device(0) is the first GPU
        kind, parsed = _parse(type)
        if parsed is not None and index is not None:
            raise ValueError(f"device({type!r}, {index!r}): the index is given twice")
        index = parsed if index is None else index
        if index is not None and (not isinstance(index, int) or index < 0):
            raise ValueError(f"device index must be a non-negative int, got {index!r}")
        return super().__new__(cls, kind if index is None else f"{kind}:{index}")

    @property
    def type(self):
        return _parse(self)[0]

    @property
    def index(self):
        return _parse(self)[1]

    def _key(self):
        name = str(self)
        return "cuda" if name == "cuda:0" else name

    def __eq__(self, other):
        if not isinstance(other, str):
            return NotImplemented
        return self._key() == (Device(other)._key() if _is_device_name(other) else str(other))

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self):
        return hash(self._key())

    def __repr__(self):
        index = "" if self.index is None else f", index={self.index}"
        return f"device(type={self.type!r}{index})"


def _is_device_name(name):
    kind, colon, index = str(name).partition(":")
    return kind in DEVICES and (not colon or index.isdigit())


class _DeviceModule(types.ModuleType):
    """This module is also callable, so that `pyconv.device("cuda")` makes a Device (as
    torch.device does) while `pyconv.device.check_device` and the rest stay reachable."""

    def __call__(self, type, index=None):
        return Device(type, index)

    def __instancecheck__(self, obj):
        return isinstance(obj, Device)


sys.modules[__name__].__class__ = _DeviceModule
