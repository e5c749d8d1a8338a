"""Module, Parameter and the containers, shaped like torch.nn.

A Module owns Parameters (trainable Tensors), buffers (non-trainable state such as BatchNorm's
running statistics, saved in state_dict) and sub-modules, all registered by plain attribute
assignment: `self.fc = Linear(4, 2)` registers a sub-module, `self.w = Parameter(...)` a
parameter, `self.register_buffer("running_mean", zeros)` a buffer.
"""
from collections import OrderedDict, namedtuple

import numpy as np

from ..device import move
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable; requires grad by default."""

    def __init__(self, data, requires_grad=True):
        super().__init__(data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad)

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of every layer and model: subclasses set attributes in __init__ (after calling
    super().__init__()) and define forward(*inputs)."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"call super().__init__() in {type(self).__name__}.__init__ "
                                 f"before assigning {name!r}")
        for d in (self._parameters, self._buffers, self._modules):
            if name in d and not (d is self._buffers and not isinstance(value, (Parameter, Module))):
                del d[name]
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        elif name in self._buffers:
            self._buffers[name] = _buffer(value)
        else:
            object.__setattr__(self, name, value)
            return
        self.__dict__.pop(name, None)

    def __getattr__(self, name):  # only called when normal lookup fails
        for d in ("_parameters", "_buffers", "_modules"):
            store = self.__dict__.get(d)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for d in (self._parameters, self._buffers, self._modules):
            if name in d:
                del d[name]
                return
        object.__delattr__(self, name)

    def register_parameter(self, name, param):
        """Register a Parameter (or None, e.g. a missing bias) under `name`."""
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot register {type(param).__name__} as parameter {name!r}: use Parameter(...)")
        self.__dict__.pop(name, None)
        self._parameters[name] = param

    def register_buffer(self, name, tensor, persistent=True):
        """Register non-trainable state (a Tensor, array or None); it moves with .to() and, when
        persistent, is saved in state_dict."""
        self.__dict__.pop(name, None)
        self._buffers[name] = _buffer(tensor)
        if persistent:
            self._non_persistent_buffers.discard(name)
        else:
            self._non_persistent_buffers.add(name)

    def add_module(self, name, module):
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module")
        self._modules[name] = module

    register_module = add_module

    def register_forward_hook(self, hook):
        """hook(module, inputs, output) runs after every forward; returns a handle with remove()."""
        key = object()
        self._forward_hooks[key] = hook
        return _Handle(self._forward_hooks, key)

    def register_forward_pre_hook(self, hook):
        """hook(module, inputs) runs before every forward and may return new inputs (a tuple,
        or a single value); returns a handle with remove()."""
        key = object()
        self._forward_pre_hooks[key] = hook
        return _Handle(self._forward_pre_hooks, key)

    def get_submodule(self, target):
        """The sub-module at the dotted path `target` ("" is self), e.g. "features.0"."""
        module = self
        for name in target.split(".") if target else []:
            if name not in module._modules or module._modules[name] is None:
                raise AttributeError(f"{type(module).__name__} has no sub-module {name!r} "
                                     f"(looking up {target!r})")
            module = module._modules[name]
        return module

    # -- calling --------------------------------------------------------------------------
    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *inputs, **kwargs):
        if not self._forward_pre_hooks and not self._forward_hooks:   # the common case
            return self.forward(*inputs, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, inputs)
            if result is not None:
                inputs = result if isinstance(result, tuple) else (result,)
        out = self.forward(*inputs, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, inputs, out)
            if result is not None:
                out = result
        return out

    # -- traversal ------------------------------------------------------------------------
    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        return (m for _, m in self.named_children())

    def named_modules(self, memo=None, prefix="", remove_duplicate=True):
        """(dotted name, module) for self and every sub-module, depth first; a module reached
        twice is listed once unless remove_duplicate=False."""
        seen = set() if memo is None else memo
        if remove_duplicate:
            if id(self) in seen:
                return
            seen.add(id(self))
        yield prefix, self
        for name, m in self.named_children():
            yield from m.named_modules(seen, f"{prefix}.{name}" if prefix else name, remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def _named(self, kind, prefix="", recurse=True, remove_duplicate=True):
        seen = set()
        modules = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mod_prefix, m in modules:
            for name, t in getattr(m, kind).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), t

    def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
        """(dotted name, parameter) pairs; a parameter shared by several modules is listed once
        unless remove_duplicate=False."""
        return self._named("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse=True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix="", recurse=True, remove_duplicate=True):
        return self._named("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse=True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def num_parameters(self, trainable_only=False):
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)

    def apply(self, fn):
        """Call fn(module) on every sub-module (children first) and on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes, gradients, devices --------------------------------------------------------
    def train(self, mode=True):
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self):
        return self.train(False)

    def zero_grad(self, set_to_none=True):
        for p in self.parameters():
            if set_to_none or p.grad is None:
                p.grad = None
            else:
                p.grad.data[...] = 0

    def requires_grad_(self, requires_grad=True):
        for p in self.parameters():
            p.requires_grad = requires_grad
        return self

    def to(self, *args, device=None, dtype=None, non_blocking=False):
        """Move (in place) every parameter and buffer to `device` and/or floating `dtype`;
        returns self, as in PyTorch. Takes PyTorch's forms: to(device), to(dtype),
        to(device, dtype), to(tensor) (its device and dtype), or the keywords. Copies are
        synchronous: non_blocking is accepted and changes nothing."""
        device, dtype = _device_and_dtype(args, device, dtype)

        def convert(t):
            data = t.data
            if dtype is not None and np.issubdtype(np.dtype(data.dtype), np.floating):
                data = data.astype(dtype)
            if device is not None:
                data = move(data, device)
            t.data = data
            if t.grad is not None:
                t.grad = None
        for t in list(self.parameters()) + list(self.buffers()):
            convert(t)
        return self

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        """Move to the GPU; device: None, an index (0, the one GPU pyconv uses) or a name."""
        return self.to("cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)

    def float(self):
        return self.to(dtype=np.float32)

    def double(self):
        return self.to(dtype=np.float64)

    # -- state ----------------------------------------------------------------------------
    def _state_tensors(self, prefix=""):
        """OrderedDict of dotted name -> Tensor for every parameter and persistent buffer."""
        out = OrderedDict()
        for mod_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            for kind in ("_parameters", "_buffers"):
                for name, t in getattr(m, kind).items():
                    if t is not None and not (kind == "_buffers" and name in m._non_persistent_buffers):
                        out[f"{mod_prefix}.{name}" if mod_prefix else name] = t
        return out

    def state_dict(self, destination=None, prefix="", keep_vars=False):
        """OrderedDict of name -> numpy array (copies) for every parameter and persistent
        buffer; keep_vars=True gives the Tensors themselves. Names start with `prefix`; the
        entries are added to `destination` when given."""
        out = OrderedDict() if destination is None else destination
        for key, t in self._state_tensors(prefix).items():
            out[key] = t if keep_vars else t.numpy().copy()
        return out

    def load_state_dict(self, state_dict, strict=True):
        """Copy values (arrays or Tensors) into the existing parameters and buffers, keeping
        their device and dtype. strict: every key must match both ways, else StateDictError
        (a KeyError and a RuntimeError, as PyTorch raises). Returns a named tuple
        (missing_keys, unexpected_keys)."""
        own = self._state_tensors()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise StateDictError(f"Error(s) in loading state_dict for {type(self).__name__}: "
                                 f"missing keys {missing}, unexpected keys {unexpected}")
        for key, t in own.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            value = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
            if tuple(value.shape) != tuple(t.shape):
                raise SizeMismatchError(f"load_state_dict: size mismatch for {key}: shape "
                                        f"{tuple(value.shape)} in the state dict but "
                                        f"{tuple(t.shape)} in the model")
            t.data[...] = move(value.astype(t.dtype, copy=False), t.device)
        return IncompatibleKeys(missing, unexpected)

    # -- printing -------------------------------------------------------------------------
    def extra_repr(self):
        return ""

    def __repr__(self):
        own = sum(p.numel() for p in self._parameters.values() if p is not None)
        lines = []
        for name, m in self.named_children():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")" + (f"  # {own:,} params" if own else "")
        total = self.num_parameters()
        return head + "\n" + "\n".join(lines) + f"\n)  # {total:,} params"


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictError(RuntimeError, KeyError):
    """load_state_dict(strict=True) found missing or unexpected keys."""


class SizeMismatchError(RuntimeError, ValueError):
    """load_state_dict found a value whose shape differs from the model's."""


def _device_and_dtype(args, device, dtype):
    """(device, dtype) from Module.to's positional forms: a device string, a dtype, a tensor."""
    for arg in args:
        if isinstance(arg, Tensor):
            device, dtype = arg.device, arg.dtype
        elif isinstance(arg, str):
            device = arg
        else:
            dtype = np.dtype(arg)
    return device, dtype


def _buffer(value):
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor(value)


class _Handle:
    def __init__(self, store, key):
        self.store, self.key = store, key

    def remove(self):
        self.store.pop(self.key, None)


def _index(container, index):
    """A non-negative position in `container` from an int that may count from the end."""
    n = len(container)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for {type(container).__name__} of length {n}")
    return index % n


class Sequential(Module):
    """Modules applied in order: Sequential(a, b, c)(x) == c(b(a(x))). Also takes an OrderedDict."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(OrderedDict(list(self._modules.items())[index]))
        return list(self._modules.values())[_index(self, index)]

    def __setitem__(self, index, module):
        self.add_module(list(self._modules)[_index(self, index)], module)

    def __delitem__(self, index):
        keys = list(self._modules)
        for key in (keys[index] if isinstance(index, slice) else [keys[_index(self, index)]]):
            del self._modules[key]


class ModuleList(Module):
    """A list of sub-modules, registered so their parameters are found; no forward of its own."""

    def __init__(self, modules=None):
        super().__init__()
        self.extend(modules or ())

    def append(self, module):
        self.add_module(str(len(self._modules)), module)
        return self

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index, module):
        items = list(self._modules.values())
        items.insert(index, module)
        self._renumber(items)

    def _renumber(self, items):
        self._modules.clear()
        self.extend(items)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return list(self._modules.values())[_index(self, index)]

    def __setitem__(self, index, module):
        self.add_module(str(_index(self, index)), module)

    def __delitem__(self, index):
        items = list(self._modules.values())
        del items[index if isinstance(index, slice) else _index(self, index)]
        self._renumber(items)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))


class ModuleDict(Module):
    """An ordered dict of named sub-modules, registered so their parameters are found; no
    forward of its own."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key):
        return self._modules[key]

    def __setitem__(self, key, module):
        self.add_module(key, module)

    def __delitem__(self, key):
        del self._modules[key]

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def values(self):
        return self._modules.values()

    def items(self):
        return self._modules.items()

    def update(self, modules):
        """Add (name, module) pairs from a mapping or an iterable of pairs."""
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, m in pairs:
            self[key] = m

    def pop(self, key):
        return self._modules.pop(key)

    def clear(self):
        self._modules.clear()
