"""Tensor: an n-d array that records the ops made on it, and backward() through them.

A Tensor wraps a numpy array (device "cpu") or a CuPy array (device "cuda") in `.data`.
Every differentiable op is a `Function` subclass (see `pyconv/ops/`): `forward` computes on raw
arrays and saves what `backward` needs; `backward` maps the output's gradient to one gradient
per input, also raw arrays. `Function.apply` wraps the result in a Tensor that remembers its op,
so `Tensor.backward()` can sort the graph once and walk it in reverse.

Gradients accumulate into `.grad` (a Tensor) across backward() calls, as in PyTorch: call
`zero_grad()` (or set `.grad = None`) between steps. Only leaves (tensors made by the user, not
by an op) receive `.grad`. The graph is kept after backward(), so it may be called again.

Dtypes: Python data becomes float32 (integers stay int64, bools bool); numpy arrays keep their
dtype. A Python number in an op takes the tensor's dtype (float32 tensor * 2.0 is float32;
a float next to an integer tensor is a float32 scalar, and numpy then promotes to float64).
Two tensors of different float dtypes promote as numpy does; each input's gradient comes back
in that input's own dtype.
"""
import contextlib
import numbers
import threading

import numpy as np

from . import device as _device

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def no_grad():
    """Within this block ops record no graph (inference, optimizer updates)."""
    previous = is_grad_enabled()
    _state.grad_enabled = False
    try:
        yield
    finally:
        _state.grad_enabled = previous


@contextlib.contextmanager
def enable_grad():
    previous = is_grad_enabled()
    _state.grad_enabled = True
    try:
        yield
    finally:
        _state.grad_enabled = previous


def _is_float(dtype):
    return np.dtype(dtype).kind == "f"


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


