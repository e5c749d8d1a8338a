"""L1 and L2 weight penalties as differentiable scalars, to add to a loss:

    loss = F.cross_entropy(model(x), y) + 1e-4 * l2_penalty(model.parameters())

l2_penalty is sum(p^2) / 2 over all parameters (its gradient is p, so lambda * l2_penalty matches
SGD's weight_decay=lambda); l1_penalty is sum(|p|) (gradient sign(p)).
"""
from ..device import array_module, device_of
from ..tensor import Function


class _L2(Function):
    def forward(self, *arrays):
        self.arrays = arrays
        xp = array_module(device_of(arrays[0]))
        return xp.asarray(sum((a * a).sum() for a in arrays) * arrays[0].dtype.type(0.5), dtype=arrays[0].dtype)

    def backward(self, grad):
        return tuple(grad * a for a in self.arrays)


class _L1(Function):
    def forward(self, *arrays):
        self.arrays = arrays
        xp = array_module(device_of(arrays[0]))
        return xp.asarray(sum(abs(a).sum() for a in arrays), dtype=arrays[0].dtype)

    def backward(self, grad):
        xp = array_module(device_of(self.arrays[0]))
        return tuple(grad * xp.sign(a) for a in self.arrays)


def _as_0d(fn, params):
    params = [params] if hasattr(params, "data") else list(params)
    if not params:
        raise ValueError("penalty of an empty parameter list")
    return fn.apply(*params)


def l2_penalty(params):
    """sum over params of sum(p^2) / 2, a differentiable 0-d Tensor."""
    return _as_0d(_L2, params)


def l1_penalty(params):
    """sum over params of sum(|p|), a differentiable 0-d Tensor."""
    return _as_0d(_L1, params)
