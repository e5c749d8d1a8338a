"""Reductions: sum, mean, prod, var, std, max, min, amax, amin, argmax, argmin, all, any, norm,
logsumexp; and cumsum, sort, topk, which keep the reduced axis.

Every one takes PyTorch's `dim` (None for all axes, an int, or a tuple/list where PyTorch
allows it) and `keepdim` (keep reduced axes as size 1); numpy's `axis` and `keepdims` are
accepted as aliases.

`max(x, dim)` and `min(x, dim)` return a named tuple (values, indices) as PyTorch's, so
`_, predicted = logits.max(1)` works; `max(x)` without dim returns the largest value, and
`max(a, b)` of two tensors is the elementwise maximum. `amax`/`amin` take several dims and
return only the values.
"""
import builtins
import collections
import warnings

import numpy as np

from ..tensor import Function, Tensor, _as_array
from ._util import dim_arg, expand_reduced, keepdim_arg, normalize_axes, xp_of
from .basic import _floating, maximum, minimum

__all__ = ["sum", "mean", "prod", "max", "min", "amax", "amin", "var", "std", "argmax", "argmin",
           "all", "any", "norm", "logsumexp", "cumsum", "sort", "argsort", "topk", "nonzero",
           "count_nonzero", "bincount", "return_types"]



class return_types:
    """Named tuples (values, indices) returned by max, min, sort and topk, as PyTorch's
    torch.return_types: unpack them, or read `.values` and `.indices`."""
    max = collections.namedtuple("max", ["values", "indices"])
    min = collections.namedtuple("min", ["values", "indices"])
    sort = collections.namedtuple("sort", ["values", "indices"])
    topk = collections.namedtuple("topk", ["values", "indices"])


def _tensor(x):
    return x if isinstance(x, Tensor) else Tensor(_as_array(x))


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


def _reduced_shape(shape, axes):
    return tuple(n for i, n in enumerate(shape) if i not in axes)


class Sum(Function):
    def forward(self, x, axis, keepdims, dtype):
        self.shape, self.axes, self.keepdims = x.shape, normalize_axes(axis, x.ndim), keepdims
        return xp_of(x).sum(x, axis=self.axes, keepdims=keepdims, dtype=dtype)

    def backward(self, grad):
        # BEGIN LAB 2: the gradient of a sum over self.axes: grad copied to every summed element
        grad = expand_reduced(grad, self.shape, self.axes, self.keepdims)
        return xp_of(grad).broadcast_to(grad, self.shape).copy()
        # END LAB 2


