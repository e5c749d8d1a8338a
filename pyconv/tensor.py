"""Tensor: an n-d array that records the ops made on it, and backward() through them.

Where each piece lives (one concept per module):

    pyconv/tensor.py          Tensor: its data, attributes, conversions, operators and
                              backward(); `pyconv.tensor(...)`; Size
    pyconv/tensor_methods.py  TensorMethods, which Tensor inherits: the methods that only
                              forward to pyconv.ops (t.sum(), t.reshape(), t.add_(), ...)
    pyconv/autograd.py        Function, the saved-version checks and the backward sweep
    pyconv/grad_mode.py       is_grad_enabled, no_grad, enable_grad, inference_mode,
                              set_grad_enabled
    pyconv/ops/               one Function subclass per op, forward and backward side by side

Function and the grad-mode names are imported here as well, so `from pyconv.tensor import
Function, Tensor, no_grad` works as before.

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
import math
import numbers
import sys

import numpy as np

from . import device as _device
from .grad_mode import (enable_grad, inference_mode, is_grad_enabled,  # noqa: F401  (re-exported)
                        no_grad, set_grad_enabled)
from .tensor_methods import TensorMethods


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


class Tensor(TensorMethods):
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
        if requires_grad:
            self.requires_grad = True   # the setter checks the dtype
        else:
            self._requires_grad = False

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

    # draws with this tensor's values as probabilities (bernoulli) or weights (multinomial);
    # here, not in tensor_methods.py, as they call pyconv.creation (imported at the end)
    def bernoulli(self, p=None, generator=None): return creation.bernoulli(self, p, generator=generator)
    def multinomial(self, num_samples, replacement=False, generator=None):
        return creation.multinomial(self, num_samples, replacement, generator=generator)

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
            _after_backward((self,))
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


# These modules import Tensor from this one, so they come last: autograd (Function and the backward
# sweep), then the creation functions and the ops that the methods above call.
from .autograd import Function, _accumulate, _after_backward, _run_backward  # noqa: E402,F401
from . import creation, ops  # noqa: E402
