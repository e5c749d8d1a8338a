"""Devices: "cpu" tensors hold numpy arrays, "cuda" tensors hold CuPy arrays.

CuPy is optional; it is imported only when a CUDA array is asked for, so pyconv imports
everywhere.
"""
import sys

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


def check_device(device):
    device = str(device)
    if device.startswith("cuda:"):  # a single GPU: "cuda:0" is "cuda"
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    return device


def move(array, device):
    """Copy an array to a device (no copy when it is already there). The only place where data
    crosses between host and GPU."""
    device = check_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return array_module("cuda").asarray(array)
