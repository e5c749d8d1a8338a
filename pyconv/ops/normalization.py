"""Batch normalisation and dropout, on raw numpy or cupy arrays.

Sizes: x (N,C) or (N,C,L) or (N,C,H,W); statistics are per channel C, over every other axis.
"""
import numbers

import numpy as np

from ..backends import c_omp
from ..device import array_module, device_of
from ..random import uniform
from ..tensor import Function, Tensor
from .conv import _check_float


def _xp(a):
    return array_module(device_of(a))


def _data(t):
    return t.data if isinstance(t, Tensor) else t


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1)."""

    def forward(self, x, *affine, running_mean, running_var, training, momentum, eps,
                has_weight, has_bias):
        xp = _xp(x)
        affine = list(affine)
        weight = affine.pop(0) if has_weight else None
        bias = affine.pop(0) if has_bias else None
        if x.ndim < 2:
            raise ValueError(f"batch_norm expects x of shape (N,C), (N,C,L) or (N,C,H,W), "
                             f"got x of shape {tuple(x.shape)}")
        _check_float("batch_norm", x=x, weight=weight, bias=bias)
        C = x.shape[1]
        for name, t in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
            if t is not None and tuple(t.shape) != (C,):
                raise ValueError(f"batch_norm: {name} must have shape ({C},) for x of shape "
                                 f"{tuple(x.shape)}, got {tuple(t.shape)}")
        self.axes = (0,) + tuple(range(2, x.ndim))
        self.shape = (1, C) + (1,) * (x.ndim - 2)  # per-channel values broadcast like this
        self.training, self.weight = training, weight
        self.in_c = x.size >= _C_MIN and c_omp.fast_path(x) and all(
            a is None or (c_omp.fast_path(a) and a.dtype == x.dtype) for a in (weight, bias))
        if self.in_c:
            return self._forward_c(x, weight, bias, running_mean, running_var, momentum, eps)
        if training:
            n = x.size // C
            if n <= 1:
                raise ValueError(f"batch_norm: training needs more than 1 value per channel, got "
                                 f"x of shape {tuple(x.shape)}")
            mean, var = x.mean(axis=self.axes), x.var(axis=self.axes)  # biased, to normalise
            _update_running(running_mean, running_var, mean, var, momentum, n)
        else:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm: inference (training=False) needs running_mean and "
                                 "running_var")
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        self.inv_std = (1 / xp.sqrt(var + eps)).reshape(self.shape)
        self.xhat = (x - mean.reshape(self.shape)) * self.inv_std
        y = self.xhat if weight is None else self.xhat * weight.reshape(self.shape)
        return y if bias is None else y + bias.reshape(self.shape)

    def _forward_c(self, x, weight, bias, running_mean, running_var, momentum, eps):
        """The same rules in one C call (csrc/batchnorm.c), statistics summed in double; keeps x,
        mean and invstd (backward recomputes xhat) instead of xhat."""
        C = x.shape[1]
        if not self.training:
            if running_mean is None or running_var is None:
                raise ValueError("batch_norm: inference (training=False) needs running_mean and "
                                 "running_var")
            mean = running_mean.astype(x.dtype)
            invstd = 1 / np.sqrt(running_var.astype(x.dtype) + eps)
        elif x.size // C <= 1:
            raise ValueError(f"batch_norm: training needs more than 1 value per channel, got "
                             f"x of shape {tuple(x.shape)}")
        else:
            mean = invstd = None
        y, self.mean, var, self.invstd = c_omp.batch_norm_forward(x, weight, bias, self.training, eps,
                                                                  mean, invstd)
        self.x = x
        if self.training:
            _update_running(running_mean, running_var, self.mean, var, momentum, x.size // C)
        return y

    def backward(self, grad):
        if self.in_c and c_omp.fast_path(grad, self.x):
            has_w = self.weight is not None
            has_b = len(self.needs_grad) > 1 + has_w
            need = (self.needs_grad[0], has_w and self.needs_grad[1], has_b and self.needs_grad[-1])
            dx, dw, db = c_omp.batch_norm_backward(grad, self.x, self.mean, self.invstd, self.weight,
                                                   self.training, need)
            return (dx,) + ((dw,) if has_w else ()) + ((db,) if has_b else ())
        axes, xhat = self.axes, self.xhat
        dxhat = grad if self.weight is None else grad * self.weight.reshape(self.shape)
        if self.training:  # mean and var depend on x too
            dx = self.inv_std * (dxhat - dxhat.mean(axis=axes, keepdims=True)
                                 - xhat * (dxhat * xhat).mean(axis=axes, keepdims=True))
        else:
            dx = dxhat * self.inv_std
        grads = [dx]
        if self.weight is not None:
            grads.append((grad * xhat).sum(axis=axes))
        if len(self.parents) > len(grads):  # bias
            grads.append(grad.sum(axis=axes))
        return tuple(grads)


# below this many elements numpy's ~10 small calls cost no more than the C call's checks
_C_MIN = 4096


def _update_running(running_mean, running_var, mean, var, momentum, n):
    """running = (1 - momentum) * running + momentum * batch statistic, in place; either running
    array may be None. The variance is made unbiased (n / (n - 1)), like PyTorch's."""
    if running_mean is not None:
        running_mean *= 1 - momentum
        running_mean += (momentum * mean).astype(running_mean.dtype)
    if running_var is not None:
        running_var *= 1 - momentum
        running_var += (momentum * n / (n - 1) * var).astype(running_var.dtype)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation over axis 1 of x (N,C), (N,C,L) or (N,C,H,W), as torch's F.batch_norm.

    training=True normalises with the batch mean and biased variance, and updates running_mean
    and running_var (Tensors or arrays, modified in place; either may be None) as
    running = (1 - momentum)*running + momentum*batch_stat, with the unbiased variance.
    training=False normalises with the running statistics. weight (gamma) and bias (beta) are
    optional (C,) tensors.
    """
    if not isinstance(momentum, numbers.Real):
        raise TypeError(f"batch_norm: momentum must be a number, got {momentum!r}")
    inputs = [input] + [t for t in (weight, bias) if t is not None]
    return BatchNorm.apply(*inputs, running_mean=_data(running_mean), running_var=_data(running_var),
                           training=bool(training), momentum=float(momentum), eps=float(eps),
                           has_weight=weight is not None, has_bias=bias is not None)


class Dropout(Function):
    def forward(self, x, *, p, generator=None):
        _check_float("dropout", x=x)
        u = uniform(x.shape, generator, device_of(x))  # None: the global generator
        self.mask = (u >= p).astype(x.dtype) * x.dtype.type(1 / (1 - p))
        return x * self.mask

    def backward(self, grad):
        return grad * self.mask


def dropout(input, p=0.5, training=True, inplace=False, generator=None):
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p),
    so the expectation is unchanged and inference (training=False) is the identity.

    p must lie in [0, 1]; p = 1 zeroes everything. inplace: accepted, but the result is always
    a new tensor (use the returned value). generator: an object with `.random(shape)` giving uniform [0, 1)
    samples, e.g. numpy.random.default_rng(seed) (cupy's for CUDA tensors); by default pyconv's
    global generator, which `pyconv.manual_seed` seeds."""
    if not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p!r}")
    x = input if isinstance(input, Tensor) else Tensor(input)
    if not training or p == 0:
        return x
    if p == 1:  # the 1/(1-p) scale is infinite; every element is dropped
        return x * 0
    return Dropout.apply(x, p=float(p), generator=generator)
