"""Ops that move elements without computing: reshape/view, permute/transpose, flatten, squeeze,
unsqueeze, expand/broadcast_to, repeat, indexing (getitem, gather, index_select, setitem),
cat/stack, split/chunk/unbind, flip, tril/triu, pad, clone/contiguous.

Results may be views of their input's array (as numpy's); a view shares its input's version
counter, so an in-place change through either is seen by backward's check.

Dims follow PyTorch (`dim`, negative counts from the end); numpy's `axis` is an alias.
"""
import numbers

import numpy as np

from ..tensor import Function, Tensor, _as_array
from ._util import dim_arg, normalize_axes, unbroadcast, xp_of

__all__ = ["reshape", "view", "permute", "transpose", "swapaxes", "swapdims", "t", "flatten",
           "unflatten", "squeeze", "unsqueeze", "broadcast_to", "expand", "repeat", "tile",
           "getitem", "gather", "scatter", "scatter_add", "index_select", "masked_select",
           "concat", "concatenate", "cat", "stack", "split", "chunk", "unbind", "narrow", "flip",
           "tril", "triu", "diagonal", "diag", "trace", "meshgrid", "pad", "clone", "contiguous"]


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(_as_array(x))


def _dims(args):
    """f(x, 2, 3) and f(x, (2, 3)) alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return tuple(args[0])
    return tuple(args)


def _axis(dim, ndim, op):
    """dim as a non-negative axis of a tensor with `ndim` axes (PyTorch's IndexError)."""
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"{op}: dimension {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % max(ndim, 1)


class Reshape(Function):
    def forward(self, x, shape):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, grad):
        return grad.reshape(self.shape)


def reshape(input, *shape):
    """`input` with a new shape of the same size; one entry may be -1 (inferred). As PyTorch's
    view when the data allows it (a view), else a copy."""
    return Reshape.apply(input, shape=_dims(shape))


view = reshape


class Permute(Function):
    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, grad):
        return grad.transpose(tuple(int(i) for i in np.argsort(self.dims)))


def permute(input, *dims):
    """Axes reordered: output axis i is input axis dims[i]."""
    dims = _dims(dims)
    ndim = len(input.shape)
    if sorted(d % ndim if ndim else d for d in dims) != list(range(ndim)) or len(dims) != ndim:
        raise ValueError(f"permute: {dims} is not a permutation of the {ndim} axes of shape "
                         f"{tuple(input.shape)}")
    return Permute.apply(input, dims=tuple(d % ndim for d in dims))


def transpose(input, dim0=None, dim1=None):
    """Axes dim0 and dim1 swapped (as torch.transpose); without them all axes reversed."""
    if dim0 is None and dim1 is None:
        return permute(input, *reversed(range(input.ndim)))
    if dim0 is None or dim1 is None:
        raise TypeError("transpose takes both dim0 and dim1, or neither")
    dims = list(range(input.ndim))
    a, b = _axis(dim0, input.ndim, "transpose"), _axis(dim1, input.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return permute(input, *dims)


swapaxes = swapdims = transpose


def t(input):
    """The transpose of a matrix; a 0-d or 1-d tensor as it is (as torch.t)."""
    if input.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, got shape {tuple(input.shape)}; "
                         f"use transpose(dim0, dim1) or permute")
    return input if input.ndim < 2 else transpose(input, 0, 1)


