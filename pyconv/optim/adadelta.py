"""Adadelta, as torch.optim.Adadelta.

    g = grad + weight_decay * p
    v = rho * v + (1 - rho) * g^2
    delta = sqrt(u + eps) / sqrt(v + eps) * g
    u = rho * u + (1 - rho) * delta^2
    p = p - lr * delta
"""
from .adam import _xp
from .optimizer import Optimizer


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 maximize=False):
        """foreach (a PyTorch speed switch) is accepted; pyconv has one implementation."""
        if lr < 0 or not 0 <= rho <= 1 or eps < 0 or weight_decay < 0:
            raise ValueError(f"invalid Adadelta hyper-parameters lr={lr}, rho={rho}, eps={eps}, "
                             f"weight_decay={weight_decay}")
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, group, p, grad, state):
        xp = _xp(p)
        rho, eps = group["rho"], group["eps"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            state["acc_delta"] = xp.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * grad * grad
        delta = xp.sqrt(u + eps) / xp.sqrt(v + eps) * grad
        u *= rho
        u += (1 - rho) * delta * delta
        p -= group["lr"] * delta
