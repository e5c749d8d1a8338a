"""Tensor: an n-d array that records the ops made on it, and backward() through them.

A Tensor wraps a numpy array (device "cpu") or a CuPy array (device "cuda") in `.data`.
Every differentiable op is a `Function` subclass (see `pyconv/ops/`): `forward` computes on raw
arrays and saves what `backward` needs; `backward` maps the output's gradient to one gradient
per input, also raw arrays. `Function.apply` wraps the result in a Tensor that remembers its op
(`grad_fn`), so `Tensor.backward()` can sort the graph once and walk it in reverse.

The graph is made of Functions: each one records, for every input, the Function that had made
that input at the time (or none for a leaf). An in-place op that gives a tensor a new
`grad_fn` therefore leaves the ops recorded before it untouched, as in PyTorch.

Gradients accumulate into `.grad` (a Tensor) across backward() calls, as in PyTorch: call
`zero_grad()` (or set `.grad = None`, or `.grad.zero_()`) between steps. Only leaves (tensors
made by the user, not by an op) receive `.grad`, and non-leaves after `retain_grad()`. The
graph is kept after backward(), so it may be called again (`retain_graph` is accepted and
needs not be given).

Version counters: every tensor counts the in-place ops made on it (`_version`); views (the
results of reshape, permute, indexing with slices, detach, ...) share the counter of the
tensor they view. An op records the versions of the tensors whose arrays it saved for
backward; backward refuses to run with arrays changed since (PyTorch's error).

Dtypes: Python data becomes float32 (integers stay int64, bools bool) with `pyconv.tensor`;
`Tensor(python data)` is always float32 (PyTorch's legacy constructor); numpy arrays keep their
dtype. A Python number in an op takes the tensor's dtype (float32 tensor * 2.0 is float32).
Two tensors of different float dtypes promote as numpy does; each input's gradient comes back
in that input's own dtype.

Differences from PyTorch: `.data` is the raw numpy/CuPy array, not a Tensor (assigning a
Tensor to it stores its array); `numpy()` works on tensors that require grad; higher-order
gradients (`create_graph=True`) are not supported.
"""
import functools
import math
import numbers
import sys
import threading

import numpy as np

from . import device as _device

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode):
    _state.grad_enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode to `self.enabled` within it."""
    enabled = True

    def __new__(cls, func=None, *args, **kwargs):
        if callable(func):  # used as @no_grad, without parentheses
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        self._previous = []

    def __enter__(self):
        self._previous.append(is_grad_enabled())
        _set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():  # a fresh instance per call: recursion and threads stay apart
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Within this block (or decorated function) ops record no graph: inference, and
    optimizer updates such as `w -= lr * w.grad`."""
    enabled = False


class enable_grad(_GradMode):
    """Within this block ops record the graph again (inside a no_grad block)."""
    enabled = True


class inference_mode(_GradMode):
    """As no_grad (pyconv has no separate inference mode); `inference_mode(False)` records."""
    def __init__(self, mode=True):
        super().__init__()
        self.enabled = not mode

    def __call__(self, func):
        mode = not self.enabled

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return func(*args, **kwargs)
        return wrapper


class set_grad_enabled:
    """`set_grad_enabled(False)` turns recording off now; used with `with`, it restores the
    previous mode at the end of the block."""

    def __init__(self, mode):
        self._previous = is_grad_enabled()
        _set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous)
        return False


def _is_float(dtype):
    return np.dtype(dtype).kind == "f"


def _is_array(obj):
    return isinstance(obj, np.ndarray) or (not isinstance(obj, (tuple, numbers.Number, str))
                                           and _device.is_cupy_array(obj))


def _may_share(a, b):
    """Whether arrays a and b may overlap in memory (bounds only: cheap, never false negative)."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.may_share_memory(a, b)
    return _device.is_cupy_array(b) and sys.modules["cupy"].may_share_memory(a, b)


def _as_array(data, dtype=None, device="cpu", copy=False):
    """Raw array from Python data, numpy/cupy arrays (or numpy scalars) or Tensors.

    Python data becomes float32 unless it is all integers/bools (then int64/bool) or a dtype
    is given; arrays and numpy scalars keep their dtype. With `copy=True` the result never
    shares memory with `data`.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.generic):
        data = np.asarray(data)
    if isinstance(data, np.ndarray) or _device.is_cupy_array(data):
        array = data
    else:
        array = np.asarray(data)
        copy = False  # already a fresh array
        if dtype is None and array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif dtype is None and array.dtype.kind not in "biuf":
            raise TypeError(f"cannot make a tensor from {type(data).__name__} of dtype {array.dtype}")
    if dtype is not None and array.dtype != np.dtype(dtype):
        array, copy = array.astype(dtype), False
    moved = _device.move(array, device)
    if copy and moved is array:
        moved = moved.copy()
    return moved


