"""Gradient clipping, in place on `param.grad`, as torch.nn.utils.clip_grad_norm_ /
clip_grad_value_ (also reachable as pyconv.nn.utils.*)."""
import math

import numpy as np

from ..device import array_module, device_of
from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad.data for p in parameters if p.grad is not None]


def _total_norm(xp, grads, norm_type):
    """The norm of all gradients joined into one vector, a 0-d array of their dtype on their
    device. Each gradient is reduced on the device to one value, the values are stacked there and
    reduced once more: no value reaches the host."""
    if math.isinf(norm_type):
        return xp.asarray(xp.stack([xp.abs(g).max() for g in grads]).max(), dtype=grads[0].dtype)
    total = xp.stack([(xp.abs(g) ** norm_type).sum() for g in grads]).sum()
    return xp.asarray(total ** (1.0 / norm_type), dtype=grads[0].dtype)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False, foreach=None):
    """Scale all gradients together so that their joint norm is at most max_norm: each is
    multiplied by min(1, max_norm / (total_norm + 1e-6)). Returns the norm before clipping as a
    0-d Tensor (0 when no parameter has a gradient). error_if_nonfinite: raise RuntimeError when
    the norm is nan or inf instead of scaling by it. foreach (a PyTorch speed switch) is
    accepted; pyconv has one implementation.

    On the GPU nothing here waits for the device: the norm and the scale factor stay 0-d device
    arrays, so a training step is not stalled by a host round trip. Only error_if_nonfinite=True
    reads the norm back (once), since raising needs its value on the host, as in PyTorch."""
    grads = [g for g in _grads(parameters) if g.size]
    if not grads:
        return Tensor(np.zeros((), np.float32))
    xp = array_module(device_of(grads[0]))
    total = _total_norm(xp, grads, float(norm_type))
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(f"The total norm of order {float(norm_type)} for gradients from `parameters` "
                           f"is non-finite, so it cannot be clipped. To disable this error and scale "
                           f"the gradients by the non-finite norm anyway, set "
                           f"`error_if_nonfinite=False`")
    # min(max_norm / (total + 1e-6), 1) on the device; a factor of 1 leaves g unchanged exactly.
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef.astype(g.dtype)
    return Tensor(total)


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient element to [-clip_value, clip_value], in place. foreach is accepted
    as in clip_grad_norm_."""
    for g in _grads(parameters):
        array_module(device_of(g)).clip(g, -clip_value, clip_value, out=g)
