"""Elementwise ops, device and dtype moves, comparisons.

Binary ops broadcast as numpy does; each backward sums the gradient back to its input's shape
(`unbroadcast`). A Python number next to a tensor takes the tensor's dtype. All of them run on
the tensor's array module (numpy or cupy), so they work on both devices.

Type promotion follows PyTorch where it differs from numpy: an integer or bool tensor next to a
float tensor computes in that tensor's float dtype, and next to a Python float in float32;
true division and the float functions (exp, log, sqrt, ...) of integer tensors give float32.
"""
import numbers

import numpy as np

from .. import device as _device
from ..tensor import Function, Tensor, _as_array
from ._util import unbroadcast, xp_of

__all__ = ["to", "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide",
           "floor_divide", "remainder", "neg", "negative", "pow", "exp", "log", "log2", "log10",
           "log1p", "expm1", "sqrt", "rsqrt", "square", "reciprocal", "abs", "sign", "sin", "cos",
           "floor", "ceil", "round", "trunc", "maximum", "minimum", "clip", "clamp", "where",
           "masked_fill", "lt", "le", "gt", "ge", "eq", "ne", "less", "greater", "logical_and",
           "logical_or", "logical_xor", "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor",
           "bitwise_not", "isnan", "isinf", "isfinite", "isclose", "allclose", "equal", "is_tensor",
           "numel"]


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
    current = _device.device_of(x.data)
    device = current if device is None else _device.check_device(device)
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    if device == current and dtype == x.dtype:
        return x
    if device == "cuda":
        _device.array_module("cuda")  # the clear error when CuPy is missing
    return To.apply(x, device=device, dtype=dtype)


# -- type promotion ---------------------------------------------------------------------------
def _float_dtype(x):
    """The float dtype `x` brings to an op: its own for float tensors and arrays, float32 for
    Python and numpy floats (PyTorch's default dtype), None for everything else."""
    if isinstance(x, Tensor) or isinstance(x, np.ndarray) or _device.is_cupy_array(x):
        return x.dtype if x.dtype.kind == "f" else None
    if isinstance(x, (float, np.floating)):
        return np.dtype(np.float32)
    return None


def _to_float(x, dtype):
    """An integer/bool tensor or array as `dtype`; anything else unchanged."""
    if isinstance(x, Tensor) and x.dtype.kind in "biu":
        return to(x, dtype=dtype)
    if (isinstance(x, np.ndarray) or _device.is_cupy_array(x)) and x.dtype.kind in "biu":
        return x.astype(dtype)
    return x


def _promote(a, b):
    """a and b with an integer or bool tensor turned into the float dtype of the other operand."""
    if type(a) is Tensor and type(b) is Tensor and (a._data.dtype.kind == "f") == (b._data.dtype.kind == "f"):
        return a, b   # the common case: nothing to promote
    fa, fb = _float_dtype(a), _float_dtype(b)
    if fa is not None and fb is None:
        return a, _to_float(b, fa)
    if fb is not None and fa is None:
        return _to_float(a, fb), b
    return a, b


def _floating(x):
    """x as float32 when it is an integer or bool tensor (PyTorch's float functions of ints)."""
    if not isinstance(x, Tensor):
        x = Tensor(_as_array(x))
    return to(x, dtype=np.float32) if x.dtype.kind in "biu" else x