def _scalar_dtype(value, like):
    """Dtype a Python number takes next to an array of dtype `like` (PyTorch's rule)."""
    like = np.dtype(like)
    if isinstance(value, bool) or like.kind == "f":
        return like
    if isinstance(value, numbers.Integral):
        return like if like.kind in "iu" else np.dtype(np.int64)
    return np.dtype(np.float32)  # a float next to an integer/bool tensor


class Size(tuple):
    """A shape (PyTorch's torch.Size): a tuple of ints with `numel()`; prints as a tuple."""

    def numel(self):
        return math.prod(self)

    def __getitem__(self, index):
        item = super().__getitem__(index)
        return Size(item) if isinstance(index, slice) else item


def _is_size_int(value):
    return type(value) is int


def _constructor_data(args, dtype):
    """What `Tensor(*args)` holds, as PyTorch's legacy constructor: an array or a Tensor is
    wrapped as it is; Python data becomes float32 (unless `dtype` says otherwise); ints or a
    Size give zeros of that shape (PyTorch leaves them uninitialised); nothing gives shape (0,).
    """
    if len(args) == 1 and not isinstance(args[0], Size) and not _is_size_int(args[0]):
        data = args[0]
        if isinstance(data, (Tensor, np.ndarray, np.generic)) or _device.is_cupy_array(data):
            return data, dtype
        return data, (np.float32 if dtype is None else dtype)
    shape = tuple(args[0]) if len(args) == 1 and isinstance(args[0], Size) else args or (0,)
    if not all(_is_size_int(n) for n in shape):
        raise TypeError(f"Tensor() takes data (a list, a number, an array) or sizes (ints), got "
                        f"{', '.join(type(a).__name__ for a in args)}")
    return np.zeros(shape, np.float32 if dtype is None else dtype), None


