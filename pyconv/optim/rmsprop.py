"""RMSprop, as torch.optim.RMSprop.

    g = grad + weight_decay * p
    s = alpha * s + (1 - alpha) * g^2
    a = alpha * a + (1 - alpha) * g;  d = sqrt(s - a^2) + eps     (centered)
    d = sqrt(s) + eps                                             (otherwise)
    buf = momentum * buf + g / d;  p = p - lr * buf               (momentum > 0)
    p = p - lr * g / d                                            (otherwise)
"""
from .adam import _xp
from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False,
                 *, maximize=False):
        if lr < 0 or eps < 0 or weight_decay < 0 or momentum < 0 or not 0 <= alpha <= 1:
            raise ValueError(f"invalid RMSprop hyper-parameters lr={lr}, alpha={alpha}, eps={eps}, "
                             f"weight_decay={weight_decay}, momentum={momentum}")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, group, p, grad, state):
        xp = _xp(p)
        alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
        if not state:
            state["step"] = 0
            state["square_avg"] = xp.zeros_like(p)
            if group["momentum"] > 0:
                state["momentum_buffer"] = xp.zeros_like(p)
            if group["centered"]:
                state["grad_avg"] = xp.zeros_like(p)
        state["step"] += 1
        if group["weight_decay"]:
            grad = grad + group["weight_decay"] * p
        s = state["square_avg"]
        s *= alpha
        s += (1 - alpha) * grad * grad
        if group["centered"]:
            a = state["grad_avg"]
            a *= alpha
            a += (1 - alpha) * grad
            avg = xp.sqrt(s - a * a) + eps
        else:
            avg = xp.sqrt(s) + eps
        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += grad / avg
            p -= lr * buf
        else:
            p -= lr * grad / avg
