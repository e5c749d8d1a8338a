"""Adagrad, as torch.optim.Adagrad.

    t = t + 1
    g = grad + weight_decay * p
    clr = lr / (1 + (t - 1) * lr_decay)
    s = s + g^2
    p = p - clr * g / (sqrt(s) + eps)
"""
from .adam import _xp
from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0, eps=1e-10,
                 *, maximize=False):
        if lr < 0 or lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise ValueError("invalid Adagrad hyper-parameters")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value, eps=eps,
                                      maximize=maximize))

    def _update(self, group, p, grad, state):
        xp = _xp(p)
        if not state:
            state["step"] = 0
            state["sum"] = xp.full_like(p, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        p -= clr * grad / (xp.sqrt(state["sum"]) + group["eps"])
