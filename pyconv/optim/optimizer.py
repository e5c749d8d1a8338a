"""Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict, as
torch.optim.Optimizer.

`self.state[p]` is a dict per parameter Tensor (a defaultdict(dict)), `self.param_groups` a
list of dicts (the parameters under "params", the hyper-parameters beside them, filled from
`self.defaults`). pyconv's own optimizers define `_update`, which updates the raw array
(`param.data`, numpy or cupy) in place with the array module of each parameter, so the same
code serves both devices and records no graph; their state holds raw arrays. An optimizer
written as for PyTorch instead overrides `step(self, closure=None)` (decorated with
`@pyconv.no_grad()`) and works on the Tensors; its state holds Tensors.

Every built-in optimizer takes PyTorch's keyword `maximize`: the update then ascends the
objective (the gradient is negated before the rule, as in PyTorch).

SGD and Adam (AdamW) also take PyTorch's `fused`: their whole update of one parameter in one C
call (csrc/optim.c), instead of ~10 numpy passes over it. None (the default) takes it wherever it
applies: the c backend active, parameter, gradient and state float32/float64 C-contiguous numpy
arrays of one dtype; the numpy `_update` runs elsewhere. True requires it (an error where it does
not apply), False never takes it (the labs grade `_update` so).
"""
import copy
from collections import defaultdict

import numpy as np

from ..backends import c_omp
from ..device import move
from ..tensor import Tensor, enable_grad, no_grad


class Optimizer:
    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got a Tensor")
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group):
        """Add a group: {"params": tensors, hyper-parameter: value, ...}; missing
        hyper-parameters take the optimizer's defaults."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if isinstance(params, Tensor) else list(params)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none or p.grad is None:
                    p.grad = None
                else:
                    p.grad.data[...] = 0

    def _params_with_grad(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    yield group, p, p.grad.data, self.state[p]

    def step(self, closure=None):
        """One update of every parameter that has a gradient. closure: a function that
        re-evaluates the model and returns the loss (run with gradients enabled); its loss
        is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group, p, grad, state in self._params_with_grad():
                if self._fused_update(group, p.data, grad, state):
                    continue
                if group.get("maximize"):  # ascend: every rule starts from the negated gradient
                    grad = -grad
                self._update(group, p.data, grad, state)
        return loss

    def _fused_update(self, group, param, grad, state):
        """The C kernel's update of `param` (see the module docstring); False when it does not
        apply and `_update` is to run. Optimizers without one return False."""
        return False

    def _update(self, group, param, grad, state):
        """Update the array `param` in place from `grad`; keep what persists in `state`."""
        raise NotImplementedError(f"{type(self).__name__} defines neither step() nor _update()")

    def _holds_tensors(self):
        """Whether the state holds Tensors (an optimizer written as for PyTorch) rather than
        raw arrays (pyconv's own, which define _update)."""
        return type(self)._update is Optimizer._update

    # -- state_dict -----------------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: numpy array or number}}, "param_groups": [...]}, parameters
        named by their position across groups, as in PyTorch. Tensors and arrays are saved
        as numpy copies."""
        index, groups = 0, []
        state = {}
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = list(range(index, index + len(group["params"])))
            for i, p in zip(g["params"], group["params"]):
                if self.state.get(p):
                    state[i] = {k: _saved(v) for k, v in self.state[p].items()}
            index += len(group["params"])
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Restore hyper-parameters and state saved by state_dict(); arrays go to each
        parameter's device and (floating) dtype."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(mine["params"]) for g, mine in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict does not match this optimizer's parameter groups")
        by_index = {}
        for g, mine in zip(groups, self.param_groups):
            for i, p in zip(g["params"], mine["params"]):
                by_index[i] = p
            mine.update({k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
        self.state = defaultdict(dict)
        as_tensor = self._holds_tensors()
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[p] = {k: _restored(v, p, as_tensor) for k, v in s.items()}

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _saved(value):
    if isinstance(value, Tensor):
        return value.numpy().copy()
    return move(value, "cpu").copy() if hasattr(value, "shape") else copy.deepcopy(value)


def _restored(value, param, as_tensor):
    if not hasattr(value, "shape"):
        return value
    value = np.asarray(value)
    if value.dtype.kind == "f":  # integer state (a step count) keeps its dtype
        value = value.astype(param.dtype)
    array = move(np.array(value), param.device)
    return Tensor(array) if as_tensor else array


def fused_applies(group, *arrays):
    """Whether a fused C update applies to these arrays (param, grad, then the state; None entries
    skipped) under
    the group's `fused` setting; raises for fused=True where it cannot apply."""
    fused = group.get("fused")
    if fused is False:
        return False
    given = [a for a in arrays if a is not None]
    ok = c_omp.fast_path(*given) and given[0].flags.writeable
    for state in given[2:]:     # all but the gradient are written
        ok = ok and state.flags.writeable
    if not ok and fused:
        raise RuntimeError("fused=True needs the c backend active and the parameter, its gradient and "
                           "its state as float32 or float64 C-contiguous CPU arrays of one dtype")
    return ok