class Tensor:
    """n-d array with reverse-mode autograd. Build with `pyconv.tensor(...)`.

    `Tensor(array)` wraps an array without copying; `pyconv.tensor(data)` copies.
    """

    __array_ufunc__ = None  # numpy defers to our operators: np.float64(2) * t calls t.__rmul__
    __hash__ = object.__hash__  # == is elementwise, yet tensors stay usable as dict keys

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if device is None:
            device = "cuda" if _device.is_cupy_array(data) or \
                (isinstance(data, Tensor) and data.device == "cuda") else "cpu"
        self.data = _as_array(data, dtype, device)
        self.grad = None
        self._ctx = None  # the Function that made this tensor, if it tracks gradients
        self.requires_grad = bool(requires_grad)

    # -- attributes -----------------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        if value and not _is_float(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require grad, got dtype {self.data.dtype}")
        self._requires_grad = bool(value)

    @property
    def shape(self):
        return tuple(self.data.shape)

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return int(self.data.size)

    def numel(self):
        return self.size

    @property
    def device(self):
        return _device.device_of(self.data)

    @property
    def xp(self):
        """The array module of this tensor's data: numpy or cupy."""
        return _device.array_module(self.device)

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             f"use .any() or .all()")
        return bool(self.item())

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.dtype.kind not in "iu" or self.size != 1:
            raise TypeError(f"only one-element integer tensors can be used as an index, got "
                            f"dtype {self.dtype} shape {self.shape}")
        return int(self.item())

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    # -- conversion -----------------------------------------------------------------------
    def numpy(self):
        """The data as a numpy array (copied from the GPU for CUDA tensors; shared on the CPU)."""
        return _device.move(self.data, "cpu")

    def __array__(self, dtype=None, copy=None):
        """np.asarray(t) for CPU tensors; a CUDA tensor must be copied explicitly (.numpy())."""
        if self.device != "cpu":
            raise TypeError("np.asarray() of a CUDA tensor: copy it to the host with .numpy() or .cpu()")
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def item(self):
        if self.size != 1:
            raise ValueError(f"item() needs a tensor of one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self):
        """A tensor sharing this data, cut from the graph."""
        return Tensor(self.data, requires_grad=False)

    def to(self, device=None, dtype=None):
        """Copy to a device and/or dtype; returns self when nothing changes. Differentiable:
        the gradient goes back to the source device and dtype."""
        return ops.to(self, device=device, dtype=dtype)

    def cpu(self):
        return self.to("cpu")

    def cuda(self):
        return self.to("cuda")

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    def astype(self, dtype):
        return self.to(dtype=dtype)

    def zero_grad(self):
        self.grad = None

    def requires_grad_(self, value=True):
        self.requires_grad = value
        return self

    # -- operators (the ops live in pyconv/ops; these forward to them) ----------------------
    def __add__(self, other): return ops.add(self, other)
    def __radd__(self, other): return ops.add(other, self)
    def __sub__(self, other): return ops.sub(self, other)
    def __rsub__(self, other): return ops.sub(other, self)
    def __mul__(self, other): return ops.mul(self, other)
    def __rmul__(self, other): return ops.mul(other, self)
    def __truediv__(self, other): return ops.div(self, other)
    def __rtruediv__(self, other): return ops.div(other, self)
    def __pow__(self, other): return ops.pow(self, other)
    def __rpow__(self, other): return ops.pow(other, self)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)
    def __lt__(self, other): return ops.lt(self, other)
    def __le__(self, other): return ops.le(self, other)
    def __gt__(self, other): return ops.gt(self, other)
    def __ge__(self, other): return ops.ge(self, other)
    def __eq__(self, other): return ops.eq(self, other)
    def __ne__(self, other): return ops.ne(self, other)

    # -- methods mirroring the functions in pyconv.ops ------------------------------------
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def sqrt(self): return ops.sqrt(self)
    def abs(self): return ops.abs(self)
    def clip(self, min=None, max=None): return ops.clip(self, min, max)
    clamp = clip
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return Tensor(self.xp.all(self.data, axis, keepdims=keepdims))
    def any(self, axis=None, keepdims=False): return Tensor(self.xp.any(self.data, axis, keepdims=keepdims))

    def var(self, axis=None, keepdims=False, correction=None, unbiased=None):
        return ops.var(self, axis, keepdims, correction=correction, unbiased=unbiased)

    def std(self, axis=None, keepdims=False, correction=None, unbiased=None):
        return ops.std(self, axis, keepdims, correction=correction, unbiased=unbiased)

    def reshape(self, *shape): return ops.reshape(self, *shape)
    view = reshape
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0=None, dim1=None): return ops.transpose(self, dim0, dim1)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def unsqueeze(self, axis): return ops.unsqueeze(self, axis)
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    expand = broadcast_to
    def matmul(self, other): return ops.matmul(self, other)

    # activations live in pyconv/ops/activation.py (pyconv.nn.functional), imported on first use
    def relu(self): return _activation().relu(self)
    def sigmoid(self): return _activation().sigmoid(self)
    def tanh(self): return _activation().tanh(self)
    def softmax(self, dim=-1): return _activation().softmax(self, dim)
    def log_softmax(self, dim=-1): return _activation().log_softmax(self, dim)

    @property
    def T(self):
        """All axes reversed (the transpose of a matrix)."""
        return ops.permute(self, *reversed(range(self.ndim)))

    # -- backward -------------------------------------------------------------------------
    def _topological_order(self):
        """Tensors that lead to self, each after all its inputs (iterative, no recursion)."""
        order, visited = [], set()
        stack = [(self, False)]
        while stack:
            node, parents_done = stack.pop()
            if parents_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            if node._ctx is not None:
                for parent in node._ctx.parents:
                    if parent.requires_grad and id(parent) not in visited:
                        stack.append((parent, False))
        return order

    def backward(self, grad=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` that requires grad.

        `grad` defaults to 1 for a one-element tensor; otherwise it must have self's shape.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, "
                                   f"got shape {self.shape}; pass grad= of that shape")
            grad = self.xp.ones(self.data.shape, dtype=self.dtype)
        else:
            grad = _as_array(grad, self.dtype, self.device)
            if grad.shape != self.data.shape:
                raise ValueError(f"gradient shape {tuple(grad.shape)} does not match tensor shape "
                                 f"{self.shape}")
        grads = {id(self): grad}
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._ctx is None:
                # a fresh copy: the array may be shared with other gradients or a saved input
                node.grad = Tensor(g.copy()) if node.grad is None else Tensor(node.grad.data + g)
                continue
            parent_grads = node._ctx.backward(g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, pg in zip(node._ctx.parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if tuple(pg.shape) != parent.shape:
                    raise RuntimeError(f"{type(node._ctx).__name__}.backward gave a gradient of shape "
                                       f"{tuple(pg.shape)} for an input of shape {parent.shape}")
                if pg.dtype != parent.dtype:  # inputs of mixed float dtypes
                    pg = pg.astype(parent.dtype)
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg


def _activation():
    from .ops import activation
    return activation


class Function:
    """Base of every differentiable op.

    Subclasses define `forward(self, *arrays, **params) -> array` and
    `backward(self, grad) -> gradient array per input (a tuple when several; None for an input
    that needs none)`, each gradient of its input's shape. Save what backward needs on `self`.
    `self.needs_grad` (set before forward) says which inputs require grad.

    Non-Tensor inputs are converted: Python and numpy numbers take the dtype of the tensor
    inputs (see `_scalar_dtype`), other data becomes a tensor on the inputs' device.
    """

    def __init__(self):
        self.parents = ()
        self.needs_grad = ()

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = _tensors_of(cls.__name__, inputs)
        fn = cls()
        grad_on = is_grad_enabled()
        fn.needs_grad = tuple(grad_on and t.requires_grad for t in tensors)
        out = fn.forward(*[t.data for t in tensors], **params)
        result = Tensor(out)
        if any(fn.needs_grad) and _is_float(result.dtype):
            fn.parents = tuple(tensors)
            result._ctx = fn
            result.requires_grad = True
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def _tensors_of(op, inputs):
    """Inputs as Tensors on one device; numbers take the tensors' dtype (see Function)."""
    given = [x for x in inputs if isinstance(x, Tensor)]
    devices = {t.device for t in given}
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


def tensor(data, requires_grad=False, dtype=None, device=None):
    """Make a Tensor from a copy of `data`.

    Python floats become float32, numpy float arrays keep their dtype, integer data stays
    integer (and cannot require grad). `device` defaults to where `data` lives ("cpu" for
    Python data and numpy arrays).
    """
    if device is None:
        device = "cuda" if _device.is_cupy_array(data) or \
            (isinstance(data, Tensor) and data.device == "cuda") else "cpu"
    return Tensor(_as_array(data, dtype, device, copy=True), requires_grad=requires_grad)


from . import ops  # noqa: E402  (the op modules import Function and Tensor from this module)
