"""Adam and AdamW, as torch.optim.Adam / AdamW.

    t = t + 1
    g = grad + weight_decay * p           (Adam: L2 penalty in the gradient)
    p = p * (1 - lr * weight_decay)       (AdamW: decoupled decay, instead of the line above)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g^2
    v_max = max(v_max, v)                 (amsgrad; then v_max replaces v below)
    p = p - lr / (1 - beta1^t) * m / (sqrt(v / (1 - beta2^t)) + eps)
"""
import math

import numpy as np

from ..backends import c_omp
from .optimizer import Optimizer, fused_applies


class Adam(Optimizer):
    decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 *, maximize=False, fused=None):
        if lr < 0 or eps < 0 or weight_decay < 0 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"invalid {type(self).__name__} hyper-parameters lr={lr}, betas={betas}, "
                             f"eps={eps}, weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                                      fused=fused))

    def _fused_update(self, group, p, grad, state):
        """The rule below in one C pass (csrc/optim.c); the same state, so the two paths mix."""
        vmax = state.get("max_exp_avg_sq") if group["amsgrad"] else None
        if not fused_applies(group, p, grad, state.get("exp_avg"), state.get("exp_avg_sq"), vmax):
            return False
        if not state:
            state["step"] = 0
            state["exp_avg"], state["exp_avg_sq"] = np.zeros_like(p), np.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = vmax = np.zeros_like(p)
        state["step"] += 1
        c_omp.fused_adam_(p, grad, state["exp_avg"], state["exp_avg_sq"], vmax,
                          group["lr"], group["betas"][0], group["betas"][1], group["eps"], group["weight_decay"],
                          state["step"], self.decoupled, group.get("maximize", False))
        return True

    def _update(self, group, p, grad, state):
        # BEGIN LAB 7: update the array p in place by the rule in the module docstring (state keeps step, exp_avg, exp_avg_sq, max_exp_avg_sq)
        xp = _xp(p)
        lr, (beta1, beta2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        if not state:
            state["step"] = 0
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = xp.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        if wd and self.decoupled:
            p *= 1 - lr * wd
        elif wd:
            grad = grad + wd * p
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        if group["amsgrad"]:
            xp.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
            v = state["max_exp_avg_sq"]
        denom = xp.sqrt(v) / math.sqrt(1 - beta2 ** t) + eps
        p -= (lr / (1 - beta1 ** t)) * m / denom
        # END LAB 7


class AdamW(Adam):
    decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                 *, maximize=False, fused=None):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                         maximize=maximize, fused=fused)


def _xp(array):
    from ..device import array_module, device_of
    return array_module(device_of(array))
