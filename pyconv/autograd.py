"""The autograd engine: `Function` (the base of every op) and the backward sweep.

`Function.apply` runs an op's `forward` on raw arrays and, when grad mode is on and an input
requires grad, records the op in the result's `grad_fn` with what backward will need: the
inputs, the Function that made each, and the versions of the arrays the op saved.
`Tensor.backward()` (pyconv/tensor.py) hands its seed gradient to `_run_backward`, which orders
the recorded Functions once and walks them in reverse, summing gradients into the leaves' `.grad`.
Then the hooks registered with `register_post_backward_hook` run (data-parallel training
averages the gradients there).

It is a module of its own so that the op-recording rules and the sweep read in one place; it
imports Tensor, and pyconv/tensor.py imports it back at its end.
"""
import numbers

import numpy as np

from . import device as _device
from . import memory
from .grad_mode import _state as _grad_state
from .tensor import Tensor, _as_array, _is_array, _is_float, _may_share


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
    _saved_nbytes = 0

    @classmethod
    def apply(cls, *inputs, **params):
        # The hot path of every op: plain loops and direct attribute reads (no properties, no
        # generators), since on small tensors this bookkeeping, not the arithmetic, is the time.
        tensors = inputs
        for x in inputs:
            if type(x) is not Tensor or type(x._data) is not np.ndarray:
                tensors = _tensors_of(cls.__name__, inputs)
                break
        fn = cls()
        if getattr(_grad_state, "grad_enabled", True):   # grad_mode.is_grad_enabled, inlined
            fn.needs_grad = needs = tuple([t._requires_grad for t in tensors])
        else:
            fn.needs_grad = needs = (False,) * len(tensors)
        out = fn.forward(*[t._data for t in tensors], **params)
        if type(out) is not np.ndarray and isinstance(out, np.generic):
            out = np.asarray(out)   # numpy reductions return scalars: a 0-d array, as every op's
        result = Tensor(out)
        out = result._data
        if len(tensors) == 1 and out.base is not None and _may_share(out, tensors[0]._data):
            result._version_cell = tensors[0]._version_cell  # a view: one counter for both
        if True in needs and out.dtype.kind == "f":
            fn.saved_versions = _saved_versions(fn, tensors, result)
            fn.parents = tuple(tensors)
            fn.input_fns = tuple([t._ctx for t in tensors])
            fn.input_meta = tuple([(t._data.shape, t._data.dtype) for t in tensors])
            result._ctx = fn
            result._requires_grad = True
        return result

    def forward(self, *arrays, **params):
        raise NotImplementedError

    def __del__(self):
        if self._saved_nbytes:   # a recorded op's saved arrays leave with it (pyconv.memory_stats)
            memory.release_saved(self._saved_nbytes)

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


_NOT_ARRAYS = frozenset((int, float, bool, str, type(None), tuple, np.dtype))


def _saved_versions(fn, tensors, result):
    """(version cell, version, shape, dtype) of each tensor whose array `fn` keeps (an attribute
    that is, or views, that array): backward will check that none was changed in place. Also
    counts the bytes `fn` keeps, for pyconv.memory_stats (each array object once).
    Runs before the engine's own attributes (parents, ...) are set: only forward's are here."""
    saved = []
    for value in fn.__dict__.values():
        kind = type(value)
        if kind is np.ndarray:
            saved.append(value)
        elif kind is tuple or kind is list:
            for item in value:
                if type(item) is np.ndarray or (type(item) not in _NOT_ARRAYS and _is_array(item)):
                    saved.append(item)
        elif kind not in _NOT_ARRAYS and _is_array(value):
            saved.append(value)
    if not saved:
        return ()
    everyone = (*tensors, result)
    found, nbytes, seen = {}, 0, set()
    for array in saved:
        if id(array) in seen:
            continue
        seen.add(id(array))
        nbytes += array.nbytes
        owner = None
        for t in everyone:      # most ops keep their inputs or output themselves: no bounds to compare
            if t._data is array:
                owner = found[id(t)] = t
                break
        if owner is None:
            for t in everyone:
                if _may_share(array, t._data):
                    found[id(t)] = t
    memory.track_saved(fn, int(nbytes))
    return tuple([(t._version_cell, t._version_cell[0], t._data.shape, t._data.dtype) for t in found.values()])


def _tensors_of(op, inputs):
    """Inputs as Tensors on one device; numbers take the tensors' dtype (see Function)."""
    given = [x for x in inputs if isinstance(x, Tensor)]
    if len(inputs) == 2 and len(given) == 1 and type(given[0]._data) is np.ndarray:
        number = inputs[1] if given[0] is inputs[0] else inputs[0]
        if type(number) is float and given[0]._data.dtype.kind == "f":  # x * 2.0: the next most
            other = Tensor(np.array(number, dtype=given[0]._data.dtype))  # common case, made quick
            return [given[0], other] if given[0] is inputs[0] else [other, given[0]]
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


def _scalar_dtype(value, like):
    """Dtype a Python number takes next to an array of dtype `like` (PyTorch's rule)."""
    like = np.dtype(like)
    if isinstance(value, bool) or like.kind == "f":
        return like
    if isinstance(value, numbers.Integral):
        return like if like.kind in "iu" else np.dtype(np.int64)
    return np.dtype(np.float32)  # a float next to an integer/bool tensor


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
        retained = fn.__dict__.get("retained")
        if retained is not None and retained._ctx is fn:
            _accumulate(retained, g)
        if fn.saved_versions:
            fn.check_versions()
        input_grads = fn.backward(g)
        if type(input_grads) is not tuple:
            input_grads = (input_grads,)
        for parent, ctx, need, (shape, dtype), pg in zip(fn.parents, fn.input_fns, fn.needs_grad,
                                                          fn.input_meta, input_grads):
            if pg is None or not need:
                continue
            if pg.shape != shape and tuple(pg.shape) != shape:
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
    _after_backward(tuple(leaf for leaf, _ in leaves.values() if leaf.requires_grad))


# -- after the sweep ---------------------------------------------------------------------------
_post_backward_hooks = {}


class _HookHandle:
    def __init__(self, key):
        self.key = key

    def remove(self):
        _post_backward_hooks.pop(self.key, None)


def register_post_backward_hook(hook):
    """Call hook(leaves) at the end of every backward(), once the leaves' .grad are summed;
    `leaves` is the tuple of leaf tensors that received a gradient. Returns a handle whose
    remove() unregisters it. pyconv.distributed.DistributedDataParallel averages the gradients
    over the processes this way, before optimizer.step() reads them."""
    key = object()
    _post_backward_hooks[key] = hook
    return _HookHandle(key)


def _after_backward(leaves):
    for hook in list(_post_backward_hooks.values()):
        hook(leaves)
