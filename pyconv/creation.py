"""Tensors made from nothing: zeros, ones, full, empty, eye, arange, linspace, logspace,
random numbers; and tensors over existing data: from_numpy, as_tensor.

Every function takes `dtype` (float32 when None, PyTorch's default; `full` and `arange` infer
it from their numbers), `device` ("cpu" or "cuda") and `requires_grad`. Sizes are given as
PyTorch's: `zeros(2, 3)`, `zeros((2, 3))` or `zeros(size=(2, 3))`. Random tensors take
`generator`: a `numpy.random.Generator` (or `pyconv.Generator`), an int seed, or None (pyconv's
global generator, which `manual_seed` seeds). They are drawn on the host and then copied to the
device, so one seed gives the same numbers on every device.
"""
import numbers

import numpy as np

from . import device as _device
from . import random as _random
from .tensor import Tensor, _as_array

__all__ = ["zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like",
           "eye", "arange", "linspace", "logspace", "rand", "randn", "randint", "randperm", "normal",
           "rand_like", "randn_like", "randint_like", "bernoulli", "multinomial", "from_numpy",
           "as_tensor", "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor",
           "ShortTensor", "ByteTensor", "BoolTensor", "manual_seed", "default_generator"]


def _shape(shape, size=None):
    """zeros(2, 3), zeros((2, 3)) and zeros(size=(2, 3)) alike."""
    if size is not None:
        if shape:
            raise TypeError("give the sizes as arguments or as size=, not both")
        shape = (size,)
    if len(shape) == 1 and not isinstance(shape[0], numbers.Integral):
        return tuple(shape[0])
    return tuple(shape)


def _dtype(dtype, default=np.float32):
    return np.dtype(default if dtype is None else dtype)


def _device_of(device):
    return "cpu" if device is None else device


def _make(fill, shape, dtype, device, requires_grad):
    xp = _device.array_module(_device_of(device))
    return Tensor(fill(xp, shape, _dtype(dtype)), requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False, size=None):
    return _make(lambda xp, s, d: xp.zeros(s, d), _shape(shape, size), dtype,
                 device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False, size=None):
    return _make(lambda xp, s, d: xp.ones(s, d), _shape(shape, size), dtype,
                 device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False, size=None):
    """As zeros: PyTorch leaves the memory uninitialised; pyconv zeroes it."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad, size=size)


def _fill_dtype(value):
    """PyTorch's dtype for full(size, value): bool, int64 or float32 after the value."""
    if isinstance(value, (bool, np.bool_)):
        return np.bool_
    if isinstance(value, numbers.Integral):
        return np.int64
    return np.float32


def full(size, fill_value, dtype=None, device=None, requires_grad=False):
    """`size` filled with `fill_value`; dtype after the value when not given (as PyTorch)."""
    size = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    dtype = _fill_dtype(fill_value) if dtype is None else dtype
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), size, dtype, device, requires_grad)


def _like(x, dtype, device):
    return (x.dtype if dtype is None else dtype), (x.device if device is None else device)


