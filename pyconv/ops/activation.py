"""Activation functions, elementwise or along one axis, on numpy or cupy arrays.

Each op computes with the array module of its input (numpy for "cpu", cupy for "cuda"); no
backend primitive is needed. Backward reuses the saved output where that is cheaper
(sigmoid, tanh, softmax, elu).
"""
import numbers

from ..device import array_module, device_of
from ..tensor import Function


def _xp(a):
    return array_module(device_of(a))


def _axis(dim, ndim, op):
    if not isinstance(dim, numbers.Integral) or not -ndim <= dim < max(ndim, 1):
        raise ValueError(f"{op}: dim {dim!r} is out of range for an input with {ndim} dimensions")
    return dim % max(ndim, 1)


class ReLU(Function):
    def forward(self, x):
        self.mask = x > 0
        return _xp(x).maximum(x, 0)

    def backward(self, grad):
        return grad * self.mask


def relu(x):
    """max(x, 0); the gradient at 0 is 0, as in PyTorch."""
    return ReLU.apply(x)


class LeakyReLU(Function):
    def forward(self, x, *, negative_slope=0.01):
        self.mask = x > 0
        self.slope = negative_slope
        return _xp(x).where(self.mask, x, x * negative_slope)

    def backward(self, grad):
        return _xp(grad).where(self.mask, grad, grad * self.slope)


def leaky_relu(x, negative_slope=0.01):
    """x where x > 0, else negative_slope * x."""
    return LeakyReLU.apply(x, negative_slope=negative_slope)


class ELU(Function):
    def forward(self, x, *, alpha=1.0):
        xp = _xp(x)
        self.mask, self.alpha = x > 0, alpha
        self.y = xp.where(self.mask, x, alpha * xp.expm1(xp.minimum(x, 0)))
        return self.y

    def backward(self, grad):
        # d/dx alpha*(exp(x) - 1) = alpha*exp(x) = y + alpha for x <= 0
        return _xp(grad).where(self.mask, grad, grad * (self.y + self.alpha))


def elu(x, alpha=1.0):
    """x where x > 0, else alpha * (exp(x) - 1)."""
    return ELU.apply(x, alpha=alpha)


class Sigmoid(Function):
    def forward(self, x):
        xp = _xp(x)
        e = xp.exp(-xp.abs(x))  # never overflows
        self.y = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return self.y

    def backward(self, grad):
        return grad * self.y * (1 - self.y)


def sigmoid(x):
    """1 / (1 + exp(-x)), computed without overflow for large |x|."""
    return Sigmoid.apply(x)


class Tanh(Function):
    def forward(self, x):
        self.y = _xp(x).tanh(x)
        return self.y

    def backward(self, grad):
        return grad * (1 - self.y * self.y)


def tanh(x):
    return Tanh.apply(x)


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


def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along dim, shifted by the maximum for stability."""
    return Softmax.apply(x, dim=dim)


class LogSoftmax(Function):
    def forward(self, x, *, dim=-1):
        xp = _xp(x)
        self.axis = _axis(dim, x.ndim, "log_softmax")
        z = x - x.max(axis=self.axis, keepdims=True)
        self.y = z - xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))
        return self.y

    def backward(self, grad):
        return grad - _xp(grad).exp(self.y) * grad.sum(axis=self.axis, keepdims=True)


def log_softmax(x, dim=-1):
    """x - logsumexp(x) along dim (stable: never forms exp of a large number)."""
    return LogSoftmax.apply(x, dim=dim)


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