def sum(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Sum over `dim`. Integer and bool tensors sum to int64 (as PyTorch)."""
    input = _tensor(input)
    if dtype is None and input.dtype.kind in "biu":
        dtype = np.int64
    return Sum.apply(input, axis=dim_arg(dim, axis, "sum"), keepdims=keepdim_arg(keepdim, keepdims),
                     dtype=dtype)


class Mean(Function):
    def forward(self, x, axis, keepdims):
        self.shape, self.axes, self.keepdims = x.shape, normalize_axes(axis, x.ndim), keepdims
        return xp_of(x).mean(x, axis=self.axes, keepdims=keepdims)

    def backward(self, grad):
        # BEGIN LAB 2: the gradient of a mean over self.axes
        grad = expand_reduced(grad, self.shape, self.axes, self.keepdims)
        n = _count(self.shape, self.axes)
        return xp_of(grad).broadcast_to(grad / n, self.shape).copy()
        # END LAB 2


def mean(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Mean over `dim`. Integer and bool tensors average in float32 (PyTorch refuses them)."""
    input = _floating(input)
    if dtype is not None:
        input = input.to(dtype=dtype)
    return Mean.apply(input, axis=dim_arg(dim, axis, "mean"), keepdims=keepdim_arg(keepdim, keepdims))


class Prod(Function):
    """Product over axes. The gradient of each element is the product of the others, taken as
    exclusive cumulative products from both sides (no division, so zeros are exact)."""

    def forward(self, x, axis, keepdims):
        self.x, self.axes, self.keepdims = x, normalize_axes(axis, x.ndim), keepdims
        return xp_of(x).prod(x, axis=self.axes, keepdims=keepdims)

    def backward(self, grad):
        xp, x, axes = xp_of(grad), self.x, self.axes
        grad = expand_reduced(grad, x.shape, axes, self.keepdims)
        kept = [i for i in range(x.ndim) if i not in axes]
        moved = xp.transpose(x, kept + list(axes))  # reduced axes last, then flattened
        rows = moved.reshape(moved.shape[:len(kept)] + (-1,))
        ones = xp.ones(rows.shape[:-1] + (1,), dtype=x.dtype)
        before = xp.cumprod(xp.concatenate([ones, rows[..., :-1]], axis=-1), axis=-1)
        after = xp.flip(xp.cumprod(xp.flip(xp.concatenate([rows[..., 1:], ones], axis=-1), -1), -1), -1)
        back = tuple(int(i) for i in np.argsort(kept + list(axes)))
        others = (before * after).reshape(moved.shape).transpose(back)
        return grad * others


def prod(input, dim=None, keepdim=False, *, dtype=None, axis=None, keepdims=None):
    """Product over `dim`. Integer and bool tensors multiply in int64 (as PyTorch)."""
    input = _tensor(input)
    if dtype is None and input.dtype.kind in "biu":
        dtype = np.int64
    if dtype is not None:
        input = input.to(dtype=dtype)
    return Prod.apply(input, axis=dim_arg(dim, axis, "prod"), keepdims=keepdim_arg(keepdim, keepdims))


class Amax(Function):
    """Largest element; the gradient is split equally among the elements that tie for it
    (as PyTorch's amax/amin; its max(dim) instead gives it all to the index it returns)."""
    reduce = "max"

    def forward(self, x, axis, keepdims):
        self.x, self.axes, self.keepdims = x, normalize_axes(axis, x.ndim), keepdims
        if x.size == 0:
            raise ValueError(f"{self.reduce}() of an empty tensor of shape {x.shape}")
        self.out = getattr(xp_of(x), self.reduce)(x, axis=self.axes, keepdims=True)
        return self.out if keepdims else self.out.reshape(_reduced_shape(x.shape, self.axes))

    def backward(self, grad):
        xp = xp_of(grad)
        grad = expand_reduced(grad, self.x.shape, self.axes, self.keepdims)
        hits = xp.asarray(self.x == self.out, dtype=grad.dtype)
        count = xp.maximum(hits.sum(axis=self.axes, keepdims=True), 1)
        return hits * (grad / count)


class Amin(Amax):
    reduce = "min"


def amax(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Largest values over `dim` (None: all; an int or several); ties share the gradient."""
    return Amax.apply(input, axis=dim_arg(dim, axis, "amax"), keepdims=keepdim_arg(keepdim, keepdims))


def amin(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Smallest values over `dim` (None: all; an int or several); ties share the gradient."""
    return Amin.apply(input, axis=dim_arg(dim, axis, "amin"), keepdims=keepdim_arg(keepdim, keepdims))


def _extreme(name, input, dim, keepdim, axis, keepdims):
    """max/min: the value, the elementwise extreme of two tensors, or (values, indices)."""
    if isinstance(dim, Tensor) or isinstance(dim, np.ndarray):
        return (maximum if name == "max" else minimum)(input, dim)
    dim, keepdim = dim_arg(dim, axis, name), keepdim_arg(keepdim, keepdims)
    reduce = amax if name == "max" else amin
    if dim is None:
        return reduce(input, keepdim=keepdim)
    if isinstance(dim, (tuple, list)):  # PyTorch refuses several dims here; their values, as amax
        return reduce(input, dim, keepdim)
    input = _tensor(input)
    if input.numel() == 0:
        raise ValueError(f"{name}() of an empty tensor of shape {input.shape}")
    indices = _arg("arg" + name, input, dim, keepdim=True)
    values = _gather(input, dim, indices.data)
    if not keepdim:
        values, indices = values.squeeze(dim), indices.squeeze(dim)
    return getattr(return_types, name)(values, indices)


def max(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """`max(x)`: the largest element. `max(x, dim)`: the named tuple (values, indices) along
    `dim` (the gradient goes to the returned index). `max(x, other_tensor)`: elementwise."""
    return _extreme("max", input, dim, keepdim, axis, keepdims)


def min(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """As max: the smallest element, (values, indices) along `dim`, or elementwise."""
    return _extreme("min", input, dim, keepdim, axis, keepdims)


def _gather(x, dim, index):
    from .shape import gather
    return gather(x, dim, Tensor(index))


def _correction(correction, unbiased):
    if correction is not None and unbiased is not None:
        raise ValueError("give correction or unbiased, not both")
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if correction is None else correction


class Var(Function):
    def forward(self, x, axis, keepdims, correction):
        self.axes, self.keepdims = normalize_axes(axis, x.ndim), keepdims
        n = _count(x.shape, self.axes)
        self.dof = builtins.max(n - correction, 0)
        # sum / n, not mean: an empty reduction gives nan without numpy's "Mean of empty slice"
        with np.errstate(divide="ignore", invalid="ignore"):
            self.centered = x - x.sum(axis=self.axes, keepdims=True) / n
            return (self.centered * self.centered).sum(axis=self.axes, keepdims=keepdims) / self.dof

    def backward(self, grad):
        grad = expand_reduced(grad, self.centered.shape, self.axes, self.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.centered * (grad * (2 / self.dof if self.dof else float("inf")))


class Std(Var):
    """sqrt(var) in one node, so that backward can give 0 where std is 0 (PyTorch's rule)
    instead of the 0 * inf = nan of the chain rule through sqrt."""

    def forward(self, x, axis, keepdims, correction):
        self.out = xp_of(x).sqrt(super().forward(x, axis, keepdims, correction))
        return self.out

    def backward(self, grad):
        xp = xp_of(grad)
        with np.errstate(divide="ignore", invalid="ignore"):
            dvar = xp.where(self.out == 0, 0, grad / (2 * self.out)).astype(grad.dtype, copy=False)
        return super().backward(dvar)


def _warn_dof(name, x, axis, correction):
    shape = x.shape if isinstance(x, Tensor) else np.shape(x)
    if _count(shape, normalize_axes(axis, len(shape))) - correction <= 0:
        # PyTorch's warning, raised from the caller's line; the result is inf or nan
        warnings.warn(f"{name}(): degrees of freedom is <= 0. Correction should be strictly less "
                      f"than the reduction factor (input numel divided by output numel).",
                      UserWarning, stacklevel=4)


def _var_args(name, dim, unbiased, keepdim, correction, axis, keepdims):
    if isinstance(dim, bool):  # PyTorch's var(x, unbiased) overload
        dim, unbiased = None, dim
    return dim_arg(dim, axis, name), keepdim_arg(keepdim, keepdims), _correction(correction, unbiased)


def var(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """Variance: sum((x - mean)^2) / (N - correction). The default `correction=1` (the unbiased
    estimate) is PyTorch's; `unbiased=False` means `correction=0` (numpy's default).
    N - correction <= 0 gives inf or nan with a UserWarning, as PyTorch."""
    dim, keepdim, correction = _var_args("var", dim, unbiased, keepdim, correction, axis, keepdims)
    _warn_dof("var", input, dim, correction)
    return Var.apply(_floating(input), axis=dim, keepdims=keepdim, correction=correction)


def std(input, dim=None, unbiased=None, keepdim=False, *, correction=None, axis=None, keepdims=None):
    """Standard deviation: sqrt(var(...)), with var's `correction` rule. Its gradient is 0
    where it is 0 (a constant input), as PyTorch's."""
    dim, keepdim, correction = _var_args("std", dim, unbiased, keepdim, correction, axis, keepdims)
    _warn_dof("std", input, dim, correction)
    return Std.apply(_floating(input), axis=dim, keepdims=keepdim, correction=correction)


def _arg(name, x, dim, keepdim):
    x = _tensor(x)
    if dim is not None and not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{name}: dim must be None or an int, got {dim!r}")
    result = getattr(x.xp, name)(x.data, axis=dim)
    if keepdim:
        result = result.reshape(tuple(1 if dim is None or i == dim % x.ndim else n
                                      for i, n in enumerate(x.shape)))
    return Tensor(result.astype(np.int64, copy=False))


def argmax(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the first largest element (flat when dim is None); an int64 tensor."""
    return _arg("argmax", input, dim_arg(dim, axis, "argmax"), keepdim_arg(keepdim, keepdims))


def argmin(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """Index of the first smallest element (flat when dim is None); an int64 tensor."""
    return _arg("argmin", input, dim_arg(dim, axis, "argmin"), keepdim_arg(keepdim, keepdims))


def _logical(name, input, dim, keepdim, axis, keepdims):
    x = _tensor(input)
    axes = normalize_axes(dim_arg(dim, axis, name), x.ndim)
    return Tensor(getattr(x.xp, name)(x.data, axis=axes, keepdims=keepdim_arg(keepdim, keepdims)))


def all(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """True where every element along `dim` is nonzero (a bool tensor)."""
    return _logical("all", input, dim, keepdim, axis, keepdims)


def any(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """True where some element along `dim` is nonzero (a bool tensor)."""
    return _logical("any", input, dim, keepdim, axis, keepdims)


def count_nonzero(input, dim=None):
    x = _tensor(input)
    return Tensor(x.xp.count_nonzero(x.data, axis=dim).astype(np.int64))


def bincount(input, weights=None, minlength=0):
    """How often each value 0, 1, ... occurs in the 1-d integer tensor input (or the sum of
    `weights` at its positions)."""
    x = _tensor(input)
    w = None if weights is None else _tensor(weights).data
    return Tensor(x.xp.bincount(x.data, weights=w, minlength=minlength))


def nonzero(input, *, as_tuple=False):
    """Indices of the nonzero elements: an (n, ndim) int64 tensor, or one tensor per axis."""
    x = _tensor(input)
    found = x.xp.nonzero(x.data)
    if as_tuple:
        return tuple(Tensor(i.astype(np.int64)) for i in found)
    return Tensor(x.xp.stack(found, axis=1).astype(np.int64))


class PNorm(Function):
    """(sum |x|^p)^(1/p) over axes; for p = 0 the count of nonzeros. Gradient: sign(x) |x|^(p-1)
    / norm^(p-1), taken as 0 where the norm is 0 (PyTorch's subgradient) and, for p < 1, where
    x is 0; for p = 0 zero (a count is piecewise constant)."""

    def forward(self, x, p, axis, keepdims):
        xp = xp_of(x)
        self.x, self.p, self.axes, self.keepdims = x, p, normalize_axes(axis, x.ndim), keepdims
        if p == 0:
            self.out = (x != 0).sum(axis=self.axes, keepdims=True).astype(x.dtype)
        elif p == 2:
            self.out = xp.sqrt((x * x).sum(axis=self.axes, keepdims=True))
        else:
            self.out = (xp.abs(x) ** p).sum(axis=self.axes, keepdims=True) ** (1 / p)
        return self.out if keepdims else self.out.reshape(_reduced_shape(x.shape, self.axes))

    def backward(self, grad):
        xp, x, p = xp_of(grad), self.x, self.p
        if p == 0:
            return xp.zeros(x.shape, dtype=grad.dtype)
        grad = expand_reduced(grad, x.shape, self.axes, self.keepdims)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = xp.where(self.out == 0, 0, grad / self.out ** (p - 1))
            along = x if p == 2 else xp.where(x == 0, 0, xp.sign(x) * xp.abs(x) ** (p - 1))
        return (along * scale).astype(grad.dtype, copy=False)


def norm(input, p="fro", dim=None, keepdim=False, dtype=None, *, axis=None, keepdims=None):
    """The p-norm of the elements over `dim` (all of them by default, the matrix's Frobenius
    norm): p = 2 or "fro", 1, inf, -inf, 0 (the count of nonzeros) or any other p > 0."""
    input = _floating(input)
    if dtype is not None:
        input = input.to(dtype=dtype)
    dim, keepdim = dim_arg(dim, axis, "norm"), keepdim_arg(keepdim, keepdims)
    if p == "fro":
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (numbers, inf and 'fro' are)")
    if p == float("inf"):
        return amax(input.abs(), dim, keepdim)
    if p == float("-inf"):
        return amin(input.abs(), dim, keepdim)
    if p == 1:
        return sum(input.abs(), dim, keepdim)
    if p < 0:
        raise ValueError(f"norm: p must be positive, got {p}")
    return PNorm.apply(input, p=float(p), axis=dim, keepdims=keepdim)


class LogSumExp(Function):
    """log(sum(exp(x))) over axes, computed as m + log(sum(exp(x - m))) with m the max, so that
    large x do not overflow. Gradient: softmax(x) along the axes."""

    def forward(self, x, axis, keepdims):
        xp = xp_of(x)
        self.x, self.axes, self.keepdims = x, normalize_axes(axis, x.ndim), keepdims
        m = x.max(axis=self.axes, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf give -inf, not nan
        self.out = m + xp.log(xp.exp(x - m).sum(axis=self.axes, keepdims=True))
        return self.out if keepdims else self.out.reshape(_reduced_shape(x.shape, self.axes))

    def backward(self, grad):
        grad = expand_reduced(grad, self.x.shape, self.axes, self.keepdims)
        return grad * xp_of(grad).exp(self.x - self.out)


def logsumexp(input, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """log(sum(exp(input))) over `dim` (all axes when None), without overflow."""
    return LogSumExp.apply(_floating(input), axis=dim_arg(dim, axis, "logsumexp"),
                           keepdims=keepdim_arg(keepdim, keepdims))


class CumSum(Function):
    def forward(self, x, axis, dtype):
        self.axis = axis
        return xp_of(x).cumsum(x, axis=axis, dtype=dtype)

    def backward(self, grad):
        xp = xp_of(grad)  # each input feeds every later output: a reversed cumulative sum
        return xp.flip(xp.cumsum(xp.flip(grad, self.axis), axis=self.axis), self.axis)


def cumsum(input, dim=None, *, dtype=None, axis=None):
    """Running sums along `dim`. Integer and bool tensors sum in int64 (as PyTorch)."""
    input = _tensor(input)
    if dtype is None and input.dtype.kind in "biu":
        dtype = np.int64
    dim = dim_arg(dim, axis, "cumsum")
    if dim is None:
        raise TypeError("cumsum() needs dim")
    return CumSum.apply(input, axis=dim % builtins.max(input.ndim, 1), dtype=dtype)


def _sort_order(x, dim, descending):
    """Indices that sort x along dim; stable, so ties keep their order (also descending)."""
    data = x.data
    if descending:
        data = -(data.astype(np.int64) if data.dtype.kind in "bu" else data)
    return x.xp.argsort(data, axis=dim, kind="stable")


def sort(input, dim=-1, descending=False, stable=False):
    """The named tuple (values, indices) of input sorted along `dim` (ties keep their order)."""
    x = _tensor(input)
    indices = _sort_order(x, dim, descending)
    return return_types.sort(_gather(x, dim, indices), Tensor(indices.astype(np.int64)))


def argsort(input, dim=-1, descending=False, stable=False):
    return Tensor(_sort_order(_tensor(input), dim, descending).astype(np.int64))


def topk(input, k, dim=-1, largest=True, sorted=True):
    """The named tuple (values, indices) of the k largest (or smallest) along `dim`, sorted."""
    x = _tensor(input)
    order = _sort_order(x, dim, descending=largest)
    indices = x.xp.take(order, x.xp.arange(k), axis=dim)
    return return_types.topk(_gather(x, dim, indices), Tensor(indices.astype(np.int64)))
