"""Functional interface with PyTorch's names: `import pyconv.nn.functional as F`.

Everything here is re-exported from `pyconv.ops`, except `linear`, which is defined here:
x @ w.T + b fused into one Function on the backend's matmul primitives.
"""
from .. import backends
from ..device import array_module, device_of
from ..ops.activation import elu, leaky_relu, log_softmax, maxout, relu, sigmoid, softmax, tanh
from ..ops.conv import _check_float, conv2d
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                        hinge_loss, l1_loss, mse_loss, nll_loss)
from ..ops.norm import batch_norm, dropout
from ..ops.pool import avg_pool2d, max_pool2d, min_pool2d
from ..tensor import Function

__all__ = [
    "conv2d", "linear",
    "max_pool2d", "avg_pool2d", "min_pool2d",
    "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax", "maxout",
    "dropout", "batch_norm",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy", "nll_loss", "hinge_loss",
]


class Linear(Function):
    """y = x @ w.T + b with x (..., I), w (O, I), b (O,), y (..., O).

    The leading axes of x are flattened to M rows, so the backend sees one (1, M, I) @ (1, I, O)
    product; backward uses matmul_backward_a (dx = dy @ w) and matmul_backward_b (w.T's
    gradient x^T @ dy, transposed back to (O, I)).
    """

    def forward(self, x, w, b=None):
        if w.ndim != 2:
            raise ValueError(f"linear expects a 2-D weight w (out, in), got w of shape {tuple(w.shape)}")
        if x.ndim < 1 or x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input of shape {tuple(x.shape)} does not fit weight of shape "
                             f"{tuple(w.shape)} (need x.shape[-1] == w.shape[1] == {w.shape[1]})")
        if b is not None and tuple(b.shape) != (w.shape[0],):
            raise ValueError(f"linear: bias must have shape ({w.shape[0]},) for w of shape "
                             f"{tuple(w.shape)}, got b of shape {tuple(b.shape)}")
        _check_float("linear", x=x, w=w, b=b)
        xp = array_module(device_of(x))
        self.backend = backends.for_device(device_of(x))
        self.x_shape = x.shape
        self.a = xp.ascontiguousarray(x.reshape(1, -1, w.shape[1]))       # (1, M, I)
        self.wt = xp.ascontiguousarray(w.T)[None]                           # (1, I, O)
        y = self.backend.matmul(self.a, self.wt)[0]
        if b is not None:
            y += b
        return y.reshape(tuple(x.shape[:-1]) + (w.shape[0],))

    def backward(self, dy):
        xp = array_module(device_of(dy))
        need = [p.requires_grad for p in self.parents]
        dc = xp.ascontiguousarray(dy.reshape(1, -1, dy.shape[-1]))           # (1, M, O)
        dx = self.backend.matmul_backward_a(dc, self.wt).reshape(self.x_shape) if need[0] else None
        dw = xp.ascontiguousarray(self.backend.matmul_backward_b(self.a, dc)[0].T) if need[1] else None
        if len(need) == 2:
            return dx, dw
        return dx, dw, (dc[0].sum(axis=0) if need[2] else None)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, PyTorch's layout: weight is (out_features, in_features), input
    is (..., in_features)."""
    return Linear.apply(input, weight) if bias is None else Linear.apply(input, weight, bias)