# -- arithmetic -------------------------------------------------------------------------------
class Add(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a + b

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(grad, self.shapes[1])


def add(input, other, *, alpha=1):
    """input + alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    return Add.apply(*_promote(input, other))


class Sub(Function):
    def forward(self, a, b):
        self.shapes = (a.shape, b.shape)
        return a - b

    def backward(self, grad):
        return unbroadcast(grad, self.shapes[0]), unbroadcast(-grad, self.shapes[1])


def sub(input, other, *, alpha=1):
    """input - alpha * other."""
    if alpha != 1:
        other = mul(other, alpha)
    return Sub.apply(*_promote(input, other))


subtract = sub


class Mul(Function):
    def forward(self, a, b):
        # each gradient needs the other operand: keep only those needed, so that an in-place
        # change of the rest does not stop backward (PyTorch saves the same)
        self.shapes = (a.shape, b.shape)
        self.a = a if self.needs_grad[1] else None
        self.b = b if self.needs_grad[0] else None
        return a * b

    def backward(self, grad):
        # BEGIN LAB 2: the gradients of a * b (None for an input that needs none), summed to each input's shape
        da = unbroadcast(grad * self.b, self.shapes[0]) if self.needs_grad[0] else None
        db = unbroadcast(grad * self.a, self.shapes[1]) if self.needs_grad[1] else None
        return da, db
        # END LAB 2


def mul(input, other):
    return Mul.apply(*_promote(input, other))


multiply = mul


class Div(Function):
    def forward(self, a, b):
        self.shapes, self.b = (a.shape, b.shape), b
        self.a = a if self.needs_grad[1] else None  # only b's gradient needs a
        return a / b

    def backward(self, grad):
        # BEGIN LAB 2: the gradients of a / b (None for an input that needs none), summed to each input's shape
        a, b = self.a, self.b
        da = unbroadcast(grad / b, self.shapes[0]) if self.needs_grad[0] else None
        db = unbroadcast(-grad * a / (b * b), self.shapes[1]) if self.needs_grad[1] else None
        return da, db
        # END LAB 2


def div(input, other, *, rounding_mode=None):
    """input / other. Integer tensors divide in float32 (PyTorch's true division);
    rounding_mode "floor" or "trunc" rounds the quotient (and keeps integer dtypes)."""
    if rounding_mode == "floor":
        return floor_divide(input, other)
    if rounding_mode == "trunc":
        return Rounding.apply(*_promote(input, other), op="trunc_divide")
    if rounding_mode is not None:
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")
    a, b = _promote(input, other)
    if _float_dtype(a) is None and _float_dtype(b) is None:
        a, b = _promote(_floating(a), b)
    return Div.apply(a, b)


divide = true_divide = div


class Rounding(Function):
    """Piecewise-constant results (floor, ceil, round, trunc, sign, floor division): their
    gradient is zero almost everywhere, and zero is what PyTorch gives."""
    def forward(self, *arrays, op, **params):
        self.shapes = [a.shape for a in arrays]
        xp = xp_of(arrays[0])
        if op == "trunc_divide":
            a, b = arrays
            quotient = xp.trunc(a / b) if a.dtype.kind == "f" or b.dtype.kind == "f" else \
                xp.sign(a) * xp.sign(b) * (xp.abs(a) // xp.abs(b))
            return quotient.astype(xp.result_type(a, b), copy=False)
        return getattr(xp, op)(*arrays, **params)

    def backward(self, grad):
        xp = xp_of(grad)
        zeros = tuple(xp.zeros(s, dtype=grad.dtype) if need else None
                      for s, need in zip(self.shapes, self.needs_grad))
        return zeros if len(zeros) > 1 else zeros[0]


def floor_divide(input, other):
    """floor(input / other), as Python's //."""
    return Rounding.apply(*_promote(input, other), op="floor_divide")


def floor(x): return Rounding.apply(x, op="floor")
def ceil(x): return Rounding.apply(x, op="ceil")
def trunc(x): return Rounding.apply(x, op="trunc")
def sign(x): return Rounding.apply(x, op="sign")


def round(x, decimals=0):
    """Round half to even (as PyTorch and numpy)."""
    return Rounding.apply(x, op="round", decimals=decimals)


class Remainder(Function):
    """a - floor(a / b) * b: the sign of b, as Python's % and torch.remainder."""
    def forward(self, a, b):
        self.a, self.b = a, b
        return xp_of(a).remainder(a, b)

    def backward(self, grad):
        da = unbroadcast(grad, self.a.shape) if self.needs_grad[0] else None
        db = None
        if self.needs_grad[1]:
            db = unbroadcast(-grad * xp_of(grad).floor(self.a / self.b), self.b.shape)
        return da, db


def remainder(input, other):
    return Remainder.apply(*_promote(input, other))


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, grad):
        return -grad


def neg(x):
    return Neg.apply(x)


negative = neg


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


def pow(input, exponent):
    """input ** exponent: tensor ** number, tensor ** tensor or number ** tensor."""
    input, exponent = _promote(input, exponent)
    if isinstance(input, Tensor) and isinstance(exponent, numbers.Real) and not isinstance(exponent, bool):
        return PowScalar.apply(input, p=_python_number(exponent))
    return Pow.apply(input, exponent)


# -- unary float functions ------------------------------------------------------------------
class Exp(Function):
    def forward(self, x):
        self.out = xp_of(x).exp(x)
        return self.out

    def backward(self, grad):
        return grad * self.out


def exp(x):
    return Exp.apply(_floating(x))


class Expm1(Function):
    def forward(self, x):
        self.out = xp_of(x).expm1(x)
        return self.out

    def backward(self, grad):
        return grad * (self.out + 1)


def expm1(x):
    """exp(x) - 1, accurate for small x."""
    return Expm1.apply(_floating(x))


class Log(Function):
    """Natural logarithm; `base` scales it: log_b(x) = ln(x) / ln(b)."""
    def forward(self, x, base):
        self.x, self.scale = x, 1.0 if base is None else float(np.log(base))
        out = xp_of(x).log(x)
        return out if base is None else out / x.dtype.type(self.scale)

    def backward(self, grad):
        return grad / (self.x * self.x.dtype.type(self.scale))


def log(x):
    return Log.apply(_floating(x), base=None)


def log2(x):
    return Log.apply(_floating(x), base=2)


def log10(x):
    return Log.apply(_floating(x), base=10)


class Log1p(Function):
    def forward(self, x):
        self.x = x
        return xp_of(x).log1p(x)

    def backward(self, grad):
        return grad / (self.x + 1)


def log1p(x):
    """log(1 + x), accurate for small x."""
    return Log1p.apply(_floating(x))


class Sqrt(Function):
    def forward(self, x):
        self.out = xp_of(x).sqrt(x)
        return self.out

    def backward(self, grad):
        return grad / (self.out * 2)


def sqrt(x):
    return Sqrt.apply(_floating(x))


def rsqrt(x):
    """1 / sqrt(x)."""
    return PowScalar.apply(_floating(x), p=-0.5)


def square(x):
    return PowScalar.apply(x, p=2)


def reciprocal(x):
    """1 / x (float32 for integer tensors)."""
    return PowScalar.apply(_floating(x), p=-1)


class Sin(Function):
    def forward(self, x):
        self.x = x
        return xp_of(x).sin(x)

    def backward(self, grad):
        return grad * xp_of(grad).cos(self.x)


def sin(x):
    return Sin.apply(_floating(x))


class Cos(Function):
    def forward(self, x):
        self.x = x
        return xp_of(x).cos(x)

    def backward(self, grad):
        return -grad * xp_of(grad).sin(self.x)


def cos(x):
    return Cos.apply(_floating(x))


class Abs(Function):
    """|x|; the gradient at 0 is 0 (as PyTorch)."""
    def forward(self, x):
        self.x = x
        return xp_of(x).abs(x)

    def backward(self, grad):
        return grad * xp_of(grad).sign(self.x)


def abs(x):
    return Abs.apply(x)


# -- two-tensor selections ----------------------------------------------------------------------
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


def maximum(input, other):
    return Maximum.apply(*_promote(input, other))


def minimum(input, other):
    return Minimum.apply(*_promote(input, other))


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


def clip(input, min=None, max=None):
    """input limited to [min, max]. Number bounds take the tensor's dtype; tensor bounds
    broadcast (computed as maximum/minimum, so ties split the gradient)."""
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        out = input if min is None else maximum(input, min)
        return out if max is None else minimum(out, max)
    if isinstance(input, Tensor) and input.dtype.kind in "iu" and \
            any(isinstance(v, (float, np.floating)) for v in (min, max)):
        input = to(input, dtype=np.float32)
    return Clip.apply(input, min=_python_number(min), max=_python_number(max))


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


def where(condition, input=None, other=None):
    """input where condition is true, else other (all three broadcast); the condition gets no
    gradient. `where(condition)` alone is `nonzero(condition, as_tuple=True)`."""
    if input is None and other is None:
        from .reduce import nonzero
        return nonzero(condition, as_tuple=True)
    return Where.apply(condition, *_promote(input, other))


def masked_fill(input, mask, value):
    """input with `value` where `mask` (a bool tensor broadcasting to input) is true."""
    value = _python_number(value)
    if not isinstance(value, Tensor):
        value = Tensor(input.xp.asarray(value, dtype=input.dtype))
    return Where.apply(mask, value.to(dtype=input.dtype), input)


# -- comparisons and logic ----------------------------------------------------------------------
class Compare(Function):
    """Comparisons, logic and tests give bool (or integer) tensors that never require grad."""
    def forward(self, *arrays, op):
        return getattr(xp_of(arrays[0]), op)(*arrays)


def lt(input, other): return Compare.apply(input, other, op="less")
def le(input, other): return Compare.apply(input, other, op="less_equal")
def gt(input, other): return Compare.apply(input, other, op="greater")
def ge(input, other): return Compare.apply(input, other, op="greater_equal")
def eq(input, other): return Compare.apply(input, other, op="equal")
def ne(input, other): return Compare.apply(input, other, op="not_equal")


less, greater = lt, gt


def logical_and(input, other): return Compare.apply(input, other, op="logical_and")
def logical_or(input, other): return Compare.apply(input, other, op="logical_or")
def logical_xor(input, other): return Compare.apply(input, other, op="logical_xor")
def logical_not(input): return Compare.apply(input, op="logical_not")
def bitwise_and(input, other): return Compare.apply(input, other, op="bitwise_and")
def bitwise_or(input, other): return Compare.apply(input, other, op="bitwise_or")
def bitwise_xor(input, other): return Compare.apply(input, other, op="bitwise_xor")
def bitwise_not(input): return Compare.apply(input, op="invert")
def isnan(input): return Compare.apply(input, op="isnan")
def isinf(input): return Compare.apply(input, op="isinf")
def isfinite(input): return Compare.apply(input, op="isfinite")


def isclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """|input - other| <= atol + rtol * |other|, elementwise (a bool tensor)."""
    a, b = (x if isinstance(x, Tensor) else Tensor(_as_array(x)) for x in (input, other))
    return Tensor(a.xp.isclose(a.data, b.data, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element is close (see isclose): a Python bool."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def equal(input, other):
    """True when both have the same shape and the same elements: a Python bool."""
    return tuple(input.shape) == tuple(other.shape) and bool((input == other).data.all())


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()
