"""2-D convolution (cross-correlation, as in PyTorch) on the active backend.

Sizes: x (N,C,H,W) input, w (K,C,R,S) filters, b (K,) bias, y (N,K,P,Q) output.
The op layer validates and resolves the arguments; the heavy lifting is done by the backend
primitives `conv2d_forward`, `conv2d_backward_input`, `conv2d_backward_weight` and
`conv2d_backward_bias` (see `pyconv/backends/contract.py`); output sizes, padding and their
checks are `pyconv/backends/geometry.py`'s.
"""
import numbers

from .. import backends
from ..backends import geometry
from ..device import array_module, device_of
from ..tensor import Function, Tensor


def _check_float(op, **arrays):
    """All given arrays (None skipped) share one floating dtype; returns it."""
    given = {k: a for k, a in arrays.items() if a is not None}
    for name, a in given.items():
        if a.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating-point array, got dtype {a.dtype}")
    dtypes = {a.dtype for a in given.values()}
    if len(dtypes) > 1:
        desc = ", ".join(f"{k} {a.dtype} {tuple(a.shape)}" for k, a in given.items())
        raise TypeError(f"{op}: dtypes must match (no implicit promotion), got {desc}; "
                        f"convert with .float() or .double()")
    return dtypes.pop()


def _check_rank(x, w):
    if x.ndim != 4:
        raise ValueError(f"conv2d expects a 4-D input x (N,C,H,W), got x of shape {tuple(x.shape)}")
    if w.ndim != 4:
        raise ValueError(f"conv2d expects a 4-D weight w (K,C,R,S), got w of shape {tuple(w.shape)}")


@geometry.checked_once
def _geometry(x_shape, w_shape, b_shape, stride, padding, dilation):
    """(stride, padding, dilation) as the backends take them, after the checks every backend
    makes (channels, kernel fits, extents) and the bias's; kept per shape (checked_once)."""
    stride = geometry.positive_pair(stride, "stride", "conv2d")
    dilation = geometry.positive_pair(dilation, "dilation", "conv2d")
    padding = geometry.conv_padding(padding, x_shape, w_shape, stride, dilation)
    geometry.check_conv(x_shape, w_shape, stride, padding, dilation)
    K = w_shape[0]
    if b_shape is not None and b_shape != (K,):
        raise ValueError(f"conv2d: bias must have shape ({K},) for w of shape {w_shape}, "
                         f"got b of shape {b_shape}")
    return stride, padding, dilation


class Conv2d(Function):
    """y[n,k,p,q] = b[k] + sum_{c,r,s} x[n, c, p*sh - pt + r*dh, q*sw - pl + s*dw] * w[k,c,r,s]."""

    def forward(self, x, w, b=None, *, stride=1, padding=0, dilation=1):
        _check_rank(x, w)
        if not (x.dtype == w.dtype and x.dtype.kind == "f" and (b is None or b.dtype == x.dtype)):
            _check_float("conv2d", x=x, w=w, b=b)
        self.params = _geometry(tuple(x.shape), tuple(w.shape), None if b is None else tuple(b.shape),
                                stride, padding, dilation)
        xp = array_module(device_of(x))
        self.backend = backends.for_device(device_of(x))  # backward runs on the same backend
        self.x, self.w = xp.ascontiguousarray(x), xp.ascontiguousarray(w)
        b = None if b is None else xp.ascontiguousarray(b)
        return self.backend.conv2d_forward(self.x, self.w, b, *self.params)

    def backward(self, dy):
        be, (x, w) = self.backend, (self.x, self.w)
        dy = array_module(device_of(dy)).ascontiguousarray(dy)
        need = self.needs_grad
        dx = be.conv2d_backward_input(dy, w, x.shape, *self.params) if need[0] else None
        dw = be.conv2d_backward_weight(dy, x, w.shape, *self.params) if need[1] else None
        if len(need) == 2:
            return dx, dw
        db = be.conv2d_backward_bias(dy) if need[2] else None
        return dx, dw, db


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """2-D cross-correlation of input x (N,C,H,W) with filters weight w (K,C/groups,R,S) plus
    bias b (K,), PyTorch's F.conv2d.

    stride, dilation: int or (h, w) pair of positive ints.
    padding: a non-negative int, an (h, w) pair, a (top, bottom, left, right) 4-tuple,
      "valid" (no padding) or "same". "same" follows Keras/TensorFlow: the output is
      ceil(H/stride) x ceil(W/stride), the total padding of an axis is
      max((P-1)*stride + (R-1)*dilation + 1 - H, 0), split evenly with the extra pixel at the
      bottom/right. For stride 1 this equals PyTorch's padding="same" (which rejects stride > 1).
    groups: the channels split into `groups` independent convolutions, each of C/groups input
      and K/groups output channels (groups == C is a depthwise convolution).
    x, w (and b) must share a float dtype (float32 or float64): mixed dtypes raise TypeError
    instead of promoting silently. Returns y (N,K,P,Q) with
    P = (H + pt + pb - dilation*(R-1) - 1)//stride + 1 (likewise Q).
    """
    params = dict(stride=stride, padding=padding, dilation=dilation)
    if groups != 1:
        return _grouped_conv2d(input, weight, bias, groups, params)
    if bias is None:
        return Conv2d.apply(input, weight, **params)
    return Conv2d.apply(input, weight, bias, **params)


def _grouped_conv2d(x, w, b, groups, params):
    """One conv2d per group on channel slices, joined along the channels. The backends have no
    grouped primitive; slicing and concat carry the gradients back to each slice."""
    from .shape import concat
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    x, w = Tensor(x) if not isinstance(x, Tensor) else x, Tensor(w) if not isinstance(w, Tensor) else w
    _check_rank(x, w)
    C, (K, Cg) = x.shape[1], w.shape[:2]
    if C != Cg * groups or K % groups:
        raise ValueError(f"conv2d with groups={groups}: need input channels {C} == weight.shape[1] "
                         f"* groups = {Cg * groups} and output channels {K} divisible by groups "
                         f"(x shape {tuple(x.shape)}, w shape {tuple(w.shape)})")
    Kg = K // groups
    outs = []
    for g in range(groups):
        cin, cout = slice(g * Cg, (g + 1) * Cg), slice(g * Kg, (g + 1) * Kg)
        bias = None if b is None else b[cout]
        outs.append(conv2d(x[:, cin], w[cout], bias, **params))
    return concat(outs, axis=1)
