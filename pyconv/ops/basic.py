"""Elementwise ops, device and dtype moves, comparisons.

Binary ops broadcast as numpy does; each backward sums the gradient back to its input's shape
(`unbroadcast`). A Python number next to a tensor takes the tensor's dtype. All of them run on
the tensor's array module (numpy or cupy), so they work on both devices.
"""
import numbers

import numpy as np

from .. import device as _device
from ..tensor import Function, Tensor
from ._util import unbroadcast, xp_of

__all__ = ["to", "add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt", "abs",
           "maximum", "minimum", "clip", "clamp", "where",
           "lt", "le", "gt", "ge", "eq", "ne"]


class To(Function):
    def forward(self, x, device, dtype):
        self.source = (_device.device_of(x), x.dtype)
        return _device.move(x.astype(dtype, copy=False), device)

    def backward(self, grad):
        source_device, source_dtype = self.source
        return _device.move(grad, source_device).astype(source_dtype, copy=False)


def to(x, device=None, dtype=None):
    """`x` on `device` with `dtype` (either may be None: unchanged). Returns `x` itself when
    nothing changes; otherwise a copy whose gradient flows back to `x`."""
    device = x.device if device is None else _device.check_device(device)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    if device == x.device and dtype == x.dtype:
        return x
    if device == "cuda":
        _device.array_module("cuda")  # the clear error when CuPy is missing
    return To.apply(x, device=device, dtype=dtype)


class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(grad, self.shapes[1])


def add(a, b):
    return Add.apply(a, b)


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(-grad, self.shapes[1])


def sub(a, b):
    return Sub.apply(a, b)


class Mul(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a * b

    def backward(self, grad):
        da = unbroadcast(grad * self.b, self.a.shape) if self.needs_grad[0] else None
        db = unbroadcast(grad * self.a, self.b.shape) if self.needs_grad[1] else None
        return da, db


def mul(a, b):
    return Mul.apply(a, b)


class Div(Function):
    def forward(self, a, b):
        self.a, self.b = a, b
        return a / b

    def backward(self, grad):
        a, b = self.a, self.b
        da = unbroadcast(grad / b, a.shape) if self.needs_grad[0] else None
        db = unbroadcast(-grad * a / (b * b), b.shape) if self.needs_grad[1] else None
        return da, db


def div(a, b):
    return Div.apply(a, b)


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad):
        return -grad


def neg(x):
    return Neg.apply(x)


class PowScalar(Function):
    """x ** p for a Python number p."""
    def forward(self, x, p):
        self.x, self.p = x, p
        return x ** p

    def backward(self, grad):
        if self.p == 0:
            return grad * 0
        return grad * self.p * self.x ** (self.p - 1)


class Pow(Function):
    """a ** b for two tensors. The gradient for b is taken as 0 where a <= 0 (the real power
    has no derivative in its exponent there; PyTorch gives NaN for a < 0)."""
    def forward(self, a, b):
        self.a, self.b = a, b
        self.out = a ** b
        return self.out

    def backward(self, grad):
        a, b = self.a, self.b
        xp = xp_of(grad)
        da = db = None
        if self.needs_grad[0]:
            da = unbroadcast(grad * b * a ** (b - 1), a.shape)
        if self.needs_grad[1]:
            positive = a > 0
            log_a = xp.log(xp.where(positive, a, xp.ones((), a.dtype)))
            db = unbroadcast(grad * self.out * log_a, b.shape)
        return da, db


def pow(a, b):
    """a ** b: tensor ** number, tensor ** tensor or number ** tensor."""
    if isinstance(a, Tensor) and isinstance(b, numbers.Real) and not isinstance(b, bool):
        return PowScalar.apply(a, p=_python_number(b))
    return Pow.apply(a, b)


class Exp(Function):
    def forward(self, x):
        self.out = xp_of(x).exp(x)
        return self.out

    def backward(self, grad):
        return grad * self.out


def exp(x):
    return Exp.apply(x)