def zeros_like(input, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return zeros(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(input, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return ones(input.shape, dtype=dtype, device=device, requires_grad=requires_grad)


def empty_like(input, dtype=None, device=None, requires_grad=False):
    return zeros_like(input, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return full(input.shape, fill_value, dtype=dtype, device=device, requires_grad=requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False):
    """The n x m identity (m defaults to n)."""
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), None, dtype, device, requires_grad)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False, stop=None):
    """start, start+step, ... below end. int64 when all arguments are ints, else float32."""
    end = stop if end is None else end
    if end is None:
        start, end = 0, start
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = np.int64 if ints else np.float32
    return _make(lambda xp, s, d: xp.arange(start, end, step, dtype=d), None, dtype, device,
                 requires_grad)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """`steps` evenly spaced values from start to end, both included."""
    return _make(lambda xp, s, d: xp.linspace(start, end, steps, dtype=np.float64).astype(d), None,
                 dtype, device, requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype=None, device=None, requires_grad=False):
    """base ** linspace(start, end, steps)."""
    return _make(lambda xp, s, d: xp.logspace(start, end, steps, base=base, dtype=np.float64).astype(d),
                 None, dtype, device, requires_grad)


class _TypedTensorMeta(type):
    """isinstance(t, FloatTensor) holds for the tensors of that dtype (PyTorch's legacy types)."""
    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


class _TypedTensor(metaclass=_TypedTensorMeta):
    """PyTorch's legacy constructors: FloatTensor([1, 2]), LongTensor(3, 4) (zeros), ... make
    Tensors of one dtype; `t.type(FloatTensor)` converts to it."""
    dtype = None

    def __new__(cls, *args, device=None):
        if len(args) == 1 and isinstance(args[0], Tensor):
            return args[0].to(dtype=cls.dtype)
        return Tensor(*args, dtype=cls.dtype, device=device)


def _typed(name, dtype):
    namespace = {"dtype": np.dtype(dtype), "__doc__": _TypedTensor.__doc__}
    return _TypedTensorMeta(name, (_TypedTensor,), namespace)


FloatTensor = _typed("FloatTensor", np.float32)
DoubleTensor = _typed("DoubleTensor", np.float64)
HalfTensor = _typed("HalfTensor", np.float16)
LongTensor = _typed("LongTensor", np.int64)
IntTensor = _typed("IntTensor", np.int32)
ShortTensor = _typed("ShortTensor", np.int16)
ByteTensor = _typed("ByteTensor", np.uint8)
BoolTensor = _typed("BoolTensor", np.bool_)


def from_numpy(ndarray):
    """A tensor over the numpy array itself: changes to either show in the other."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy expects a numpy.ndarray, got {type(ndarray).__name__}")
    return Tensor(ndarray)


def as_tensor(data, dtype=None, device=None):
    """`data` as a tensor, sharing its memory when dtype and device allow (a Tensor comes back
    as itself, an array is wrapped); Python data is copied as by `tensor`."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dtype)
    device = ("cuda" if _device.is_cupy_array(data) else "cpu") if device is None else device
    return Tensor(_as_array(data, dtype, device))


def manual_seed(seed):
    """Seed pyconv's one global generator (every random draw: see pyconv/random.py); returns it."""
    return _random.manual_seed(seed)


def default_generator():
    """The global Generator used when no `generator=` is given."""
    return _random.default_generator()


def _generator(generator):
    return _random.generator_from(generator)


def rand(*shape, generator=None, dtype=None, device=None, requires_grad=False, size=None):
    """Uniform on [0, 1)."""
    values = _generator(generator).random(_shape(shape, size))
    return _random_tensor(values, dtype, device, requires_grad)


def randn(*shape, generator=None, dtype=None, device=None, requires_grad=False, size=None):
    """Standard normal."""
    values = _generator(generator).standard_normal(_shape(shape, size))
    return _random_tensor(values, dtype, device, requires_grad)


def _random_tensor(values, dtype, device, requires_grad, default=np.float32):
    values = np.asarray(values).astype(_dtype(dtype, default), copy=False)
    return Tensor(_device.move(values, _device_of(device)), requires_grad=requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, dtype=None, device=None,
            requires_grad=False):
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size);
    int64 unless `dtype` says otherwise."""
    if size is None:
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    values = _generator(generator).integers(low, high, _shape((size,)))
    return _random_tensor(values, dtype, device, requires_grad, default=np.int64)


def randperm(n, *, generator=None, dtype=None, device=None, requires_grad=False):
    """A random permutation of 0 .. n-1 (int64)."""
    return _random_tensor(_generator(generator).permutation(n), dtype, device, requires_grad,
                          default=np.int64)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, device=None,
           requires_grad=False):
    """Normal samples: numbers mean and std with `size`, or tensors of means and deviations
    (broadcast together), one sample each."""
    means, stds = (x.numpy() if isinstance(x, Tensor) else x for x in (mean, std))
    shape = np.broadcast_shapes(np.shape(means), np.shape(stds)) if size is None else _shape((size,))
    like = mean if isinstance(mean, Tensor) else std if isinstance(std, Tensor) else None
    if like is not None:
        dtype = like.dtype if dtype is None else dtype
        device = like.device if device is None else device
    values = _generator(generator).normal(means, stds, shape)
    return _random_tensor(values, dtype, device, requires_grad)


def rand_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return rand(input.shape, generator=generator, dtype=dtype, device=device, requires_grad=requires_grad)


def randn_like(input, *, generator=None, dtype=None, device=None, requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return randn(input.shape, generator=generator, dtype=dtype, device=device, requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, generator=None, dtype=None, device=None,
                 requires_grad=False):
    dtype, device = _like(input, dtype, device)
    return randint(low, high, tuple(input.shape), generator=generator, dtype=dtype, device=device,
                   requires_grad=requires_grad)


def bernoulli(input, p=None, *, generator=None):
    """1 with probability `input` (or `p`) per element, else 0; input's dtype and device."""
    probs = input.numpy() if p is None else np.broadcast_to(p, tuple(input.shape))
    values = _generator(generator).random(tuple(input.shape)) < probs
    return _random_tensor(values, input.dtype, input.device, False)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """`num_samples` indices drawn per row of the (1-d or 2-d) weights `input` (int64)."""
    weights = input.numpy().astype(np.float64)
    rows = weights.reshape(-1, weights.shape[-1])
    rng = _generator(generator)
    drawn = np.stack([rng.choice(len(w), num_samples, replace=replacement, p=w / w.sum()) for w in rows])
    return _random_tensor(drawn.reshape(weights.shape[:-1] + (num_samples,)), None, input.device, False,
                          default=np.int64)
