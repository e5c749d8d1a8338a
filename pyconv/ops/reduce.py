"""Reductions: sum, mean, max, min, var, std, argmax, argmin.

`axis` is None (all axes), an int or a tuple of ints; `keepdims` keeps reduced axes as size 1.
"""
import builtins
import warnings

import numpy as np

from ..tensor import Function, Tensor
from ._util import expand_reduced, normalize_axes, xp_of

__all__ = ["sum", "mean", "max", "min", "var", "std", "argmax", "argmin"]


def _count(shape, axes):
    n = 1
    for a in axes:
        n *= shape[a]
    return n


class Sum(Function):
    def forward(self, x, axis, keepdims):
        self.shape, self.axes, self.keepdims = x.shape, normalize_axes(axis, x.ndim), keepdims
        return xp_of(x).sum(x, axis=self.axes, keepdims=keepdims)

    def backward(self, grad):
        grad = expand_reduced(grad, self.shape, self.axes, self.keepdims)
        return xp_of(grad).broadcast_to(grad, self.shape).copy()


def sum(x, axis=None, keepdims=False):
    return Sum.apply(x, axis=axis, keepdims=keepdims)


class Mean(Function):
    def forward(self, x, axis, keepdims):
        self.shape, self.axes, self.keepdims = x.shape, normalize_axes(axis, x.ndim), keepdims
        return xp_of(x).mean(x, axis=self.axes, keepdims=keepdims)

    def backward(self, grad):
        grad = expand_reduced(grad, self.shape, self.axes, self.keepdims)
        n = _count(self.shape, self.axes)
        return xp_of(grad).broadcast_to(grad / n, self.shape).copy()


def mean(x, axis=None, keepdims=False):
    return Mean.apply(x, axis=axis, keepdims=keepdims)


class Max(Function):
    """Largest element; the gradient is split equally among the elements that tie for it
    (as PyTorch's amax/amin; its max(dim) instead gives it all to one of them)."""
    reduce = "max"

    def forward(self, x, axis, keepdims):
        self.x, self.axes, self.keepdims = x, normalize_axes(axis, x.ndim), keepdims
        if x.size == 0:
            raise ValueError(f"{self.reduce}() of an empty tensor of shape {x.shape}")
        self.out = getattr(xp_of(x), self.reduce)(x, axis=self.axes, keepdims=True)
        return self.out if keepdims else self.out.reshape(
            tuple(n for i, n in enumerate(x.shape) if i not in self.axes))

    def backward(self, grad):
        xp = xp_of(grad)
        grad = expand_reduced(grad, self.x.shape, self.axes, self.keepdims)
        hits = xp.asarray(self.x == self.out, dtype=grad.dtype)
        count = xp.maximum(hits.sum(axis=self.axes, keepdims=True), 1)
        return hits * (grad / count)


class Min(Max):
    reduce = "min"


def max(x, axis=None, keepdims=False):
    return Max.apply(x, axis=axis, keepdims=keepdims)


def min(x, axis=None, keepdims=False):
    return Min.apply(x, axis=axis, keepdims=keepdims)


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
                      UserWarning, stacklevel=3)


def var(x, axis=None, keepdims=False, correction=None, unbiased=None):
    """Variance: sum((x - mean)^2) / (N - correction). The default `correction=1` (the unbiased
    estimate) is PyTorch's; `unbiased=False` means `correction=0` (numpy's default).
    N - correction <= 0 gives inf or nan with a UserWarning, as PyTorch."""
    correction = _correction(correction, unbiased)
    _warn_dof("var", x, axis, correction)
    return Var.apply(x, axis=axis, keepdims=keepdims, correction=correction)


def std(x, axis=None, keepdims=False, correction=None, unbiased=None):
    """Standard deviation: sqrt(var(...)), with var's `correction` rule. Its gradient is 0
    where it is 0 (a constant input), as PyTorch's."""
    correction = _correction(correction, unbiased)
    _warn_dof("std", x, axis, correction)
    return Std.apply(x, axis=axis, keepdims=keepdims, correction=correction)


def _arg(name, x, axis, keepdims):
    if not isinstance(x, Tensor):
        x = Tensor(x)
    if axis is not None and not isinstance(axis, int):
        raise TypeError(f"{name}: axis must be None or an int, got {axis!r}")
    result = getattr(x.xp, name)(x.data, axis=axis)
    if keepdims:
        result = result.reshape(tuple(1 if axis is None or i == axis % x.ndim else n
                                      for i, n in enumerate(x.shape)))
    return Tensor(result)


def argmax(x, axis=None, keepdims=False):
    """Index of the first largest element (flat when axis is None); an int64 tensor."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x, axis=None, keepdims=False):
    """Index of the first smallest element (flat when axis is None); an int64 tensor."""
    return _arg("argmin", x, axis, keepdims)
