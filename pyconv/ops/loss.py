"""Loss functions, each a fused Function on raw arrays (numpy or cupy), with PyTorch's names,
arguments and formulas.

reduction: "mean" (default) averages the per-element (or per-sample) losses, "sum" adds them,
"none" returns them unreduced. The deprecated `size_average` and `reduce` flags are honoured as
PyTorch does (with its warning).

Elementwise losses (mse, l1, binary cross-entropy) need input and target of the same shape
and float dtype (no broadcasting, no silent promotion). Class losses (cross_entropy, nll_loss,
hinge_loss) take scores of shape (N, C) -- or (C,), or (N, C, d1, ...) with the class axis 1,
as in PyTorch -- and integer targets of shape (N,) (resp. (), (N, d1, ...)) in [0, C).
cross_entropy also takes class probabilities: a float target of the input's shape.

Optional weights are constants: they receive no gradient.
"""
import warnings

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


def legacy_reduction(size_average, reduce, reduction):
    """The reduction named by PyTorch's deprecated flags, when either is given: reduce=False
    means "none", else size_average=False means "sum", else "mean"."""
    if size_average is None and reduce is None:
        return reduction
    warnings.warn("size_average and reduce args will be deprecated, please use reduction='mean', "
                  "'sum' or 'none' instead.", UserWarning, stacklevel=3)
    if reduce is False:
        return "none"
    return "sum" if size_average is False else "mean"


def _reduce(xp, loss, reduction, denominator=None):
    """The reduced loss as an array (a 0-d array, never a numpy scalar, for mean and sum).
    mean divides the sum by `denominator` (default: the number of elements)."""
    if reduction == "sum":
        loss = loss.sum()
    elif reduction == "mean":
        with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 = nan, as PyTorch
            loss = loss.mean() if denominator is None else loss.sum() / denominator
    return xp.asarray(loss)


def _spread(grad, shape, reduction, denominator=None):
    """The gradient of the reduction: grad of each unreduced loss element, of the given shape."""
    if reduction == "none":
        return grad
    xp = _xp(grad)  # before dividing: a 0-d array over a number is a numpy scalar
    if reduction == "mean":
        grad = grad / (int(np.prod(shape)) if denominator is None else denominator)
    return xp.broadcast_to(grad, shape)


def _check_pair(op, x, target):
    _check_float(op, input=x, target=target)
    if x.shape != target.shape:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} and target of shape "
                         f"{tuple(target.shape)} must have the same shape")


def _check_weight(op, name, weight, x, same_shape=False):
    """weight (None allowed) is a float array of x's dtype that broadcasts to x (or has x's
    shape when same_shape)."""
    if weight is None:
        return
    _check_float(op, input=x, **{name: weight})
    fits = tuple(weight.shape) == tuple(x.shape) if same_shape else \
        np.broadcast_shapes(weight.shape, x.shape) == tuple(x.shape)
    if not fits:
        need = "have the same shape as" if same_shape else "broadcast to"
        raise ValueError(f"{op}: {name} of shape {tuple(weight.shape)} must {need} the input's "
                         f"shape {tuple(x.shape)}")


def _needs(fn, i):
    return fn.parents[i].requires_grad


class _Elementwise(Function):
    """Shared by the elementwise losses: loss = weight * f(input, target), reduced. `weight_mean`
    says whether "mean" divides by the sum of the weights (mse, l1) or by the element count
    (binary cross-entropy), as PyTorch does for each."""
    op = ""
    weight_mean = False

    def _setup(self, x, target, weights, reduction):
        _check_reduction(self.op, reduction)
        _check_pair(self.op, x, target)
        self.weight = weights[0] if weights else None
        _check_weight(self.op, "weight", self.weight, x, same_shape=self.weight_mean)
        self.reduction, self.shape = reduction, x.shape
        self.denominator = self.weight.sum() if self.weight_mean and self.weight is not None else None

    def _finish(self, xp, loss):
        if self.weight is not None:
            loss = loss * self.weight
        return _reduce(xp, loss, self.reduction, self.denominator)

    def _grad(self, grad):
        """Gradient of the reduced loss with respect to each unweighted loss element."""
        g = _spread(grad, self.shape, self.reduction, self.denominator)
        return g if self.weight is None else g * self.weight


