"""In-place ops: `w -= lr * w.grad`, add_, sub_, mul_, div_, zero_, fill_, copy_, clamp_,
masked_fill_, normal_, uniform_, t[index] = value, ...

Each returns the tensor itself, and acts in one of three ways, as PyTorch:

1. Outside any graph (under no_grad, or when neither the tensor nor an operand requires grad):
   the result is written into the tensor's own array, the same array object, so whatever holds
   it (an optimizer, a view) sees the change; a leaf stays the same leaf, `requires_grad` kept,
   and the next backward() works. The tensor's version counter goes up by one, so a backward
   that needs the old values refuses to run (PyTorch's "modified by an inplace operation").
2. On a leaf that requires grad, with grad mode on: refused with PyTorch's error (wrap the
   update in `with pyconv.no_grad():`).
3. Inside a graph (the tensor or an operand requires grad, grad mode on): computed out of place,
   and the tensor takes the result's new array and its grad_fn. Ops recorded before keep the
   old array and graph (each op records the grad_fn of its inputs), so gradients stay right.
   Unlike PyTorch, the new array is not written back into tensors this one is a view of.

The result must fit the tensor: broadcasting may not grow it, and a float result is refused for
an integer tensor (both PyTorch's errors); float64 into float32 is cast, as PyTorch does.
"""
import numpy as np

from .. import device as _device
from ..tensor import Tensor, _as_array, _may_share, is_grad_enabled, no_grad
from . import basic, shape

LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."


def _requires_grad(x):
    return isinstance(x, Tensor) and x.requires_grad


def _check_fits(t, result, casting):
    if tuple(result.shape) != tuple(t.shape):
        raise RuntimeError(f"output with shape {list(t.shape)} doesn't match the broadcast shape "
                           f"{list(result.shape)}")
    if not np.can_cast(result.dtype, t.dtype, casting):
        raise RuntimeError(f"result type {result.dtype} can't be cast to the desired output type {t.dtype}")


def _update(t, compute, *operands, casting="same_kind", write=None):
    """Store compute(t, *operands) into t as the module docstring says. `write(array)`, when
    given, does case 1 directly on t's array (no full-size temporary)."""
    if not isinstance(t, Tensor):
        raise TypeError(f"in-place op on {type(t).__name__}, not a Tensor")
    tracked = is_grad_enabled() and (t.requires_grad or any(_requires_grad(o) for o in operands))
    if tracked and t.is_leaf and t.requires_grad:
        raise RuntimeError(LEAF_ERROR + " Update parameters inside `with pyconv.no_grad():`.")
    if not tracked:
        if write is not None:
            write(t.data)
        else:
            with no_grad():
                result = compute(t, *operands)
            _check_fits(t, result, casting)
            t.data[...] = result.data
        t._version_cell[0] += 1
        return t
    result = compute(t, *operands)
    _check_fits(t, result, casting)
    if result.dtype != t.dtype:
        result = result.to(dtype=t.dtype)
    if any(isinstance(x, Tensor) and _may_share(result.data, x.data) for x in (t,) + operands):
        result = shape.clone(result)  # the tensor's new array must be its own
    _adopt(t, result)
    return t


def _adopt(t, result):
    """t becomes `result` (array, grad_fn, requires_grad, version counter); the count continues
    from t's, and the saved-version records of result's op move with it."""
    cell, shift = result._version_cell, t._version + 1 - result._version
    cell[0] += shift
    if result._ctx is not None:
        result._ctx.saved_versions = tuple((c, v + shift if c is cell else v, s, d)
                                           for c, v, s, d in result._ctx.saved_versions)
    t._data, t._ctx, t._requires_grad, t._version_cell = result.data, result._ctx, result.requires_grad, cell


def _operand(t, value):
    """A Tensor or array operand as a raw array on t's device; numbers as they are."""
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.ndarray) or _device.is_cupy_array(value):
        return _device.move(value, t.device)
    return value


# -- arithmetic -----------------------------------------------------------------------------------
def add_(t, other, alpha=1):
    return _update(t, lambda x, o: basic.add(x, o, alpha=alpha), other)


def sub_(t, other, alpha=1):
    return _update(t, lambda x, o: basic.sub(x, o, alpha=alpha), other)


def mul_(t, other):
    return _update(t, basic.mul, other)


def div_(t, other, rounding_mode=None):
    return _update(t, lambda x, o: basic.div(x, o, rounding_mode=rounding_mode), other)


def pow_(t, exponent):
    return _update(t, basic.pow, exponent)


def neg_(t): return _update(t, basic.neg)
def abs_(t): return _update(t, basic.abs)
def exp_(t): return _update(t, basic.exp)
def log_(t): return _update(t, basic.log)
def sqrt_(t): return _update(t, basic.sqrt)


def clamp_(t, min=None, max=None):
    return _update(t, lambda x: basic.clamp(x, min, max))


def _activation():
    from . import activation
    return activation


def relu_(t): return _update(t, lambda x: _activation().relu(x))
def sigmoid_(t): return _update(t, lambda x: _activation().sigmoid(x))
def tanh_(t): return _update(t, lambda x: _activation().tanh(x))


# -- filling ----------------------------------------------------------------------------------------
def masked_fill_(t, mask, value):
    def write(array):
        t.xp.copyto(array, _operand(t, value), where=_operand(t, mask), casting="unsafe")
    return _update(t, lambda x, v: basic.masked_fill(x, mask, v), value, write=write)


def fill_(t, value):
    """Every element set to `value` (a number or a one-element tensor)."""
    def write(array):
        array[...] = _operand(t, value)
    everywhere = Tensor(t.xp.ones((), dtype=bool))
    return _update(t, lambda x, v: basic.masked_fill(x, everywhere, v), value, write=write)


def zero_(t):
    return fill_(t, 0)


def copy_(t, src):
    """t's elements replaced by src's (broadcast to t's shape, cast to t's dtype and device);
    inside a graph the gradient flows to src."""
    if not isinstance(src, Tensor):
        src = Tensor(_as_array(src))

    def write(array):
        array[...] = _operand(t, src)
    return _update(t, lambda x, s: shape.expand(s.to(x.device, x.dtype), tuple(x.shape)), src,
                   casting="unsafe", write=write)


def scatter_(t, dim, index, src=None, value=None):
    src = value if src is None else src
    return _update(t, lambda x, s: shape.scatter(x, dim, index, s), src)


def scatter_add_(t, dim, index, src):
    return _update(t, lambda x, s: shape.scatter_add(x, dim, index, s), src)


def setitem(t, index, value):
    """t[index] = value: ints, slices, masks and integer arrays as in getitem."""
    def write(array):
        array[shape._index_arrays(index, t.xp, t.device)] = _operand(t, value)
    return _update(t, lambda x, v: shape.setitem(x, index, v), value, casting="unsafe", write=write)


def _random_(t, draw, generator):
    from ..creation import _generator
    values = draw(_generator(generator), tuple(t.shape)).astype(t.dtype, copy=False)
    return copy_(t, Tensor(_device.move(values, t.device)))


def normal_(t, mean=0.0, std=1.0, generator=None):
    """Filled with normal samples from pyconv's default generator (or `generator`)."""
    return _random_(t, lambda g, s: g.normal(mean, std, s), generator)


def uniform_(t, a=0.0, b=1.0, generator=None):
    """Filled with uniform samples on [a, b) from pyconv's default generator (or `generator`)."""
    return _random_(t, lambda g, s: g.uniform(a, b, s), generator)
