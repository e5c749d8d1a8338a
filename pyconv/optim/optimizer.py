"""Optimizer base class: parameter groups, per-parameter state, zero_grad, state_dict.

Updates run on the raw arrays (`param.data`, numpy or cupy) in place, with the array module of
each parameter, so the same code serves both devices and records no graph.
"""
import copy

import numpy as np

from ..device import move
from ..tensor import no_grad


class Optimizer:
    def __init__(self, params, defaults):
        self.defaults = dict(defaults)
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for group in groups:
            self.add_param_group(group)
        self.state = {}  # id(param) -> dict of arrays and numbers

    def add_param_group(self, group):
        group = dict(group)
        group["params"] = list(group["params"])
        for p in group["params"]:
            if not getattr(p, "requires_grad", False):
                raise ValueError("optimizer can only optimize tensors that require grad")
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in group["params"]):
            raise ValueError("a parameter appears in more than one parameter group")
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
                    yield group, p, p.grad.data, self.state.setdefault(id(p), {})

    def step(self):
        with no_grad():
            for group, p, grad, state in self._params_with_grad():
                self._update(group, p.data, grad, state)

    def _update(self, group, param, grad, state):
        """Update the array `param` in place from `grad`; keep what persists in `state`."""
        raise NotImplementedError

    # -- state_dict -----------------------------------------------------------------------
    def state_dict(self):
        """{"state": {index: {name: numpy array or number}}, "param_groups": [...]}, parameters
        named by their position across groups, as in PyTorch."""
        index, groups = 0, []
        state = {}
        for group in self.param_groups:
            g = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            g["params"] = list(range(index, index + len(group["params"])))
            for i, p in zip(g["params"], group["params"]):
                if id(p) in self.state:
                    state[i] = {k: (move(v, "cpu").copy() if hasattr(v, "shape") else v)
                                for k, v in self.state[id(p)].items()}
            index += len(group["params"])
            groups.append(g)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
                len(g["params"]) != len(mine["params"]) for g, mine in zip(groups, self.param_groups)):
            raise ValueError("loaded state dict does not match this optimizer's parameter groups")
        by_index = {}
        for g, mine in zip(groups, self.param_groups):
            for i, p in zip(g["params"], mine["params"]):
                by_index[i] = p
            mine.update({k: copy.deepcopy(v) for k, v in g.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = by_index[int(i)]
            self.state[id(p)] = {k: (move(np.array(v, dtype=p.dtype), p.device) if hasattr(v, "shape") else v)
                                 for k, v in s.items()}

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])