def flatten(input, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim (inclusive) merged into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    start, end = _axis(start_dim, input.ndim, "flatten"), _axis(end_dim, input.ndim, "flatten")
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    merged = 1
    for n in input.shape[start:end + 1]:
        merged *= n
    return reshape(input, input.shape[:start] + (merged,) + input.shape[end + 1:])


def unflatten(input, dim, sizes):
    """Axis `dim` split into `sizes` (one of them may be -1)."""
    dim = _axis(dim, input.ndim, "unflatten")
    return reshape(input, input.shape[:dim] + tuple(sizes) + input.shape[dim + 1:])


def squeeze(input, dim=None, *, axis=None):
    """Size-1 axes removed: all of them, or those of `dim` (an int or a tuple) that have size 1
    (as PyTorch: a `dim` of another size is left as it is)."""
    input = _tensor(input)
    axes = normalize_axes(dim_arg(dim, axis, "squeeze"), input.ndim)
    return reshape(input, tuple(n for i, n in enumerate(input.shape) if not (i in axes and n == 1)))


def unsqueeze(input, dim=None, *, axis=None):
    """A size-1 axis inserted at position `dim` (negative counts from the end, as PyTorch)."""
    input = _tensor(input)
    dim = dim_arg(dim, axis, "unsqueeze")
    if dim is None:
        raise TypeError("unsqueeze() needs dim")
    if not -input.ndim - 1 <= dim <= input.ndim:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for shape {tuple(input.shape)}")
    dim = dim % (input.ndim + 1)
    return reshape(input, input.shape[:dim] + (1,) + input.shape[dim:])


class BroadcastTo(Function):
    def forward(self, x, shape):
        self.shape = x.shape
        return xp_of(x).broadcast_to(x, shape)

    def backward(self, grad):
        return unbroadcast(grad, self.shape)


def broadcast_to(input, *shape):
    """`input` repeated along new or size-1 axes to `shape` (numpy's broadcasting rules).
    The result is a read-only view: clone() it before writing into it."""
    return BroadcastTo.apply(input, shape=_dims(shape))


def expand(input, *sizes):
    """`input` broadcast to `sizes`; -1 keeps that axis's size; new axes go in front."""
    sizes = _dims(sizes)
    extra = len(sizes) - input.ndim
    if extra < 0:
        raise ValueError(f"expand: {len(sizes)} sizes for a tensor of {input.ndim} dimensions")
    shape = []
    for i, n in enumerate(sizes):
        if n == -1:
            if i < extra:
                raise ValueError(f"expand: -1 is not allowed for the new leading dimension {i}")
            n = input.shape[i - extra]
        shape.append(n)
    return broadcast_to(input, tuple(shape))


class Repeat(Function):
    """Tiled copies (np.tile). Backward: the gradient seen as (copies, size) pairs per axis,
    summed over the copies."""
    def forward(self, x, reps):
        self.shape = (1,) * (len(reps) - x.ndim) + x.shape
        self.input_shape, self.reps = x.shape, reps
        return xp_of(x).tile(x, reps)

    def backward(self, grad):
        pairs = tuple(v for r, n in zip(self.reps, self.shape) for v in (r, n))
        return grad.reshape(pairs).sum(axis=tuple(range(0, len(pairs), 2))).reshape(self.input_shape)


def repeat(input, *sizes):
    """`input` repeated sizes[i] times along each axis (PyTorch's repeat, numpy's tile); more
    sizes than axes add leading axes."""
    sizes = _dims(sizes)
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor of {input.ndim} dimensions; "
                         f"give at least one per dimension")
    return Repeat.apply(input, reps=tuple(int(n) for n in sizes))


def tile(input, dims):
    """PyTorch's tile: as repeat, with missing leading sizes taken as 1."""
    dims = tuple(dims)
    return repeat(input, (1,) * (input.ndim - len(dims)) + dims)


# -- indexing -----------------------------------------------------------------------------------
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


def _scatter_add(xp, dx, index, grad):
    """dx[index] += grad, adding where an element is picked several times."""
    if all(_is_basic(p) or p.dtype == bool for p in index):
        dx[index] += grad  # no element is picked twice
        return dx
    parts = []
    for p in index:
        parts.extend(p.nonzero() if not _is_basic(p) and p.dtype == bool else [p])
    xp.add.at(dx, tuple(parts), grad)  # cupy.add.at since CuPy 12
    return dx


class GetItem(Function):
    def forward(self, x, index):
        self.shape, self.index = x.shape, index
        return x[index]

    def backward(self, grad):
        xp = xp_of(grad)
        return _scatter_add(xp, xp.zeros(self.shape, dtype=grad.dtype), self.index, grad)


