"""Loss functions, each a fused Function on raw arrays (numpy or cupy).

reduction: "mean" (default) averages the per-element (or per-sample) losses, "sum" adds them,
"none" returns them unreduced.

Elementwise losses (mse, l1, binary cross-entropy) need input and target of the same shape
and float dtype (no broadcasting, no silent promotion). Class losses (cross_entropy, nll_loss,
hinge_loss) take scores of shape (N, C) -- or (C,), or (N, C, d1, ...) with the class axis 1,
as in PyTorch -- and integer targets of shape (N,) (resp. (), (N, d1, ...)) in [0, C).
"""
import numpy as np

from ..device import array_module, device_of
from ..tensor import Function
from .conv import _check_float

REDUCTIONS = ("mean", "sum", "none")


def _xp(a):
    return array_module(device_of(a))


def _check_reduction(op, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _reduce(xp, loss, reduction):
    """The reduced loss as an array (a 0-d array, never a numpy scalar, for mean and sum)."""
    if reduction != "none":
        loss = loss.mean() if reduction == "mean" else loss.sum()
    return xp.asarray(loss)


def _spread(grad, shape, reduction):
    """The gradient of the reduction: grad of each unreduced loss element, of the given shape."""
    if reduction == "none":
        return grad
    n = int(np.prod(shape))
    return _xp(grad).broadcast_to(grad / n if reduction == "mean" else grad, shape)


def _check_pair(op, x, target):
    _check_float(op, input=x, target=target)
    if x.shape != target.shape:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} and target of shape "
                         f"{tuple(target.shape)} must have the same shape")


def _needs(fn, i):
    return fn.parents[i].requires_grad


class MSELoss(Function):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        _check_reduction("mse_loss", reduction)
        _check_pair("mse_loss", x, target)
        self.diff, self.reduction = x - target, reduction
        return _reduce(xp, self.diff * self.diff, reduction)

    def backward(self, grad):
        g = 2 * _spread(grad, self.diff.shape, self.reduction) * self.diff
        return g, (-g if _needs(self, 1) else None)


def mse_loss(input, target, reduction="mean"):
    """(input - target)^2, reduced."""
    return MSELoss.apply(input, target, reduction=reduction)


class L1Loss(Function):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        _check_reduction("l1_loss", reduction)
        _check_pair("l1_loss", x, target)
        diff = x - target
        self.sign, self.reduction = xp.sign(diff), reduction
        return _reduce(xp, xp.abs(diff), reduction)

    def backward(self, grad):
        g = _spread(grad, self.sign.shape, self.reduction) * self.sign  # subgradient 0 at 0
        return g, (-g if _needs(self, 1) else None)


def l1_loss(input, target, reduction="mean"):
    """|input - target|, reduced. The gradient at input == target is 0, as in PyTorch."""
    return L1Loss.apply(input, target, reduction=reduction)


class BinaryCrossEntropy(Function):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        _check_reduction("binary_cross_entropy", reduction)
        _check_pair("binary_cross_entropy", x, target)
        if x.size and bool(((x < 0) | (x > 1) | xp.isnan(x)).any()):
            raise ValueError(f"binary_cross_entropy: every input element must lie in [0, 1] "
                             f"(input shape {tuple(x.shape)}); for raw scores use "
                             f"binary_cross_entropy_with_logits")
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped below
            self.log_x = xp.maximum(xp.log(x), -100)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100)
        self.x, self.target, self.reduction = x, target, reduction
        return _reduce(xp, -(target * self.log_x + (1 - target) * self.log_1mx), reduction)

    def backward(self, grad):
        xp, x, t = _xp(grad), self.x, self.target
        g = _spread(grad, x.shape, self.reduction)
        dx = g * (x - t) / xp.maximum(x * (1 - x), 1e-12)  # PyTorch's clamp of the denominator
        dt = g * (self.log_1mx - self.log_x) if _needs(self, 1) else None
        return dx, dt


def binary_cross_entropy(input, target, reduction="mean"):
    """-(t*log(x) + (1-t)*log(1-x)) for probabilities x in [0, 1], reduced.

    Each log is clamped at -100 like PyTorch, so x = 0 or 1 gives a finite loss; the gradient
    divides by max(x*(1-x), 1e-12)."""
    return BinaryCrossEntropy.apply(input, target, reduction=reduction)


class BinaryCrossEntropyWithLogits(Function):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        _check_reduction("binary_cross_entropy_with_logits", reduction)
        _check_pair("binary_cross_entropy_with_logits", x, target)
        self.x, self.target, self.reduction = x, target, reduction
        # log(1 + exp(x)) - t*x, rewritten so that exp never overflows
        loss = xp.maximum(x, 0) - x * target + xp.log1p(xp.exp(-xp.abs(x)))
        return _reduce(xp, loss, reduction)

    def backward(self, grad):
        xp, x = _xp(grad), self.x
        g = _spread(grad, x.shape, self.reduction)
        e = xp.exp(-xp.abs(x))
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        return g * (sig - self.target), (-g * x if _needs(self, 1) else None)


