"""Dtype names as in PyTorch: `pyconv.float32`, `pyconv.long`, `pyconv.bool`, ...

Each is a numpy dtype object, so `t.dtype == pyconv.float32` holds, and they are accepted
wherever numpy takes a dtype (`dtype=` arguments, `.to(...)`, `np.zeros(..., dtype=...)`).
PyTorch's short names are aliases: float = float32, double = float64, half = float16,
long = int64, int = int32, short = int16.

This module defines names that shadow the builtins `bool`, `float` and `int`; import it as a
module (`from pyconv import dtypes`), never with `import *` into code that needs the builtins.
"""
import numpy as np

__all__ = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool",
           "half", "float", "double", "short", "int", "long",
           "get_default_dtype", "is_floating_point"]

float16 = np.dtype("float16")
float32 = np.dtype("float32")
float64 = np.dtype("float64")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = np.dtype("int16")
int32 = np.dtype("int32")
int64 = np.dtype("int64")
bool = np.dtype("bool")  # noqa: A001  (PyTorch's name)

half = float16
float = float32  # noqa: A001
double = float64
short = int16
int = int32  # noqa: A001
long = int64


def get_default_dtype():
    """The dtype of tensors made from Python floats: float32 (PyTorch's default)."""
    return float32


def is_floating_point(x):
    """True when the tensor `x` holds a floating-point dtype."""
    return np.dtype(x.dtype).kind == "f"