def getitem(input, index):
    """input[index]: ints, slices, None, Ellipsis, integer arrays/tensors/lists and boolean masks,
    with numpy's semantics. The gradient of an element picked several times accumulates."""
    input = _tensor(input)
    return GetItem.apply(input, index=_index_arrays(index, input.xp, input.device))


class SetItem(Function):
    """x with x[index] = value, as a new array: the out-of-place form of an indexed assignment
    (pyconv's in-place ops use it inside a graph). x gets the gradient outside the index,
    value the gradient inside it (summed over its broadcast axes)."""
    def forward(self, x, value, index):
        self.index, self.value_shape = index, value.shape
        out = x.copy()
        out[index] = value
        return out

    def backward(self, grad):
        xp = xp_of(grad)
        dx = None
        if self.needs_grad[0]:
            dx = grad.copy()
            dx[self.index] = 0
        dvalue = unbroadcast(xp.asarray(grad[self.index]), self.value_shape) if self.needs_grad[1] else None
        return dx, dvalue


def setitem(input, index, value):
    """A copy of input with input[index] = value (differentiable in both)."""
    value = value if isinstance(value, Tensor) else Tensor(input.xp.asarray(value, dtype=input.dtype))
    index = _index_arrays(index, input.xp, input.device)
    return SetItem.apply(input, value.to(dtype=input.dtype), index=index)


class Gather(Function):
    """out[i][j] = x[index[i][j]][j] along `dim` (for dim 0), as torch.gather. Backward adds
    each gradient back at the element it came from (an index may repeat)."""
    def forward(self, x, index, dim):
        xp = xp_of(x)
        self.shape, self.index, self.dim = x.shape, index, dim
        # index may be smaller than x on the other axes: gather from that leading block only
        block = tuple(slice(None) if d == dim else slice(0, n) for d, n in enumerate(index.shape))
        return xp.take_along_axis(x[block], index, axis=dim)

    def backward(self, grad):
        xp = xp_of(grad)
        where = list(xp.ix_(*[xp.arange(n) for n in self.index.shape]))
        where[self.dim] = self.index
        dx = xp.zeros(self.shape, dtype=grad.dtype)
        xp.add.at(dx, tuple(where), grad)
        return dx


def gather(input, dim, index):
    """Values of input picked along `dim` by the int64 tensor `index` (same number of dims)."""
    input, index = _tensor(input), _tensor(index)
    if index.ndim != input.ndim:
        raise ValueError(f"gather: index has {index.ndim} dimensions, input {input.ndim}")
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be an integer tensor, got {index.dtype}")
    return Gather.apply(input, index=index.data, dim=_axis(dim, input.ndim, "gather"))


class Scatter(Function):
    """x with src's values written (or, with add, added) along `dim` at `index`, as
    torch.scatter / scatter_add. x gets the gradient where nothing was written over it; src the
    gradient read back at the places it went to."""
    def forward(self, x, src, index, dim, add):
        xp = xp_of(x)
        where = list(xp.ix_(*[xp.arange(n) for n in index.shape]))
        where[dim] = index
        self.where, self.add, self.src_shape = tuple(where), add, src.shape
        # src may be larger than index: its leading block is used (as PyTorch)
        values = src[tuple(slice(0, n) for n in index.shape)] if src.ndim else src
        out = x.copy()
        if add:
            xp.add.at(out, self.where, values)
        else:
            out[self.where] = values
        return out

    def backward(self, grad):
        xp = xp_of(grad)
        dx = dsrc = None
        if self.needs_grad[0]:
            dx = grad.copy()
            if not self.add:
                dx[self.where] = 0
        if self.needs_grad[1]:
            picked = grad[self.where]
            if len(self.src_shape) == 0:
                dsrc = picked.sum().reshape(())
            else:
                dsrc = xp.zeros(self.src_shape, dtype=grad.dtype)
                dsrc[tuple(slice(0, n) for n in picked.shape)] = picked
        return dx, dsrc


