"""Helpers shared by the op modules."""
import numpy as np

from .. import device as _device


def xp_of(array):
    """numpy or cupy: the array module of `array` (numpy for numpy scalars too: a product of 0-d
    arrays is one)."""
    return np if isinstance(array, (np.ndarray, np.generic)) else _device.array_module("cuda")


def unbroadcast(grad, shape):
    """Sum `grad` over the axes that broadcasting added or stretched, down to `shape`."""
    # BEGIN LAB 2: sum grad over the axes broadcasting added (leading) or stretched (size 1 in shape)
    shape = tuple(shape)
    if tuple(grad.shape) == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad.reshape(shape)
    # END LAB 2


def normalize_axes(axis, ndim):
    """A sorted tuple of non-negative axes from None (all), an int or a sequence of ints."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor of {ndim} dimensions")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis!r}")
    return tuple(sorted(out))


def expand_reduced(grad, in_shape, axes, keepdims):
    """The gradient of a reduction over `axes`, shaped back so it broadcasts to `in_shape`."""
    if not keepdims:
        grad = grad.reshape(tuple(1 if i in axes else n for i, n in enumerate(in_shape)))
    return grad


def dim_arg(dim, axis, op):
    """PyTorch's `dim`, or numpy's `axis` (an alias); giving both is an error."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"{op}: give dim or axis, not both")
    return axis


def keepdim_arg(keepdim, keepdims):
    """PyTorch's `keepdim`, or numpy's `keepdims` (an alias) when given."""
    return bool(keepdim if keepdims is None else keepdims)
