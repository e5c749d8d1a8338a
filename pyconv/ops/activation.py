"""Activation functions, elementwise or along one axis, on numpy or cupy arrays, with
PyTorch's argument names.

`inplace=True` is accepted wherever PyTorch takes it, but the result is always a new tensor
(the input is left unchanged): use the returned value, as `x = F.relu(x, inplace=True)` does.

Each op computes with the array module of its input (numpy for "cpu", cupy for "cuda"); no
backend primitive is needed. Backward reuses the saved output where that is cheaper
(sigmoid, tanh, softmax, elu).
"""
import numbers
import warnings

import numpy as np

from ..device import array_module, device_of
from ..backends import c_omp
from ..tensor import Function


def _xp(a):
    return array_module(device_of(a))


def _axis(dim, ndim, op):
    if not isinstance(dim, numbers.Integral) or not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"{op}: dim {dim!r} is out of range for an input with {ndim} dimensions")
    return dim % max(ndim, 1)


class ReLU(Function):
    """Saves its output: y > 0 is the mask, and y is usually kept alive by the next layer anyway.
    On the c backend, large arrays go through one-pass OpenMP kernels (csrc/elementwise.c)."""

    def forward(self, x):
        if x.size >= _C_RELU_MIN and c_omp.fast_path(x):
            self.y = c_omp.relu_forward(x)
        else:
            self.y = _xp(x).maximum(x, 0)
        return self.y

    def backward(self, grad):
        if grad.size >= _C_RELU_MIN and c_omp.fast_path(grad, self.y):
            return c_omp.relu_backward(grad, self.y)
        xp, mask = _xp(grad), self.y > 0
        if xp is not np or grad.size < _C_RELU_MIN:
            return xp.where(mask, grad, 0)   # a select: Inf * 0 would be NaN
        with np.errstate(invalid="ignore"):
            out = grad * mask   # numpy's where on a random mask is ~10x slower than this product,
        return out if np.isfinite(out).all() else np.where(mask, grad, 0)   # exact unless dy has Inf


# below this many elements numpy's call is as cheap as the C one's checks (both a few microseconds)
_C_RELU_MIN = 4096


def relu(input, inplace=False):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch. inplace: computed out of place (see
    the module docstring)."""
    return ReLU.apply(input)


class LeakyReLU(Function):
    def forward(self, x, *, negative_slope=0.01):
        self.mask = x > 0
        self.slope = negative_slope
        return _xp(x).where(self.mask, x, x * negative_slope)

    def backward(self, grad):
        return _xp(grad).where(self.mask, grad, grad * self.slope)


def leaky_relu(input, negative_slope=0.01, inplace=False):
    """x where x > 0, else negative_slope * x. inplace: computed out of place."""
    return LeakyReLU.apply(input, negative_slope=negative_slope)


class ELU(Function):
    def forward(self, x, *, alpha=1.0):
        xp = _xp(x)
        self.mask, self.alpha = x > 0, alpha
        self.y = xp.where(self.mask, x, alpha * xp.expm1(xp.minimum(x, 0)))
        return self.y

    def backward(self, grad):
        # d/dx alpha*(exp(x) - 1) = alpha*exp(x) = y + alpha for x <= 0
        return _xp(grad).where(self.mask, grad, grad * (self.y + self.alpha))


def elu(input, alpha=1.0, inplace=False):
    """x where x > 0, else alpha * (exp(x) - 1). inplace: computed out of place."""
    return ELU.apply(input, alpha=alpha)


class Sigmoid(Function):
    def forward(self, x):
        xp = _xp(x)
        e = xp.exp(-xp.abs(x))  # never overflows
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, grad):
        return grad * self.y * (1 - self.y)


def sigmoid(input):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    return Sigmoid.apply(input)


class Tanh(Function):
    def forward(self, x):
        self.y = _xp(x).tanh(x)
        return self.y

    def backward(self, grad):
        return grad * (1 - self.y * self.y)


def tanh(input):
    return Tanh.apply(input)


class Softmax(Function):
    def forward(self, x, *, dim=-1):
        xp = _xp(x)
        self.axis = _axis(dim, x.ndim, "softmax")
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        self.y = e / e.sum(axis=self.axis, keepdims=True)
        return self.y

    def backward(self, grad):
        y = self.y
        return y * (grad - (grad * y).sum(axis=self.axis, keepdims=True))


def implicit_dim(name, ndim, stacklevel):
    """PyTorch's legacy axis for softmax-like ops called without dim (with its warning):
    0 for inputs of 0, 1 or 3 dimensions, else 1."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  f"include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _cast(input, dtype):
    return input if dtype is None else input.to(dtype=dtype)


def softmax(input, dim=None, _stacklevel=3, dtype=None):
    """exp(x) / sum(exp(x)) along dim, shifted by the maximum for stability. dtype: cast the
    input first. Without dim, PyTorch's legacy choice (`implicit_dim`) with its warning."""
    if dim is None:
        dim = implicit_dim("softmax", input.ndim, _stacklevel)
    return Softmax.apply(_cast(input, dtype), dim=dim)


class LogSoftmax(Function):
    def forward(self, x, *, dim=-1):
        xp = _xp(x)
        self.axis = _axis(dim, x.ndim, "log_softmax")
        z = x - x.max(axis=self.axis, keepdims=True)
        self.y = z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, grad):
        return grad - _xp(grad).exp(self.y) * grad.sum(axis=self.axis, keepdims=True)


def log_softmax(input, dim=None, _stacklevel=3, dtype=None):
    """x - logsumexp(x) along dim (stable: never forms exp of a large number). dtype and a
    missing dim as `softmax`."""
    if dim is None:
        dim = implicit_dim("log_softmax", input.ndim, _stacklevel)
    return LogSoftmax.apply(_cast(input, dtype), dim=dim)


class Maxout(Function):
    def forward(self, x, *, pool_size, dim=1):
        xp = _xp(x)
        if not isinstance(pool_size, numbers.Integral) or pool_size <= 0:
            raise ValueError(f"maxout: pool_size must be a positive int, got {pool_size!r}")
        axis = _axis(dim, x.ndim, "maxout")
        C = x.shape[axis]
        if C % pool_size:
            raise ValueError(f"maxout: size {C} of dim {dim} (x shape {tuple(x.shape)}) is not "
                             f"divisible by pool_size {pool_size}")
        self.x_shape = x.shape
        # (..., C, ...) -> (..., C/pool, pool, ...): group g holds features g*pool ... g*pool+pool-1
        grouped = x.reshape(x.shape[:axis] + (C // pool_size, pool_size) + x.shape[axis + 1:])
        self.axis = axis + 1
        first = xp.expand_dims(grouped.argmax(axis=self.axis), self.axis)
        shape = [1] * grouped.ndim
        shape[self.axis] = pool_size
        self.mask = xp.arange(pool_size).reshape(shape) == first  # one winner per group
        return grouped.max(axis=self.axis)

    def backward(self, grad):
        return (_xp(grad).expand_dims(grad, self.axis) * self.mask).reshape(self.x_shape)


def maxout(x, pool_size, dim=1):
    """Maximum over groups of `pool_size` consecutive features along dim (default 1: the
    feature/channel axis of (N,C) or (N,C,H,W)). Output size along dim is C / pool_size, which
    must divide evenly; output feature g is max(x[g*pool_size : (g+1)*pool_size]). At ties the
    gradient goes to the first maximum of the group."""
    return Maxout.apply(x, pool_size=pool_size, dim=dim)