class MSELoss(_Elementwise):
    op, weight_mean = "mse_loss", True

    def forward(self, x, target, *weight, reduction="mean"):
        self._setup(x, target, weight, reduction)
        self.diff = x - target
        return self._finish(_xp(x), self.diff * self.diff)

    def backward(self, grad):
        g = 2 * self._grad(grad) * self.diff
        return (g, (-g if _needs(self, 1) else None)) + (None,) * (len(self.parents) - 2)


def mse_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """(input - target)^2, reduced. With `weight` (input's shape) each squared error is
    weighted and "mean" divides by sum(weight)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return MSELoss.apply(input, target, *_given(weight), reduction=reduction)


class L1Loss(_Elementwise):
    op, weight_mean = "l1_loss", True

    def forward(self, x, target, *weight, reduction="mean"):
        xp = _xp(x)
        self._setup(x, target, weight, reduction)
        diff = x - target
        self.sign = xp.sign(diff)
        return self._finish(xp, xp.abs(diff))

    def backward(self, grad):
        g = self._grad(grad) * self.sign  # subgradient 0 at 0
        return (g, (-g if _needs(self, 1) else None)) + (None,) * (len(self.parents) - 2)


def l1_loss(input, target, size_average=None, reduce=None, reduction="mean", weight=None):
    """|input - target|, reduced. The gradient at input == target is 0, as in PyTorch. With
    `weight` (input's shape) "mean" divides by sum(weight)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return L1Loss.apply(input, target, *_given(weight), reduction=reduction)


class BinaryCrossEntropy(_Elementwise):
    op = "binary_cross_entropy"

    def forward(self, x, target, *weight, reduction="mean"):
        xp = _xp(x)
        self._setup(x, target, weight, reduction)
        # One reduction and one host read per call (on the GPU, a wait for the device): outside
        # [0, 1] the logs below are nan and the loss silently nan, so refusing needs the answer.
        if x.size and bool(((x < 0) | (x > 1) | xp.isnan(x)).any()):
            raise ValueError(f"binary_cross_entropy: every input element must lie in [0, 1] "
                             f"(input shape {tuple(x.shape)}); for raw scores use "
                             f"binary_cross_entropy_with_logits")
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped below
            self.log_x = xp.maximum(xp.log(x), -100)
            self.log_1mx = xp.maximum(xp.log1p(-x), -100)
        self.x, self.target = x, target
        return self._finish(xp, -(target * self.log_x + (1 - target) * self.log_1mx))

    def backward(self, grad):
        xp, x, t = _xp(grad), self.x, self.target
        g = self._grad(grad)
        dx = g * (x - t) / xp.maximum(x * (1 - x), 1e-12)  # PyTorch's clamp of the denominator
        dt = g * (self.log_1mx - self.log_x) if _needs(self, 1) else None
        return (dx, dt) + (None,) * (len(self.parents) - 2)


def binary_cross_entropy(input, target, weight=None, size_average=None, reduce=None, reduction="mean"):
    """-weight * (t*log(x) + (1-t)*log(1-x)) for probabilities x in [0, 1], reduced ("mean"
    divides by the element count, weighted or not). weight broadcasts to the input.

    Each log is clamped at -100 like PyTorch, so x = 0 or 1 gives a finite loss; the gradient
    divides by max(x*(1-x), 1e-12)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return BinaryCrossEntropy.apply(input, target, *_given(weight), reduction=reduction)


class BinaryCrossEntropyWithLogits(_Elementwise):
    op = "binary_cross_entropy_with_logits"

    def forward(self, x, target, *weights, reduction="mean", has_weight=False):
        xp = _xp(x)
        self._setup(x, target, weights[:1] if has_weight else (), reduction)
        self.pos_weight = weights[-1] if len(weights) > has_weight else None
        _check_weight(self.op, "pos_weight", self.pos_weight, x)
        self.x, self.target = x, target
        # -log(sigmoid(x)) = softplus(-x) and -log(1 - sigmoid(x)) = softplus(x), written so
        # that exp never overflows: softplus(x) = max(x, 0) + log1p(exp(-|x|))
        tail = xp.log1p(xp.exp(-xp.abs(x)))
        self.sp_pos, self.sp_neg = xp.maximum(x, 0) + tail, xp.maximum(-x, 0) + tail
        pos = target if self.pos_weight is None else self.pos_weight * target
        return self._finish(xp, pos * self.sp_neg + (1 - target) * self.sp_pos)

    def backward(self, grad):
        xp, x, t = _xp(grad), self.x, self.target
        g = self._grad(grad)
        e = xp.exp(-xp.abs(x))
        sig = xp.where(x >= 0, 1 / (1 + e), e / (1 + e))
        if self.pos_weight is None:
            dx, dt = g * (sig - t), -g * x
        else:  # d/dx = -pw*t*(1 - sig) + (1 - t)*sig
            dx = g * ((1 - t) * sig - self.pos_weight * t * (1 - sig))
            dt = g * (self.pos_weight * self.sp_neg - self.sp_pos)
        return (dx, dt if _needs(self, 1) else None) + (None,) * (len(self.parents) - 2)


def binary_cross_entropy_with_logits(input, target, weight=None, size_average=None, reduce=None,
                                     reduction="mean", pos_weight=None):
    """binary_cross_entropy(sigmoid(input), target, weight) computed stably from the logits:
    -weight * (pos_weight*t*log(sigmoid(x)) + (1-t)*log(1 - sigmoid(x))). pos_weight (one
    value per class, broadcast along the last axis) weighs the positive term."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    weights = _given(weight) + _given(pos_weight)
    return BinaryCrossEntropyWithLogits.apply(input, target, *weights, reduction=reduction,
                                              has_weight=weight is not None)


def _given(*tensors):
    """The optional inputs that are present, for Function.apply's positional inputs."""
    return tuple(t for t in tensors if t is not None)


class _ClassLoss(Function):
    """Shared by the losses over class scores: validates integer targets and views the scores
    as rows (M, C) with one target label per row. Rows whose label is `ignore_index` count for
    nothing (their `mask` is 0) and their label is read as 0."""

    def _rows(self, op, x, target, reduction, ignore_index=None):
        _check_reduction(op, reduction)
        _check_float(op, input=x)
        if x.ndim == 0:
            raise ValueError(f"{op}: input must have a class axis, got a scalar")
        xp = _xp(x)
        C = x.shape[0] if x.ndim == 1 else x.shape[1]
        self.x_shape, self.reduction, self.n_classes, self.dtype = x.shape, reduction, C, x.dtype
        self.target_shape = () if x.ndim == 1 else (x.shape[0],) + tuple(x.shape[2:])
        if target.dtype.kind == "f" and tuple(target.shape) == tuple(x.shape):
            self.labels = None  # class probabilities; the caller reads them as rows
        else:
            self._labels(op, xp, target, ignore_index)
        return self._as_rows(xp, x)

    def _labels(self, op, xp, target, ignore_index):
        if target.dtype.kind not in "iu":
            raise TypeError(f"{op}: target must hold integer class labels, got dtype {target.dtype} "
                            f"and shape {tuple(target.shape)} (a float target holds class "
                            f"probabilities and has the input's shape {tuple(self.x_shape)})")
        if tuple(target.shape) != self.target_shape:
            raise ValueError(f"{op}: target of shape {tuple(target.shape)} does not fit input of "
                             f"shape {tuple(self.x_shape)} (expected target shape {self.target_shape})")
        labels = target.reshape(-1)
        kept = labels != ignore_index if ignore_index is not None else xp.ones(labels.shape, dtype=bool)
        # The one host read (on the GPU, a wait for the device) of a call, after one reduction
        # over all labels: CuPy's integer indexing wraps an out-of-range label around instead of
        # raising, so without it such a label would silently pick another class's score. Only
        # the error path reads more (the label it reports).
        bad = kept & ((labels < 0) | (labels >= self.n_classes))
        if bool(bad.any()):
            label = int(labels[bad][0])
            raise ValueError(f"{op}: class label {label} is out of range [0, {self.n_classes}) for "
                             f"input of shape {tuple(self.x_shape)}")
        self.mask = kept.astype(self.dtype)
        self.labels = xp.where(kept, labels, 0)
        self.index = (xp.arange(labels.shape[0]), self.labels)

    def _as_rows(self, xp, a):
        """(M, C) rows of an array shaped like the input (class axis 1, or 0 when 1-D)."""
        C = self.n_classes
        return xp.moveaxis(a, 1, -1).reshape(-1, C) if a.ndim > 1 else a.reshape(1, C)

    def _class_weights(self, xp, weight):
        """(C,) class weights: `weight`, or ones."""
        if weight is None:
            return xp.ones(self.n_classes, dtype=self.dtype)
        if weight.dtype != self.dtype:
            raise TypeError(f"weight must have the input's dtype {self.dtype}, got {weight.dtype}")
        if tuple(weight.shape) != (self.n_classes,):
            raise ValueError(f"weight must hold one value per class: shape ({self.n_classes},) "
                             f"for input of shape {tuple(self.x_shape)}, got {tuple(weight.shape)}")
        return weight

    def _reduce_rows(self, xp, row_loss):
        return _reduce(xp, row_loss.reshape(self.target_shape), self.reduction, self.denominator)

    def _row_grad(self, grad):
        """(M,) gradient of each row's loss."""
        return _spread(grad, self.target_shape, self.reduction, self.denominator).reshape(-1)

    def _unrows(self, d):
        """(M, C) row gradients back to the input's shape."""
        if len(self.x_shape) == 1:
            return d.reshape(self.x_shape)
        moved = (self.x_shape[0],) + tuple(self.x_shape[2:]) + (self.x_shape[1],)
        return _xp(d).moveaxis(d.reshape(moved), -1, 1)


class CrossEntropy(_ClassLoss):
    """Each row's loss is -sum_c q[c] * log_softmax(x)[c] with the target distribution q:

        class labels y:        q = (1 - s) * w[y] * onehot(y) + (s / C) * w,  0 for ignored rows
        class probabilities t: q = ((1 - s) * t + s / C) * w

    (w the class weights, s the label smoothing). "mean" divides the sum of the row losses by
    sum(w[y]) over the rows not ignored (labels), or by the number of rows (probabilities).
    The gradient is q.sum() * softmax(x) - q per row.
    """

    def forward(self, x, target, *weight, reduction="mean", ignore_index=-100, label_smoothing=0.0):
        xp = _xp(x)
        rows = self._rows("cross_entropy", x, target, reduction, ignore_index)
        w = self._class_weights(xp, weight[0] if weight else None)
        s, C = label_smoothing, self.n_classes
        # BEGIN LAB 7: self.log_p = the log-softmax of each row of rows (M, C), without overflow for large logits
        z = rows - rows.max(axis=1, keepdims=True)
        self.log_p = z - xp.log(xp.exp(z).sum(axis=1, keepdims=True))  # log-sum-exp, no overflow
        # END LAB 7
        if self.labels is None:
            if ignore_index >= 0:
                raise ValueError("cross_entropy: ignore_index is not supported for class-probability "
                                 "targets")
            self.soft_scale = (1 - s) * w
            self.q = (self._as_rows(xp, target) * (1 - s) + s / C) * w
            self.denominator = rows.shape[0]
        else:
            self.q = xp.zeros_like(rows)
            self.q[self.index] = (1 - s) * w[self.labels]
            if s:
                self.q += (s / C) * w
            self.q *= self.mask[:, None]
            self.denominator = (w[self.labels] * self.mask).sum()
        return self._reduce_rows(xp, -(self.q * self.log_p).sum(axis=1))

    def backward(self, grad):
        g = self._row_grad(grad)[:, None]
        xp = _xp(grad)
        # BEGIN LAB 7: dx (M, C) = g times the gradient of each row's loss -sum_c q[c] * log_p[c] with respect to its logits
        dx = g * (xp.exp(self.log_p) * self.q.sum(axis=1, keepdims=True) - self.q)
        # END LAB 7
        dt = None
        if self.labels is None and _needs(self, 1):
            dt = self._unrows(-g * self.soft_scale * self.log_p)
        return (self._unrows(dx), dt) + (None,) * (len(self.parents) - 2)


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
                  reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits `input` (N, C) (or (C,), or (N, C, d1, ...)) against
    integer class labels (N,) or class probabilities of the input's shape, as PyTorch's:

      weight: (C,) class weights; "mean" then divides by the summed weights of the targets.
      ignore_index: rows with this label add nothing and are not counted in the mean.
      label_smoothing s in [0, 1]: the target becomes (1 - s) * target + s / C (uniform).

    Fused and stable: logits go through log-sum-exp once. See `CrossEntropy` for the formula.
    """
    reduction = legacy_reduction(size_average, reduce, reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got {label_smoothing}")
    return CrossEntropy.apply(input, target, *_given(weight), reduction=reduction,
                              ignore_index=int(ignore_index), label_smoothing=float(label_smoothing))


class NLLLoss(_ClassLoss):
    """Row loss -w[y] * x[y] (0 for ignored rows); "mean" divides by sum(w[y]) over the rows
    not ignored."""

    def forward(self, x, target, *weight, reduction="mean", ignore_index=-100):
        xp = _xp(x)
        rows = self._rows("nll_loss", x, target, reduction, ignore_index)
        if self.labels is None:
            raise TypeError("nll_loss: target must hold integer class labels, got a float target")
        w = self._class_weights(xp, weight[0] if weight else None)
        self.scale = w[self.labels] * self.mask
        self.denominator = self.scale.sum()
        return self._reduce_rows(xp, -rows[self.index] * self.scale)

    def backward(self, grad):
        g = self._row_grad(grad)
        d = _xp(grad).zeros((g.shape[0], self.n_classes), dtype=self.dtype)
        d[self.index] = -g * self.scale
        return (self._unrows(d),) + (None,) * (len(self.parents) - 1)


def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-weight[target] * input[target] for log-probabilities input (e.g. from log_softmax),
    reduced; "mean" divides by the summed weights of the targets not equal to ignore_index.
    nll_loss(log_softmax(x, 1), t) equals cross_entropy(x, t)."""
    reduction = legacy_reduction(size_average, reduce, reduction)
    return NLLLoss.apply(input, target, *_given(weight), reduction=reduction,
                         ignore_index=int(ignore_index))


class HingeLoss(_ClassLoss):
    def forward(self, x, target, *, margin=1.0, reduction="mean"):
        xp = _xp(x)
        rows = self._rows("hinge_loss", x, target, reduction)
        if self.labels is None:
            raise TypeError("hinge_loss: target must hold integer class labels, got a float target")
        self.denominator = None
        margins = rows - rows[self.index][:, None] + margin
        margins[self.index] = 0  # j == y is not summed
        self.active = margins > 0
        return self._reduce_rows(xp, xp.maximum(margins, 0).sum(axis=1))

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
