"""Stochastic gradient descent with momentum, as torch.optim.SGD.

    g = grad + weight_decay * p
    buf = g                                   (first step)
    buf = momentum * buf + (1 - dampening) * g  (later steps)
    g = g + momentum * buf   if nesterov else   g = buf
    p = p - lr * g
"""
import numpy as np

from ..backends import c_omp
from .optimizer import Optimizer, fused_applies


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                 *, maximize=False, fused=None):
        if lr < 0 or momentum < 0 or weight_decay < 0:
            raise ValueError(f"invalid SGD hyper-parameters lr={lr}, momentum={momentum}, weight_decay={weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                                      fused=fused))

    def _fused_update(self, group, p, grad, state):
        """The rule below in one C pass (csrc/optim.c); the same state, so the two paths mix."""
        momentum = group["momentum"]
        if not fused_applies(group, p, grad, state.get("momentum_buffer")):
            return False
        first = momentum and "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = np.empty_like(p)
        c_omp.fused_sgd_(p, grad, state["momentum_buffer"] if momentum else None, group["lr"], momentum,
                         group["dampening"], group["weight_decay"], group["nesterov"], first,
                         group.get("maximize", False))
        return True

    def _update(self, group, p, grad, state):
        # BEGIN LAB 7: update the array p in place by the rule in the module docstring (state keeps momentum_buffer)
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        momentum = group["momentum"]
        if momentum:
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = grad.copy()
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            buf = state["momentum_buffer"]
            grad = grad + momentum * buf if group["nesterov"] else buf
        p -= group["lr"] * grad
        # END LAB 7