class Log(Function):
    def forward(self, x):
        self.x = x
        return xp_of(x).log(x)

    def backward(self, grad):
        return grad / self.x


def log(x):
    return Log.apply(x)


class Sqrt(Function):
    def forward(self, x):
        self.out = xp_of(x).sqrt(x)
        return self.out

    def backward(self, grad):
        return grad / (self.out * 2)


def sqrt(x):
    return Sqrt.apply(x)


class Abs(Function):
    """|x|; the gradient at 0 is 0 (as PyTorch)."""
    def forward(self, x):
        self.x = x
        return xp_of(x).abs(x)

    def backward(self, grad):
        return grad * xp_of(grad).sign(self.x)


def abs(x):
    return Abs.apply(x)


class Maximum(Function):
    """Elementwise max; where a == b the gradient is split half and half (as PyTorch)."""
    pick = staticmethod(lambda xp, a, b: xp.maximum(a, b))
    wins = staticmethod(lambda a, b: a > b)

    def forward(self, a, b):
        self.a, self.b = a, b
        return self.pick(xp_of(a), a, b)

    def backward(self, grad):
        a, b = self.a, self.b
        share = xp_of(grad).asarray(self.wins(a, b), dtype=grad.dtype)  # a's share of grad
        share[a == b] = 0.5
        return unbroadcast(grad * share, a.shape), unbroadcast(grad * (1 - share), b.shape)


class Minimum(Maximum):
    """Elementwise min; ties split the gradient as `Maximum`."""
    pick = staticmethod(lambda xp, a, b: xp.minimum(a, b))
    wins = staticmethod(lambda a, b: a < b)


def maximum(a, b):
    return Maximum.apply(a, b)


def minimum(a, b):
    return Minimum.apply(a, b)


class Clip(Function):
    """x limited to [min, max] (either bound may be None). The gradient passes where
    min <= x <= max, bounds included (as PyTorch's clamp)."""
    def forward(self, x, min, max):
        self.x, self.bounds = x, (min, max)
        if min is None and max is None:
            return x.copy()
        return xp_of(x).clip(x, min, max)

    def backward(self, grad):
        low, high = self.bounds
        inside = xp_of(grad).ones(self.x.shape, dtype=bool)
        if low is not None:
            inside &= self.x >= low
        if high is not None:
            inside &= self.x <= high
        return grad * inside


def clip(x, min=None, max=None):
    """x limited to [min, max]; the bounds are numbers (or None)."""
    return Clip.apply(x, min=_python_number(min), max=_python_number(max))


def _python_number(value):
    """numpy scalars as Python numbers, so that they take the tensor's dtype."""
    return value.item() if isinstance(value, np.generic) else value


clamp = clip


class Where(Function):
    def forward(self, cond, a, b):
        self.cond, self.shapes = cond.astype(bool, copy=False), (a.shape, b.shape)
        return xp_of(a).where(self.cond, a, b)

    def backward(self, grad):
        xp = xp_of(grad)
        zero = xp.zeros((), dtype=grad.dtype)
        da = unbroadcast(xp.where(self.cond, grad, zero), self.shapes[0]) if self.needs_grad[1] else None
        db = unbroadcast(xp.where(self.cond, zero, grad), self.shapes[1]) if self.needs_grad[2] else None
        return None, da, db


def where(cond, a, b):
    """a where cond is true, else b (all three broadcast); cond gets no gradient."""
    return Where.apply(cond, a, b)


class Compare(Function):
    """Comparisons give bool tensors that never require grad."""
    def forward(self, a, b, op):
        return getattr(xp_of(a), op)(a, b)


def lt(a, b): return Compare.apply(a, b, op="less")
def le(a, b): return Compare.apply(a, b, op="less_equal")
def gt(a, b): return Compare.apply(a, b, op="greater")
def ge(a, b): return Compare.apply(a, b, op="greater_equal")
def eq(a, b): return Compare.apply(a, b, op="equal")
def ne(a, b): return Compare.apply(a, b, op="not_equal")
