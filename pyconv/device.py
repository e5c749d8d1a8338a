"""Devices: "cpu" tensors hold numpy arrays, "cuda" tensors hold CuPy arrays.

CuPy is optional; it is imported only when a CUDA array is asked for, so pyconv imports
everywhere.
"""
import numpy as np

DEVICES = ("cpu", "cuda")


def cupy_or_none():
    """The cupy module if it imports, else None (never raises)."""
    try:
        import cupy
    except Exception:
        return None
    return cupy


def device_of(array):
    """"cpu" for numpy arrays, "cuda" for CuPy arrays."""
    if isinstance(array, np.ndarray):
        return "cpu"
    cp = cupy_or_none()
    if cp is not None and isinstance(array, cp.ndarray):
        return "cuda"
    raise TypeError(f"expected a numpy or cupy array, got {type(array).__name__}")


def array_module(device):
    """numpy for "cpu", cupy for "cuda"."""
    device = check_device(device)
    if device == "cpu":
        return np
    cp = cupy_or_none()
    if cp is None:
        raise RuntimeError("device 'cuda' needs CuPy: pip install -e '.[cuda]'")
    return cp


def check_device(device):
    device = str(device)
    if device.startswith("cuda:"):  # a single GPU: "cuda:0" is "cuda"
        device = "cuda"
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {DEVICES}")
    return device


def move(array, device):
    """Copy an array to a device (no copy when it is already there)."""
    device = check_device(device)
    if device_of(array) == device:
        return array
    if device == "cpu":
        return array.get()
    return array_module("cuda").asarray(array)