class Tensor:
    """n-d array with reverse-mode autograd. Build with `pyconv.tensor(...)`.

    `Tensor(array)` wraps an array without copying; `Tensor([1, 2])` (Python data) copies it
    into float32; `Tensor(2, 3)` is a 2x3 float32 tensor of zeros. `pyconv.tensor(data)`
    copies and keeps integer data integer.
    """

    __array_ufunc__ = None  # numpy defers to our operators: np.float64(2) * t calls t.__rmul__
    __hash__ = object.__hash__  # == is elementwise, yet tensors stay usable as dict keys

    def __init__(self, *args, requires_grad=False, dtype=None, device=None):
        if len(args) == 1 and type(args[0]) is np.ndarray and dtype is None and device is None:
            self._data = args[0]  # the common case (every op's result), made quick
        else:
            data, dtype = _constructor_data(args, dtype)
            if device is None:
                device = "cuda" if _device.is_cupy_array(data) or \
                    (isinstance(data, Tensor) and data.device == "cuda") else "cpu"
            self._data = _as_array(data, dtype, device)
        self.grad = None
        self._ctx = None  # the Function that made this tensor, if it tracks gradients
        self._version_cell = [0]  # shared with the tensors this one views (see Function.apply)
        self.requires_grad = bool(requires_grad)

    # -- attributes -----------------------------------------------------------------------
    @property
    def data(self):
        """The raw numpy or CuPy array (not a Tensor, unlike PyTorch's `.data`)."""
        return self._data

    @data.setter
    def data(self, value):
        self._data = value.data if isinstance(value, Tensor) else \
            value if _is_array(value) else _as_array(value, None, self.device)

    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and not _is_float(self._data.dtype):
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self._data.dtype}")
        self._requires_grad = bool(value)

    @property
    def _version(self):
        """How many in-place ops changed this tensor's array (or an array it shares as a view)."""
        return self._version_cell[0]

    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        """The shape (a Size), or the length of axis `dim` (negative counts from the end)."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_axis(dim, self.ndim)]

    @property
    def dtype(self):
        return self._data.dtype

    @property
    def ndim(self):
        return self._data.ndim

    def dim(self):
        return self._data.ndim

    def numel(self):
        return int(self._data.size)

    nelement = numel

    def element_size(self):
        return self._data.dtype.itemsize

    @property
    def device(self):
        """Where the data lives: pyconv.device("cpu") or ("cuda"), which equal the strings."""
        name = _device.device_of(self._data)
        if name not in _DEVICE_OBJECTS:
            _DEVICE_OBJECTS[name] = _device.Device(name)
        return _DEVICE_OBJECTS[name]

    @property
    def is_cuda(self):
        return _device.device_of(self._data) == "cuda"

    @property
    def xp(self):
        """The array module of this tensor's data: numpy or cupy."""
        return _device.array_module(_device.device_of(self._data))

    @property
    def is_leaf(self):
        return self._ctx is None

    @property
    def grad_fn(self):
        """The Function that made this tensor (None for a leaf)."""
        return self._ctx

    def is_floating_point(self):
        return _is_float(self.dtype)

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __contains__(self, value):
        return bool((self == value).any())

    def __bool__(self):
        if self.numel() != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.numel() != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, got "
                            f"dtype {self.dtype} shape {self.shape}")
        return int(self.item())

    def __format__(self, spec):
        """f"{loss:.4f}" formats the number of a one-element tensor (as PyTorch's 0-d ones)."""
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(str(self), spec)

    def __repr__(self):
        if self._ctx is not None:
            tail = f", grad_fn=<{self._ctx.name()}>"
        else:
            tail = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{tail})"

    # -- conversion -----------------------------------------------------------------------
    def numpy(self, force=False):
        """The data as a numpy array (copied from the GPU for CUDA tensors; shared on the CPU)."""
        return _device.move(self._data, "cpu")

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t) for CPU tensors; a CUDA tensor must be copied explicitly (.numpy())."""
        if self.device != "cpu":
            raise TypeError("np.asarray() of a CUDA tensor: copy it to the host with .numpy() or .cpu()")
        array = self._data if dtype is None else self._data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A tensor sharing this data (and its version counter), cut from the graph."""
        out = Tensor(self._data)
        out._version_cell = self._version_cell
        return out

    def detach_(self):
        """Cut this tensor from the graph: it becomes a leaf that does not require grad."""
        self._ctx = None
        self._requires_grad = False
        return self

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        """`to(dtype)`, `to(device)`, `to(device, dtype)`, `to(other_tensor)` (its device and
        dtype), or keywords. Returns self when nothing changes (unless copy=True); otherwise a
        copy whose gradient goes back to the source device and dtype."""
        for arg in args:
            if isinstance(arg, Tensor):
                device, dtype = arg.device, arg.dtype
            elif _dtype_or_none(arg) is not None:
                dtype = arg
            else:
                device = arg
        out = ops.to(self, device=device, dtype=dtype)
        return out.clone() if copy and out is self else out

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None, non_blocking=False):
        return self.to("cuda")

    def float(self): return self.to(dtype=np.float32)
    def double(self): return self.to(dtype=np.float64)
    def half(self): return self.to(dtype=np.float16)
    def long(self): return self.to(dtype=np.int64)
    def int(self): return self.to(dtype=np.int32)
    def short(self): return self.to(dtype=np.int16)
    def byte(self): return self.to(dtype=np.uint8)
    def bool(self): return self.to(dtype=np.bool_)
    def astype(self, dtype): return self.to(dtype=dtype)
    def type_as(self, other): return self.to(dtype=other.dtype)

    def type(self, dtype=None):
        """Without an argument, the type's name ("pyconv.FloatTensor"); with a dtype, `to(dtype)`."""
        if dtype is not None:
            return self.to(dtype=getattr(dtype, "dtype", dtype))  # a dtype, or FloatTensor & co
        kind = _TYPE_NAMES.get(self.dtype.name, self.dtype.name.capitalize())
        return f"pyconv.{'cuda.' if self.is_cuda else ''}{kind}Tensor"

    def zero_grad(self):
        self.grad = None

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    def retain_grad(self):
        """Keep this non-leaf's gradient in `.grad` during backward() (leaves always keep it)."""
        if self._ctx is not None:
            self._ctx.retained = self
        return self

    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        return tensor(data, dtype=self.dtype if dtype is None else dtype,
                      device=self.device if device is None else device, requires_grad=requires_grad)

    def new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(creation.zeros, size, dtype, device, requires_grad)

    def new_ones(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(creation.ones, size, dtype, device, requires_grad)

    def new_empty(self, *size, dtype=None, device=None, requires_grad=False):
        return self._new(creation.empty, size, dtype, device, requires_grad)

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False):
        return creation.full(size, fill_value, dtype=self.dtype if dtype is None else dtype,
                             device=self.device if device is None else device, requires_grad=requires_grad)

    def _new(self, make, size, dtype, device, requires_grad):
        return make(*size, dtype=self.dtype if dtype is None else dtype,
                    device=self.device if device is None else device, requires_grad=requires_grad)

    # -- operators (the ops live in pyconv/ops; these forward to them) ----------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __floordiv__(self, other): return ops.floor_divide(self, other)
    def __rfloordiv__(self, other): return ops.floor_divide(other, self)
    def __mod__(self, other): return ops.remainder(self, other)
    def __rmod__(self, other): return ops.remainder(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __invert__(self): return ops.bitwise_not(self)
    def __and__(self, other): return ops.bitwise_and(self, other)
    def __rand__(self, other): return ops.bitwise_and(other, self)
    def __or__(self, other): return ops.bitwise_or(self, other)
    def __ror__(self, other): return ops.bitwise_or(other, self)
    def __xor__(self, other): return ops.bitwise_xor(self, other)
    def __rxor__(self, other): return ops.bitwise_xor(other, self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __lt__(self, other): return ops.lt(self, other)
    def __le__(self, other): return ops.le(self, other)
    def __gt__(self, other): return ops.gt(self, other)
    def __ge__(self, other): return ops.ge(self, other)
    def __eq__(self, other): return False if other is None else ops.eq(self, other)
    def __ne__(self, other): return True if other is None else ops.ne(self, other)

    # in place (pyconv/ops/inplace.py): `w -= lr * w.grad` under no_grad() updates w's array
    def __setitem__(self, index, value): ops.inplace.setitem(self, index, value)
    def __iadd__(self, other): return ops.inplace.add_(self, other)
    def __isub__(self, other): return ops.inplace.sub_(self, other)
    def __imul__(self, other): return ops.inplace.mul_(self, other)
    def __itruediv__(self, other): return ops.inplace.div_(self, other)
    def __ipow__(self, other): return ops.inplace.pow_(self, other)

    # -- methods mirroring the functions in pyconv.ops ------------------------------------
    def add(self, other, alpha=1): return ops.add(self, other, alpha=alpha)
    def sub(self, other, alpha=1): return ops.sub(self, other, alpha=alpha)
    def mul(self, other): return ops.mul(self, other)
    def div(self, other, rounding_mode=None): return ops.div(self, other, rounding_mode=rounding_mode)
    def true_divide(self, other): return ops.div(self, other)
    def floor_divide(self, other): return ops.floor_divide(self, other)
    def remainder(self, other): return ops.remainder(self, other)
    def pow(self, exponent): return ops.pow(self, exponent)
    def neg(self): return ops.neg(self)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def log2(self): return ops.log2(self)
    def log10(self): return ops.log10(self)
    def log1p(self): return ops.log1p(self)
    def expm1(self): return ops.expm1(self)
    def sqrt(self): return ops.sqrt(self)
    def rsqrt(self): return ops.rsqrt(self)
    def square(self): return ops.square(self)
    def reciprocal(self): return ops.reciprocal(self)
    def abs(self): return ops.abs(self)
    def sign(self): return ops.sign(self)
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def floor(self): return ops.floor(self)
    def ceil(self): return ops.ceil(self)
    def round(self, decimals=0): return ops.round(self, decimals=decimals)
    def trunc(self): return ops.trunc(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)
    def where(self, condition, other): return ops.where(condition, self, other)
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)
    def eq(self, other): return ops.eq(self, other)
    def ne(self, other): return ops.ne(self, other)
    def lt(self, other): return ops.lt(self, other)
    def le(self, other): return ops.le(self, other)
    def gt(self, other): return ops.gt(self, other)
    def ge(self, other): return ops.ge(self, other)
    def logical_and(self, other): return ops.logical_and(self, other)
    def logical_or(self, other): return ops.logical_or(self, other)
    def logical_xor(self, other): return ops.logical_xor(self, other)
    def logical_not(self): return ops.logical_not(self)
    def isnan(self): return ops.isnan(self)
    def isinf(self): return ops.isinf(self)
    def isfinite(self): return ops.isfinite(self)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.allclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.isclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    def equal(self, other): return ops.equal(self, other)
    def clone(self): return ops.clone(self)
    def contiguous(self): return ops.contiguous(self)

    # reductions: dim= and keepdim= (axis= and keepdims= also work), as the functions
    def sum(self, *args, **kwargs): return ops.sum(self, *args, **kwargs)
    def mean(self, *args, **kwargs): return ops.mean(self, *args, **kwargs)
    def prod(self, *args, **kwargs): return ops.prod(self, *args, **kwargs)
    def var(self, *args, **kwargs): return ops.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return ops.std(self, *args, **kwargs)
    def max(self, *args, **kwargs): return ops.max(self, *args, **kwargs)
    def min(self, *args, **kwargs): return ops.min(self, *args, **kwargs)
    def amax(self, *args, **kwargs): return ops.amax(self, *args, **kwargs)
    def amin(self, *args, **kwargs): return ops.amin(self, *args, **kwargs)
    def argmax(self, *args, **kwargs): return ops.argmax(self, *args, **kwargs)
    def argmin(self, *args, **kwargs): return ops.argmin(self, *args, **kwargs)
    def all(self, *args, **kwargs): return ops.all(self, *args, **kwargs)
    def any(self, *args, **kwargs): return ops.any(self, *args, **kwargs)
    def norm(self, *args, **kwargs): return ops.norm(self, *args, **kwargs)
    def logsumexp(self, *args, **kwargs): return ops.logsumexp(self, *args, **kwargs)
    def cumsum(self, *args, **kwargs): return ops.cumsum(self, *args, **kwargs)
    def topk(self, *args, **kwargs): return ops.topk(self, *args, **kwargs)
    def sort(self, *args, **kwargs): return ops.sort(self, *args, **kwargs)
    def argsort(self, *args, **kwargs): return ops.argsort(self, *args, **kwargs)
    def nonzero(self, as_tuple=False): return ops.nonzero(self, as_tuple=as_tuple)
    def count_nonzero(self, *args, **kwargs): return ops.count_nonzero(self, *args, **kwargs)
    def bincount(self, weights=None, minlength=0): return ops.bincount(self, weights, minlength)

    # shapes
    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.reshape(self, *shape)
    def view_as(self, other): return ops.reshape(self, other.shape)
    def reshape_as(self, other): return ops.reshape(self, other.shape)
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0=None, dim1=None): return ops.transpose(self, dim0, dim1)
    swapaxes = swapdims = transpose
    def t(self): return ops.t(self)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def unflatten(self, dim, sizes): return ops.unflatten(self, dim, sizes)
    def squeeze(self, *args, **kwargs): return ops.squeeze(self, *args, **kwargs)
    def unsqueeze(self, *args, **kwargs): return ops.unsqueeze(self, *args, **kwargs)
    def broadcast_to(self, *shape): return ops.broadcast_to(self, *shape)
    def expand(self, *sizes): return ops.expand(self, *sizes)
    def expand_as(self, other): return ops.expand(self, other.shape)
    def repeat(self, *sizes): return ops.repeat(self, *sizes)
    def split(self, split_size_or_sections, dim=0): return ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    def unbind(self, dim=0): return ops.unbind(self, dim)
    def narrow(self, dim, start, length): return ops.narrow(self, dim, start, length)
    def flip(self, *args, dims=None):
        return ops.flip(self, dims if dims is not None else args[0] if len(args) == 1 else args)
    def gather(self, dim, index): return ops.gather(self, dim, index)
    def scatter(self, dim, index, src=None, value=None):
        return ops.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim, index, src): return ops.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return ops.index_select(self, dim, index)
    def masked_select(self, mask): return ops.masked_select(self, mask)
    def tril(self, diagonal=0): return ops.tril(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return ops.diagonal(self, offset, dim1, dim2)
    def diag(self, diagonal=0): return ops.diag(self, diagonal)
    def trace(self): return ops.trace(self)
    def triu(self, diagonal=0): return ops.triu(self, diagonal)
    def matmul(self, other): return ops.matmul(self, other)
    def mm(self, other): return ops.mm(self, other)
    def bmm(self, other): return ops.bmm(self, other)
    def mv(self, other): return ops.mv(self, other)
    def dot(self, other): return ops.dot(self, other)
    def outer(self, other): return ops.outer(self, other)

    @property
    def T(self):
        """All axes reversed (the transpose of a matrix)."""
        return ops.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self):
        """The last two axes swapped (a batch of matrices transposed)."""
        return ops.transpose(self, -2, -1)

    # activations live in pyconv/ops/activation.py (pyconv.nn.functional), imported on first use
    def relu(self): return _activation().relu(self)
    def sigmoid(self): return _activation().sigmoid(self)
    def tanh(self): return _activation().tanh(self)
    def softmax(self, dim=-1, dtype=None): return _activation().softmax(self, dim, dtype=dtype)
    def log_softmax(self, dim=-1, dtype=None): return _activation().log_softmax(self, dim, dtype=dtype)

    # in place: the same Python object and, outside a graph, the same array (see inplace.py)
    def add_(self, other, alpha=1): return ops.inplace.add_(self, other, alpha=alpha)
    def sub_(self, other, alpha=1): return ops.inplace.sub_(self, other, alpha=alpha)
    def mul_(self, other): return ops.inplace.mul_(self, other)
    def div_(self, other, rounding_mode=None):
        return ops.inplace.div_(self, other, rounding_mode=rounding_mode)
    def pow_(self, exponent): return ops.inplace.pow_(self, exponent)
    def neg_(self): return ops.inplace.neg_(self)
    def abs_(self): return ops.inplace.abs_(self)
    def exp_(self): return ops.inplace.exp_(self)
    def log_(self): return ops.inplace.log_(self)
    def sqrt_(self): return ops.inplace.sqrt_(self)
    def clamp_(self, min=None, max=None): return ops.inplace.clamp_(self, min, max)
    clip_ = clamp_
    def relu_(self): return ops.inplace.relu_(self)
    def sigmoid_(self): return ops.inplace.sigmoid_(self)
    def tanh_(self): return ops.inplace.tanh_(self)
    def masked_fill_(self, mask, value): return ops.inplace.masked_fill_(self, mask, value)
    def scatter_(self, dim, index, src=None, value=None):
        return ops.inplace.scatter_(self, dim, index, src, value)
    def scatter_add_(self, dim, index, src): return ops.inplace.scatter_add_(self, dim, index, src)
    def zero_(self): return ops.inplace.zero_(self)
    def fill_(self, value): return ops.inplace.fill_(self, value)
    def copy_(self, src, non_blocking=False): return ops.inplace.copy_(self, src)
    def normal_(self, mean=0.0, std=1.0, generator=None):
        return ops.inplace.normal_(self, mean, std, generator)
    def bernoulli(self, p=None, generator=None): return creation.bernoulli(self, p, generator=generator)
    def multinomial(self, num_samples, replacement=False, generator=None):
        return creation.multinomial(self, num_samples, replacement, generator=generator)
    def uniform_(self, a=0.0, b=1.0, generator=None): return ops.inplace.uniform_(self, a, b, generator)

    # -- backward -------------------------------------------------------------------------
    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None, *, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` that requires grad.

        `gradient` (also accepted as `grad=`) defaults to 1 for a one-element tensor; otherwise
        it must have self's shape. pyconv keeps the graph after backward, so `retain_graph` is
        accepted and changes nothing. `create_graph=True` (gradients of gradients) and `inputs`
        are not supported: backward passes compute on raw arrays, not on Tensors.
        """
        if grad is not None:
            if gradient is not None:
                raise TypeError("backward() got both gradient and grad; give one")
            gradient = grad
        if create_graph:
            raise NotImplementedError("backward(create_graph=True): pyconv computes gradients on raw "
                                      "arrays, so gradients of gradients are not supported")
        if inputs is not None:
            raise NotImplementedError("backward(inputs=...) is not supported by pyconv: every leaf "
                                      "that requires grad receives its gradient")
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (element 0 of "
                               "tensors does not require grad and does not have a grad_fn)")
        seed = self._seed_gradient(gradient)
        if self._ctx is None:
            _accumulate(self, seed)
            return
        _run_backward(self._ctx, seed)

    def _seed_gradient(self, gradient):
        if gradient is None:
            if self.numel() != 1:
                raise RuntimeError(f"grad can be implicitly created only for scalar outputs: "
                                   f"backward() without a gradient needs a one-element tensor, "
                                   f"got shape {self.shape}; pass a gradient of that shape")
            return self.xp.ones(self._data.shape, dtype=self.dtype)
        seed = _as_array(gradient, self.dtype, self.device)
        if seed.shape != self._data.shape:
            raise ValueError(f"gradient shape {tuple(seed.shape)} does not match tensor shape "
                             f"{self.shape}")
        return seed


_DEVICE_OBJECTS = {}  # "cpu" or "cuda" -> its pyconv.device, made once

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _axis(dim, ndim):
    if not -ndim <= dim < max(ndim, 1):
        raise IndexError(f"dimension {dim} is out of range for a tensor of {ndim} dimensions")
    return dim % max(ndim, 1)


def _dtype_or_none(arg):
    """np.dtype(arg) when `arg` names a dtype, None when it names a device (or anything else)."""
    if arg is None or isinstance(arg, str) and arg.split(":")[0] in _device.DEVICES:
        return None
    try:
        return np.dtype(arg)
    except TypeError:
        return None


def _activation():
    from .ops import activation
    return activation


def _accumulate(leaf, grad):
    """Add `grad` into leaf.grad; a fresh copy, since the array may be shared with other
    gradients or a saved input."""
    leaf.grad = Tensor(grad.copy()) if leaf.grad is None else Tensor(leaf.grad.data + grad)


def _graph_order(root):
    """Functions that lead to `root`, each after all the Functions that made its inputs
    (iterative depth-first post-order, so deep graphs need no recursion)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        fn, inputs_done = stack.pop()
        if inputs_done:
            order.append(fn)
            continue
        if id(fn) in visited:
            continue
        visited.add(id(fn))
        stack.append((fn, True))
        for ctx in fn.input_fns:
            if ctx is not None and id(ctx) not in visited:
                stack.append((ctx, False))
    return order


def _run_backward(root, seed):
    """One reverse sweep from `root` (the Function of the tensor backward() was called on)."""
    grads = {id(root): seed}
    leaves = {}  # id -> [leaf, summed gradient]
    for fn in reversed(_graph_order(root)):
        g = grads.pop(id(fn), None)
        if g is None:
            continue
        retained = getattr(fn, "retained", None)
        if retained is not None and retained._ctx is fn:
            _accumulate(retained, g)
        fn.check_versions()
        input_grads = fn.backward(g)
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        for parent, ctx, need, (shape, dtype), pg in zip(fn.parents, fn.input_fns, fn.needs_grad,
                                                          fn.input_meta, input_grads):
            if pg is None or not need:
                continue
            if tuple(pg.shape) != shape:
                raise RuntimeError(f"{type(fn).__name__}.backward gave a gradient of shape "
                                   f"{tuple(pg.shape)} for an input of shape {shape}")
            if pg.dtype != dtype:  # inputs of mixed float dtypes
                pg = pg.astype(dtype)
            if ctx is None:
                entry = leaves.setdefault(id(parent), [parent, None])
                entry[1] = pg if entry[1] is None else entry[1] + pg
            else:
                key = id(ctx)
                grads[key] = pg if key not in grads else grads[key] + pg
    for leaf, g in leaves.values():
        if leaf.requires_grad:
            _accumulate(leaf, g)


class Function:
    """Base of every differentiable op.

    Subclasses define `forward(self, *arrays, **params) -> array` and
    `backward(self, grad) -> gradient array per input (a tuple when several; None for an input
    that needs none)`, each gradient of its input's shape. Save what backward needs on `self`.
    `self.needs_grad` (set before forward) says which inputs require grad.

    Non-Tensor inputs are converted: Python and numpy numbers take the dtype of the tensor
    inputs (see `_scalar_dtype`), other data becomes a tensor on the inputs' device.

    When the op is recorded, `parents` holds the input Tensors, `input_fns` the Function that
    had made each of them (None for leaves), `input_meta` their shapes and dtypes, and
    `saved_versions` the version of each tensor whose array an attribute of `self` shares.
    """

    parents = needs_grad = input_fns = input_meta = saved_versions = ()  # until recorded

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = _tensors_of(cls.__name__, inputs)
        fn = cls()
        grad_on = is_grad_enabled()
        fn.needs_grad = tuple(grad_on and t.requires_grad for t in tensors)
        out = fn.forward(*[t.data for t in tensors], **params)
        result = Tensor(out)
        if len(tensors) == 1 and result.data.base is not None and _may_share(result.data, tensors[0].data):
            result._version_cell = tensors[0]._version_cell  # a view: one counter for both
        if any(fn.needs_grad) and _is_float(result.dtype):
            fn.saved_versions = _saved_versions(fn, tensors + [result])
            fn.parents = tuple(tensors)
            fn.input_fns = tuple(t._ctx for t in tensors)
            fn.input_meta = tuple((tuple(t.data.shape), t.dtype) for t in tensors)
            result._ctx = fn
            result._requires_grad = True
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError

    def name(self):
        return f"{type(self).__name__}Backward"

    def __repr__(self):
        return f"<{self.name()}>"

    @property
    def next_functions(self):
        """(Function that made each input, 0) pairs; None for leaves (PyTorch's layout)."""
        return tuple((ctx, 0) for ctx in self.input_fns)

    def check_versions(self):
        """PyTorch's error when an array saved for backward was changed in place since."""
        for cell, version, shape, dtype in self.saved_versions:
            if cell[0] != version:
                raise RuntimeError(
                    f"one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: [{dtype} tensor of shape {shape}], saved by {self.name()}, "
                    f"is at version {cell[0]}; expected version {version} instead. Make the in-place "
                    f"change after backward(), or use an out-of-place op (x = x * 2, not x *= 2)")


def _saved_versions(fn, tensors):
    """(version cell, version, shape, dtype) of each tensor whose array `fn` keeps (an attribute
    that is, or views, that array): backward will check that none was changed in place."""
    saved = []
    for key, value in vars(fn).items():
        if key == "needs_grad":
            continue
        for item in value if type(value) in (tuple, list) else (value,):
            if _is_array(item):
                saved.append(item)
    if not saved:
        return ()
    by_id = {id(t.data): t for t in tensors}
    found = {}
    for array in saved:
        same = by_id.get(id(array))  # most ops keep their inputs themselves: no bounds to compare
        for t in [same] if same is not None else tensors:
            if t is same or _may_share(array, t.data):
                found[id(t.data)] = t
    return tuple((t._version_cell, t._version, tuple(t.data.shape), t.dtype) for t in found.values())


def _tensors_of(op, inputs):
    """Inputs as Tensors on one device; numbers take the tensors' dtype (see Function)."""
    given = [x for x in inputs if isinstance(x, Tensor)]
    devices = {str(t.device) for t in given}
    if len(devices) > 1:
        shapes = ", ".join(f"{t.shape} on {t.device}" for t in given)
        raise RuntimeError(f"{op}: all tensors must be on one device, got {shapes}; "
                           f"move them with .to(device)")
    device = devices.pop() if devices else "cpu"
    like = next((t.dtype for t in given if _is_float(t.dtype)), given[0].dtype if given else None)
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor):
            tensors.append(x)
        elif isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, complex) and like is not None:
            dtype = _scalar_dtype(x if not isinstance(x, np.generic) else x.item(), like)
            tensors.append(Tensor(_device.array_module(device).asarray(x, dtype=dtype)))
        elif _device.is_cupy_array(x) or isinstance(x, np.ndarray):
            if _device.device_of(x) != device:
                raise RuntimeError(f"{op}: an array on {_device.device_of(x)} next to tensors on {device}; "
                                   f"move it with pyconv.tensor(array, device={device!r})")
            tensors.append(Tensor(x))
        else:
            tensors.append(Tensor(_as_array(x, None, device)))
    return tensors


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    """Make a Tensor from a copy of `data`.

    Python floats become float32, numpy float arrays keep their dtype, integer data stays
    integer (and cannot require grad). `device` defaults to where `data` lives ("cpu" for
    Python data and numpy arrays).
    """
    if device is None:
        device = "cuda" if _device.is_cupy_array(data) or \
            (isinstance(data, Tensor) and data.device == "cuda") else "cpu"
    return Tensor(_as_array(data, dtype, device, copy=True), requires_grad=requires_grad)


from . import creation, ops  # noqa: E402  (the op modules import Function and Tensor from this module)
