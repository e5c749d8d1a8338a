"""Ops that move elements without computing: reshape, permute/transpose, flatten, squeeze,
unsqueeze, broadcast_to, indexing, concat/stack, pad.

Results may be views of their input's array (as numpy's), so never write into `.data` of a
tensor that is part of a graph.
"""
import numbers

import numpy as np

from ..tensor import Function, Tensor
from ._util import normalize_axes, unbroadcast, xp_of

__all__ = ["reshape", "permute", "transpose", "flatten", "squeeze", "unsqueeze", "broadcast_to",
           "getitem", "concat", "cat", "stack", "pad"]


def _dims(args):
    """f(x, 2, 3) and f(x, (2, 3)) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


class Reshape(Function):
    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.shape)


def reshape(x, *shape):
    """`x` with a new shape of the same size; one entry may be -1 (inferred)."""
    return Reshape.apply(x, shape=_dims(shape))


class Permute(Function):
    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, grad):
        return grad.transpose(tuple(np.argsort(self.dims)))


def permute(x, *dims):
    """Axes reordered: output axis i is input axis dims[i]."""
    dims = _dims(dims)
    ndim = len(x.shape)
    if sorted(d % ndim if ndim else d for d in dims) != list(range(ndim)) or len(dims) != ndim:
        raise ValueError(f"permute: {dims} is not a permutation of the {ndim} axes of shape {x.shape}")
    return Permute.apply(x, dims=tuple(d % ndim for d in dims))


def transpose(x, dim0=None, dim1=None):
    """Axes dim0 and dim1 swapped (as torch.transpose); without them all axes reversed."""
    if dim0 is None and dim1 is None:
        return permute(x, *reversed(range(x.ndim)))
    if dim0 is None or dim1 is None:
        raise TypeError("transpose takes both dim0 and dim1, or neither")
    dims = list(range(x.ndim))
    dims[dim0], dims[dim1] = dims[dim1], dims[dim0]
    return permute(x, *dims)


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim (inclusive) merged into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    start, end = start_dim % x.ndim, end_dim % x.ndim
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in x.shape[start:end + 1]:
        merged *= n
    return reshape(x, x.shape[:start] + (merged,) + x.shape[end + 1:])


def squeeze(x, axis=None):
    """Size-1 axes removed: all of them, or those of `axis` that have size 1 (as PyTorch)."""
    axes = normalize_axes(axis, x.ndim)
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if not (i in axes and n == 1)))


def unsqueeze(x, axis):
    """A size-1 axis inserted at position `axis` (negative counts from the end, as PyTorch)."""
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"unsqueeze: axis {axis} is out of range for shape {x.shape}")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


class BroadcastTo(Function):
    def forward(self, x, shape):
        self.shape = x.shape
        return xp_of(x).broadcast_to(x, shape)

    def backward(self, grad):
        return unbroadcast(grad, self.shape)


def broadcast_to(x, shape):
    """`x` repeated along new or size-1 axes to `shape` (numpy's broadcasting rules)."""
    return BroadcastTo.apply(x, shape=_dims((shape,)))


def _index_arrays(index, xp, device):
    """The index as a tuple for the raw array: Tensors and lists become arrays on `device`."""
    parts = index if isinstance(index, tuple) else (index,)
    out = []
    for part in parts:
        if isinstance(part, Tensor):
            if part.device != device:
                raise RuntimeError(f"indexing a tensor on {device} with a tensor on {part.device}; "
                                   f"move the index with .to({device!r})")
            part = part.data
        elif isinstance(part, (list, np.ndarray)):
            part = xp.asarray(part)
        out.append(part)
    return tuple(out)


def _is_basic(part):
    return part is None or part is Ellipsis or isinstance(part, slice) or \
        (isinstance(part, numbers.Integral) and not isinstance(part, bool))


class GetItem(Function):
    def forward(self, x, index):
        self.shape, self.dtype, self.index = x.shape, x.dtype, index
        return x[index]

    def backward(self, grad):
        xp = xp_of(grad)
        dx = xp.zeros(self.shape, dtype=grad.dtype)
        if all(_is_basic(p) or p.dtype == bool for p in self.index):
            dx[self.index] = grad  # no element is picked twice
            return dx
        # integer arrays may repeat elements: accumulate, as np.add.at
        index = []
        for p in self.index:
            index.extend(p.nonzero() if not _is_basic(p) and p.dtype == bool else [p])
        xp.add.at(dx, tuple(index), grad)   # cupy.add.at since CuPy 12
        return dx


def getitem(x, index):
    """x[index]: ints, slices, None, Ellipsis, integer arrays/tensors/lists and boolean masks,
    with numpy's semantics. The gradient of an element picked several times accumulates."""
    if not isinstance(x, Tensor):
        x = Tensor(x)
    return GetItem.apply(x, index=_index_arrays(index, x.xp, x.device))


class Concat(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        self.ends = np.cumsum([a.shape[axis] for a in arrays])
        return xp_of(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, grad):
        cuts = [slice(None)] * grad.ndim
        grads, start = [], 0
        for end in self.ends:
            cuts[self.axis] = slice(start, int(end))
            grads.append(grad[tuple(cuts)])
            start = int(end)
        return tuple(grads)


def concat(tensors, axis=0):
    """Tensors joined along an existing axis (all other sizes equal)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("concat needs at least one tensor")
    return Concat.apply(*tensors, axis=axis)


cat = concat


class Stack(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        return xp_of(arrays[0]).stack(arrays, axis=axis)

    def backward(self, grad):
        axis = self.axis % grad.ndim
        return tuple(grad[(slice(None),) * axis + (i,)] for i in range(grad.shape[axis]))


def stack(tensors, axis=0):
    """Tensors of one shape joined along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack.apply(*tensors, axis=axis)


class Pad(Function):
    def forward(self, x, widths, value):
        self.inside = tuple(slice(before, before + n) for (before, _), n in zip(widths, x.shape))
        return xp_of(x).pad(x, widths, mode="constant", constant_values=value)

    def backward(self, grad):
        return grad[self.inside]


def pad(x, pad_width, value=0):
    """`x` surrounded by `value` (zero by default). `pad_width` as numpy's: an int for every
    side, a (before, after) pair for every axis, or one pair per axis (first axis first; note
    that torch.nn.functional.pad lists the last axis first)."""
    ndim = len(x.shape)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad widths must be non-negative, got {pad_width!r}")
    return Pad.apply(x, widths=tuple(tuple(int(w) for w in pair) for pair in widths), value=value)
