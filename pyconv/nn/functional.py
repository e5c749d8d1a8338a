"""Functional interface with PyTorch's names and arguments: `import pyconv.nn.functional as F`.

Everything here is re-exported from `pyconv.ops`, except what is defined here: `linear`
(x @ w.T + b fused into one Function on the backend's matmul primitives), `pad` (PyTorch's
argument order and modes) and `one_hot`.
"""
import numbers

import numpy as np

from .. import backends
from ..device import array_module, device_of
from ..ops.activation import elu, leaky_relu, log_softmax, maxout, relu, sigmoid, softmax, tanh
from ..ops.conv import _check_float, conv2d
from ..ops.loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                        hinge_loss, l1_loss, mse_loss, nll_loss)
from ..ops.normalization import batch_norm, dropout
from ..ops.pool import (adaptive_avg_pool2d, adaptive_max_pool2d, avg_pool2d, max_pool2d,
                        min_pool2d)
from ..ops.shape import pad as _pad_numpy_order
from ..tensor import Function, Tensor

__all__ = [
    "conv2d", "linear", "pad", "one_hot",
    "max_pool2d", "avg_pool2d", "min_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
    "relu", "leaky_relu", "elu", "sigmoid", "tanh", "softmax", "log_softmax", "maxout",
    "dropout", "batch_norm",
    "mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "cross_entropy", "nll_loss", "hinge_loss",
]


class Linear(Function):
    """y = x @ w.T + b with x (..., I), w (O, I), b (O,), y (..., O).

    The leading axes of x are flattened to M rows, so the backend sees (1, M, I) products with
    w read in its own (O, I) layout, never transposed: y = x w^T is matmul_backward_a's product
    (dc @ b^T), dx = dy w is matmul's, and w's gradient dy^T x is matmul_backward_b's (a^T @ dc),
    already (O, I).
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
        self.w = xp.ascontiguousarray(w)[None]                              # (1, O, I)
        y = self.backend.matmul_backward_a(self.a, self.w)[0]              # x @ w^T: (M, O)
        if b is not None:
            y += b
        return y.reshape(tuple(x.shape[:-1]) + (w.shape[0],))

    def backward(self, dy):
        xp = array_module(device_of(dy))
        need = self.needs_grad
        dc = xp.ascontiguousarray(dy.reshape(1, -1, dy.shape[-1]))           # (1, M, O)
        dx = self.backend.matmul(dc, self.w).reshape(self.x_shape) if need[0] else None
        dw = self.backend.matmul_backward_b(dc, self.a)[0] if need[1] else None   # dy^T @ x: (O, I)
        if len(need) == 2:
            return dx, dw
        return dx, dw, (dc[0].sum(axis=0) if need[2] else None)


def linear(input, weight, bias=None):
    """input @ weight.T + bias, PyTorch's layout: weight is (out_features, in_features), input
    is (..., in_features)."""
    return Linear.apply(input, weight) if bias is None else Linear.apply(input, weight, bias)


# numpy's names of PyTorch's padding modes
_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(input, pad, mode="constant", value=None):
    """Pad (or, with negative sizes in "constant" mode, crop) the last len(pad) // 2 axes, as
    PyTorch's F.pad: `pad` lists (before, after) pairs from the LAST axis backwards, so
    (1, 1, 2, 0) pads the last axis by 1 on each side and the one before it by 2 at the start.

    mode: "constant" (with `value`, default 0), "reflect" (mirror without repeating the edge;
    each size below the axis' length), "replicate" (repeat the edge) or "circular" (wrap
    around; each size at most the axis' length). Gradients flow back to the input (to every
    element that a padded cell copies, in the other modes)."""
    x = input if isinstance(input, Tensor) else Tensor(input)
    sizes = [int(p) for p in pad]
    if len(sizes) % 2 or len(sizes) // 2 > x.ndim:
        raise ValueError(f"pad: the padding length must be even and at most twice the input's "
                         f"{x.ndim} dimensions, got {tuple(pad)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(sizes) // 2):
        widths[x.ndim - 1 - i] = (sizes[2 * i], sizes[2 * i + 1])
    if mode == "constant":
        return _pad_constant(x, widths, 0 if value is None else value)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if value not in (None, 0):
        raise ValueError(f"pad: mode {mode!r} takes no value, got value={value!r}")
    for axis, (before, after) in enumerate(widths):
        if before or after:
            x = _pad_by_index(x, axis, before, after, mode)
    return x


def _pad_constant(x, widths, value):
    """Negative widths crop first; the rest is padded with `value`."""
    if any(w < 0 for pair in widths for w in pair):
        x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for (b, a), n in zip(widths, x.shape))]
        widths = [(max(b, 0), max(a, 0)) for b, a in widths]
    return _pad_numpy_order(x, widths, value=value)


def _pad_by_index(x, axis, before, after, mode):
    """One axis padded by gathering its own elements: the gather's gradient adds each padded
    cell's gradient to the element it copies."""
    n = x.shape[axis]
    if min(before, after) < 0:
        raise ValueError(f"pad: negative sizes are only supported in 'constant' mode, got "
                         f"({before}, {after}) for axis {axis} in mode {mode!r}")
    limit = n - 1 if mode == "reflect" else n
    if max(before, after) > limit:
        raise ValueError(f"pad: {mode} padding of ({before}, {after}) is too large for axis {axis} "
                         f"of size {n} (at most {limit})")
    index = np.pad(np.arange(n), (before, after), mode=_PAD_MODES[mode])
    return x[(slice(None),) * axis + (index,)]


def one_hot(tensor, num_classes=-1):
    """(*, num_classes) int64 tensor with a 1 at each integer class of `tensor` (*), PyTorch's
    F.one_hot; num_classes=-1 means the largest class + 1."""
    t = tensor if isinstance(tensor, Tensor) else Tensor(tensor)
    if t.dtype.kind not in "iu":
        raise TypeError(f"one_hot is only applicable to index tensors (integers), got dtype {t.dtype}")
    labels = t.data
    if labels.size and int(labels.min()) < 0:
        raise ValueError("one_hot: class values must be non-negative")
    if num_classes == -1:
        num_classes = int(labels.max()) + 1 if labels.size else 0
        if not labels.size:
            raise ValueError("one_hot: cannot infer the number of classes from an empty tensor")
    if not isinstance(num_classes, numbers.Integral) or num_classes < 1:
        raise ValueError(f"one_hot: num_classes must be a positive int or -1, got {num_classes!r}")
    if labels.size and int(labels.max()) >= num_classes:
        raise ValueError(f"one_hot: class values must be smaller than num_classes {num_classes}, "
                         f"got {int(labels.max())}")
    xp = array_module(t.device)
    return Tensor((labels[..., None] == xp.arange(num_classes)).astype(np.int64))