def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """binary_cross_entropy(sigmoid(input), target) computed stably from the logits:
    max(x, 0) - x*t + log(1 + exp(-|x|))."""
    return BinaryCrossEntropyWithLogits.apply(input, target, reduction=reduction)


class _ClassLoss(Function):
    """Shared by the losses over class scores: validates integer targets and views the scores
    as rows (M, C) with one target label per row."""

    def _rows(self, op, x, target, reduction):
        _check_reduction(op, reduction)
        _check_float(op, input=x)
        if target.dtype.kind not in "iu":
            raise TypeError(f"{op}: target must hold integer class labels, got dtype {target.dtype}")
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have a class axis, got a scalar")
        expected = () if x.ndim == 1 else (x.shape[0],) + tuple(x.shape[2:])
        if tuple(target.shape) != expected:
            raise ValueError(f"{op}: target of shape {tuple(target.shape)} does not fit input of "
                             f"shape {tuple(x.shape)} (expected target shape {expected})")
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        if target.size:
            lo, hi = int(target.min()), int(target.max())
            if lo < 0 or hi >= C:
                bad = lo if lo < 0 else hi
                raise ValueError(f"{op}: class label {bad} is out of range [0, {C}) for input of "
                                 f"shape {tuple(x.shape)}")
        xp = _xp(x)
        self.x_shape, self.target_shape, self.reduction = x.shape, target.shape, reduction
        self.n_classes, self.dtype = C, x.dtype
        rows = xp.moveaxis(x, 1, -1).reshape(-1, C) if x.ndim > 1 else x.reshape(1, C)
        self.labels = target.reshape(-1)
        self.index = (xp.arange(rows.shape[0]), self.labels)
        return rows

    def _row_grad(self, grad):
        """(M,) gradient of each row's loss."""
        return _spread(grad, self.target_shape, self.reduction).reshape(-1)

    def _unrows(self, d):
        """(M, C) row gradients back to the input's shape."""
        if len(self.x_shape) == 1:
            return d.reshape(self.x_shape)
        moved = (self.x_shape[0],) + tuple(self.x_shape[2:]) + (self.x_shape[1],)
        return _xp(d).moveaxis(d.reshape(moved), -1, 1)


class CrossEntropy(_ClassLoss):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        rows = self._rows("cross_entropy", x, target, reduction)
        z = rows - rows.max(axis=1, keepdims=True)
        log_p = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))  # log-sum-exp, no overflow
        self.p = xp.exp(log_p)
        return _reduce(xp, -log_p[self.index].reshape(self.target_shape), reduction)

    def backward(self, grad):
        g = self._row_grad(grad)
        d = self.p * g[:, None]
        d[self.index] -= g
        return self._unrows(d), None


def cross_entropy(input, target, reduction="mean"):
    """-log softmax(input)[target] for integer class targets, reduced over the batch
    (reduction "mean" by default). Fused and stable: logits go through log-sum-exp once, and
    backward is softmax - one_hot(target). Class probabilities as targets, class weights,
    ignore_index and label smoothing are not supported."""
    return CrossEntropy.apply(input, target, reduction=reduction)


class NLLLoss(_ClassLoss):
    def forward(self, x, target, *, reduction="mean"):
        xp = _xp(x)
        rows = self._rows("nll_loss", x, target, reduction)
        return _reduce(xp, -rows[self.index].reshape(self.target_shape), reduction)

    def backward(self, grad):
        g = self._row_grad(grad)
        d = _xp(grad).zeros((g.shape[0], self.n_classes), dtype=self.dtype)
        d[self.index] = -g
        return self._unrows(d), None


def nll_loss(input, target, reduction="mean"):
    """-input[target] for log-probabilities input (e.g. from log_softmax), reduced.
    nll_loss(log_softmax(x), t) equals cross_entropy(x, t)."""
    return NLLLoss.apply(input, target, reduction=reduction)


class HingeLoss(_ClassLoss):
    def forward(self, x, target, *, margin=1.0, reduction="mean"):
        xp = _xp(x)
        rows = self._rows("hinge_loss", x, target, reduction)
        margins = rows - rows[self.index][:, None] + margin
        margins[self.index] = 0  # j == y is not summed
        self.active = margins > 0
        return _reduce(xp, xp.maximum(margins, 0).sum(axis=1).reshape(self.target_shape), reduction)

    def backward(self, grad):
        g = self._row_grad(grad)
        d = self.active * g[:, None]
        d[self.index] = -self.active.sum(axis=1) * g
        return self._unrows(d), None


def hinge_loss(input, target, margin=1.0, reduction="mean"):
    """Multi-class SVM loss (Weston-Watkins, as in CS231n): for each sample
    sum_{j != y} max(0, s_j - s_y + margin), then the mean over the batch (reduction="mean").

    Unlike PyTorch's multi_margin_loss, the per-sample sum is NOT divided by the number of
    classes C: hinge_loss(s, y) == C * multi_margin_loss(s, y) for p=1. The gradient of an
    inactive or exactly-zero margin is 0."""
    return HingeLoss.apply(input, target, margin=margin, reduction=reduction)