def scatter(input, dim, index, src=None, *, value=None, reduce=None):
    """A copy of input with src (a tensor, or the number `value`) written along `dim` at the
    int64 tensor `index`: out[index[i][j]][j] = src[i][j] for dim 0."""
    if reduce is not None:
        raise NotImplementedError("scatter(reduce=...) is not supported; use scatter_add")
    return _scatter(input, dim, index, value if src is None else src, add=False)


def scatter_add(input, dim, index, src):
    """As scatter, but src's values are added (where an index repeats, all of them)."""
    return _scatter(input, dim, index, src, add=True)


def _scatter(input, dim, index, src, add):
    index = _tensor(index)
    if index.dtype.kind not in "iu":
        raise TypeError(f"scatter: index must be an integer tensor, got {index.dtype}")
    if not isinstance(src, Tensor):
        src = Tensor(input.xp.asarray(src, dtype=input.dtype))
    return Scatter.apply(input, src.to(dtype=input.dtype), index=index.data,
                         dim=_axis(dim, input.ndim, "scatter"), add=add)


def index_select(input, dim, index):
    """The entries `index` (a 1-d integer tensor) of axis `dim`."""
    dim = _axis(dim, input.ndim, "index_select")
    return getitem(input, (slice(None),) * dim + (index,))


def masked_select(input, mask):
    """The elements where the bool `mask` (broadcast with input) is true, as a 1-d tensor."""
    mask = _tensor(mask)
    shape = np.broadcast_shapes(tuple(input.shape), tuple(mask.shape))
    return getitem(expand(input, shape), mask.data if mask.shape == shape else
                   mask.xp.broadcast_to(mask.data, shape))


def narrow(input, dim, start, length):
    dim = _axis(dim, input.ndim, "narrow")
    return getitem(input, (slice(None),) * dim + (slice(start, start + length),))


