"""Tensor: an n-d array that records the ops made on it, and backward() through them.

A Tensor wraps a numpy array (device "cpu") or a CuPy array (device "cuda") in `.data`.
Every differentiable op is a `Function` subclass (see `pyconv/ops/`): `forward` computes on raw
arrays and saves what `backward` needs; `backward` maps the output's gradient to one gradient
per input, also raw arrays. `Function.apply` wraps the result in a Tensor that remembers its op,
so `Tensor.backward()` can sort the graph once and walk it in reverse.

Gradients accumulate into `.grad` (a Tensor) across backward() calls, as in PyTorch: call
`zero_grad()` (or set `.grad = None`) between steps.
"""
import contextlib
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
    return np.issubdtype(np.dtype(dtype), np.floating)


def _as_array(data, dtype=None, device="cpu"):
    """Raw array from Python data, numpy/cupy arrays or Tensors.

    Python data becomes float32 unless it is all integers/bools (then int64/bool) or a dtype
    is given; arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        data = data.data
    if isinstance(data, np.ndarray) or (_device.cupy_or_none() is not None
                                        and not isinstance(data, (list, tuple, int, float, bool))
                                        and hasattr(data, "__cuda_array_interface__")):
        array = data
    else:
        array = np.asarray(data)
        if dtype is None and array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif dtype is None and array.dtype.kind not in "biuf":
            raise TypeError(f"cannot make a tensor from {type(data).__name__} of dtype {array.dtype}")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    return _device.move(array, device)


class Tensor:
    """n-d array with reverse-mode autograd. Build with `pyconv.tensor(...)`."""

    __array_priority__ = 1000  # numpy scalars/arrays on the left defer to our operators

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if device is None:
            device = _device.device_of(data) if not isinstance(data, (list, tuple, int, float, bool)) \
                and hasattr(data, "dtype") else "cpu"
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
        return self.shape[0]

    def __repr__(self):
        grad = ", requires_grad=True" if self.requires_grad else ""
        dev = ", device='cuda'" if self.device == "cuda" else ""
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{grad})"

    # -- conversion -----------------------------------------------------------------------
    def numpy(self):
        """The data as a numpy array (copied from the GPU for CUDA tensors)."""
        return _device.move(self.data, "cpu")

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
        """Copy to a device and/or dtype; returns self when nothing changes. Differentiable."""
        from .ops.basic import to
        return to(self, device=device, dtype=dtype)

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
                raise RuntimeError(f"backward() without a gradient needs a one-element tensor, got shape {self.shape}")
            grad = self.xp.ones(self.data.shape, dtype=self.dtype)
        else:
            grad = _as_array(grad, self.dtype, self.device)
            if grad.shape != self.data.shape:
                raise ValueError(f"gradient shape {grad.shape} does not match tensor shape {self.shape}")
        grads = {id(self): grad}
        for node in reversed(self._topological_order()):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._ctx is None:
                node.grad = Tensor(g) if node.grad is None else Tensor(node.grad.data + g)
                continue
            parent_grads = node._ctx.backward(g)
            if not isinstance(parent_grads, tuple):
                parent_grads = (parent_grads,)
            for parent, pg in zip(node._ctx.parents, parent_grads):
                if pg is None or not parent.requires_grad:
                    continue
                if pg.shape != parent.data.shape:
                    raise RuntimeError(f"{type(node._ctx).__name__}.backward gave a gradient of shape "
                                       f"{pg.shape} for an input of shape {parent.shape}")
                key = id(parent)
                grads[key] = pg if key not in grads else grads[key] + pg


class Function:
    """Base of every differentiable op.

    Subclasses define `forward(self, *arrays, **params) -> array` and
    `backward(self, grad) -> gradient array per input (a tuple when several; None for an input
    that needs none)`. Save what backward needs on `self`.
    """

    def __init__(self):
        self.parents = ()

    @classmethod
    def apply(cls, *inputs, **params):
        tensors = [x if isinstance(x, Tensor) else Tensor(x) for x in inputs]
        devices = {t.device for t in tensors}
        if len(devices) > 1:
            shapes = ", ".join(f"{t.shape} on {t.device}" for t in tensors)
            raise RuntimeError(f"{cls.__name__}: all tensors must be on one device, got {shapes}; "
                               f"move them with .to(device)")
        fn = cls()
        out = fn.forward(*[t.data for t in tensors], **params)
        result = Tensor(out)
        if is_grad_enabled() and any(t.requires_grad for t in tensors) and _is_float(out.dtype):
            fn.parents = tuple(tensors)
            result._ctx = fn
            result.requires_grad = True
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def backward(self, grad):
        raise NotImplementedError


def tensor(data, requires_grad=False, dtype=None, device="cpu"):
    """Make a Tensor. Python floats become float32, numpy float arrays keep their dtype,
    integer data stays integer (and cannot require grad)."""
    if isinstance(data, Tensor):
        data = data.data
    return Tensor(_as_array(data, dtype, device), requires_grad=requires_grad)
