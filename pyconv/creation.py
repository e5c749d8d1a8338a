"""Tensors made from nothing: zeros, ones, full, eye, arange, random numbers.

Every function takes `dtype` (float32 unless said otherwise), `device` ("cpu" or "cuda") and
`requires_grad`. Random tensors take `generator`: a `numpy.random.Generator`, an int seed, or
None (numpy's fresh entropy). They are drawn on the host and then copied to the device, so one
seed gives the same numbers on every device.
"""
import numpy as np

from . import device as _device
from . import random as _random
from .tensor import Tensor

__all__ = ["zeros", "ones", "full", "zeros_like", "ones_like", "full_like", "eye", "arange",
           "rand", "randn", "manual_seed", "default_generator"]


def _shape(shape):
    """zeros(2, 3) and zeros((2, 3)) alike."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(fill, shape, dtype, device, requires_grad):
    xp = _device.array_module(device)
    return Tensor(fill(xp, shape, np.dtype(dtype)), requires_grad=requires_grad)


def zeros(*shape, dtype=np.float32, device="cpu", requires_grad=False):
    return _make(lambda xp, s, d: xp.zeros(s, d), _shape(shape), dtype, device, requires_grad)


def ones(*shape, dtype=np.float32, device="cpu", requires_grad=False):
    return _make(lambda xp, s, d: xp.ones(s, d), _shape(shape), dtype, device, requires_grad)


def full(shape, value, dtype=np.float32, device="cpu", requires_grad=False):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _make(lambda xp, s, d: xp.full(s, value, d), shape, dtype, device, requires_grad)


def zeros_like(x, dtype=None, device=None, requires_grad=False):
    return zeros(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def ones_like(x, dtype=None, device=None, requires_grad=False):
    return ones(x.shape, dtype=dtype or x.dtype, device=device or x.device, requires_grad=requires_grad)


def full_like(x, value, dtype=None, device=None, requires_grad=False):
    return full(x.shape, value, dtype=dtype or x.dtype, device=device or x.device,
                requires_grad=requires_grad)


def eye(n, m=None, dtype=np.float32, device="cpu", requires_grad=False):
    """The n x m identity (m defaults to n)."""
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), None, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device="cpu", requires_grad=False):
    """start, start+step, ... below stop. int64 when all arguments are ints, else float32."""
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, stop, step))
        dtype = np.int64 if ints else np.float32
    return _make(lambda xp, s, d: xp.arange(start, stop, step, dtype=d), None, dtype, device,
                 requires_grad)


def manual_seed(seed):
    """Seed pyconv's one global generator (every random draw: see pyconv/random.py); returns it."""
    return _random.manual_seed(seed)


def default_generator():
    """The global Generator used when no `generator=` is given."""
    return _random.default_generator()


def _generator(generator):
    return _random.generator_from(generator)


def rand(*shape, generator=None, dtype=np.float32, device="cpu", requires_grad=False):
    """Uniform on [0, 1)."""
    values = _generator(generator).random(_shape(shape)).astype(dtype)
    return Tensor(_device.move(values, device), requires_grad=requires_grad)


def randn(*shape, generator=None, dtype=np.float32, device="cpu", requires_grad=False):
    """Standard normal."""
    values = _generator(generator).standard_normal(_shape(shape)).astype(dtype)
    return Tensor(_device.move(values, device), requires_grad=requires_grad)