def split(tensor, split_size_or_sections, dim=0):
    """Pieces along `dim`: of `split_size` each (the last may be smaller), or of the listed sizes."""
    dim = _axis(dim, tensor.ndim, "split")
    n = tensor.shape[dim]
    if isinstance(split_size_or_sections, numbers.Integral):
        step = int(split_size_or_sections)
        sizes = [min(step, n - start) for start in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sizes {sizes} do not add up to {n}, the size of dim {dim}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(narrow(tensor, dim, start, size))
        start += size
    return tuple(pieces)


def chunk(input, chunks, dim=0):
    """At most `chunks` pieces of equal size (the last may be smaller) along `dim`."""
    n = input.shape[_axis(dim, input.ndim, "chunk")]
    return split(input, max(-(-n // chunks), 1), dim)


def unbind(input, dim=0):
    """The slices along `dim`, as a tuple (the axis removed)."""
    dim = _axis(dim, input.ndim, "unbind")
    return tuple(getitem(input, (slice(None),) * dim + (i,)) for i in range(input.shape[dim]))


def flip(input, dims):
    """input reversed along `dims` (an int or a sequence of them)."""
    axes = normalize_axes(dims, input.ndim)
    return getitem(input, tuple(slice(None, None, -1) if i in axes else slice(None)
                                for i in range(input.ndim)))


class Triangle(Function):
    """The lower (tril) or upper (triu) triangle of the last two axes, zeros elsewhere; the
    gradient passes through the same triangle."""
    def forward(self, x, op, k):
        self.op, self.k = op, k
        return getattr(xp_of(x), op)(x, k)

    def backward(self, grad):
        return getattr(xp_of(grad), self.op)(grad, self.k)


def tril(input, diagonal=0):
    return Triangle.apply(input, op="tril", k=diagonal)


def triu(input, diagonal=0):
    return Triangle.apply(input, op="triu", k=diagonal)


def _diagonal_index(xp, n_rows, n_cols, offset):
    """(rows, cols) of the diagonal `offset` of an n_rows x n_cols matrix."""
    n = max(0, min(n_rows + min(offset, 0), n_cols - max(offset, 0)))
    start = xp.arange(n)
    return start - min(offset, 0), start + max(offset, 0)


class Diagonal(Function):
    """The diagonal `offset` of axes dim1 and dim2, as the last axis (numpy's diagonal); the
    gradient goes back onto that diagonal."""
    def forward(self, x, offset, dim1, dim2):
        self.shape, self.args = x.shape, (offset, dim1, dim2)
        return xp_of(x).diagonal(x, offset, dim1, dim2).copy()

    def backward(self, grad):
        xp = xp_of(grad)
        offset, dim1, dim2 = self.args
        dx = xp.zeros(self.shape, dtype=grad.dtype)
        matrices = xp.moveaxis(dx, (dim1, dim2), (-2, -1))  # a view: writes land in dx
        matrices[(Ellipsis,) + _diagonal_index(xp, *matrices.shape[-2:], offset)] = grad
        return dx


def diagonal(input, offset=0, dim1=0, dim2=1):
    return Diagonal.apply(input, offset=offset, dim1=_axis(dim1, input.ndim, "diagonal"),
                          dim2=_axis(dim2, input.ndim, "diagonal"))


class DiagEmbed(Function):
    """A square matrix with the vector x on its diagonal `offset`, zeros elsewhere."""
    def forward(self, x, offset):
        xp = xp_of(x)
        n = x.shape[0] + abs(offset)
        self.where = _diagonal_index(xp, n, n, offset)
        out = xp.zeros((n, n), dtype=x.dtype)
        out[self.where] = x
        return out

    def backward(self, grad):
        return grad[self.where]


def diag(input, diagonal=0):
    """For a vector, the matrix with it on the diagonal; for a matrix, its diagonal."""
    if input.ndim == 1:
        return DiagEmbed.apply(input, offset=diagonal)
    if input.ndim != 2:
        raise ValueError(f"diag expects a 1-d or 2-d tensor, got shape {tuple(input.shape)}")
    return Diagonal.apply(input, offset=diagonal, dim1=0, dim2=1)


def trace(input):
    """The sum of a matrix's diagonal."""
    return diagonal(input).sum()


def meshgrid(*tensors, indexing="ij"):
    """Coordinate grids of 1-d tensors: the i-th result varies along axis i ("ij"), or with the
    first two axes swapped ("xy", numpy's default)."""
    tensors = _dims(tensors)
    shape = [t.shape[0] for t in tensors]
    axes = list(range(len(tensors)))
    if indexing == "xy" and len(tensors) > 1:
        axes[0], axes[1] = 1, 0
        shape[0], shape[1] = shape[1], shape[0]
    elif indexing != "ij":
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    grids = []
    for t, axis in zip(tensors, axes):
        view = [1] * len(tensors)
        view[axis] = t.shape[0]
        grids.append(expand(reshape(t, tuple(view)), tuple(shape)))
    return tuple(grids)


# -- joining ------------------------------------------------------------------------------------
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


def cat(tensors, dim=0, *, axis=None):
    """Tensors joined along an existing axis (all other sizes equal)."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat needs at least one tensor")
    return Concat.apply(*tensors, axis=dim_arg(dim if axis is None else None, axis, "cat"))


concat = concatenate = cat


class Stack(Function):
    def forward(self, *arrays, axis):
        self.axis = axis
        return xp_of(arrays[0]).stack(arrays, axis=axis)

    def backward(self, grad):
        axis = self.axis % grad.ndim
        return tuple(grad[(slice(None),) * axis + (i,)] for i in range(grad.shape[axis]))


def stack(tensors, dim=0, *, axis=None):
    """Tensors of one shape joined along a new axis."""
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    return Stack.apply(*tensors, axis=dim_arg(dim if axis is None else None, axis, "stack"))


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


# -- copies -------------------------------------------------------------------------------------
class Clone(Function):
    def forward(self, x):
        return xp_of(x).array(x, copy=True, order="C")

    def backward(self, grad):
        return grad


def clone(input):
    """A copy with its own (C-contiguous) array; the gradient passes through."""
    return Clone.apply(input)


def contiguous(input):
    """input itself when its array is C-contiguous, else a contiguous copy (as PyTorch)."""
    return input if input.data.flags.c_contiguous else clone(input)
