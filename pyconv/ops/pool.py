"""2-D max, min, average and adaptive pooling, with PyTorch's arguments.

Sizes: x (N,C,H,W) input, window (R,S), y (N,C,P,Q) output with
P = (H + 2*ph - R)//sh + 1, Q = (W + 2*pw - S)//sw + 1 (ceil_mode: rounded up, as PyTorch);
pyconv/backends/geometry.py computes and checks them.
Max/min pooling save the index of the chosen element in forward and route the gradient to
it in backward; average pooling counts padded zeros (PyTorch's count_include_pad=True) unless
told otherwise. The fixed-window pools run on the active backend; ceil_mode pads the input on
the bottom/right first, and the other divisors of average pooling rescale the backend's
result. Adaptive pools run on the array module (numpy or cupy), one bin at a time.
"""
import numbers

import numpy as np

from .. import backends
from ..backends import geometry
from ..device import array_module, device_of
from ..tensor import Function, Tensor
from .conv import _check_float


def _pool_params(op, x, kernel_size, stride, padding):
    """Validated ((R, S), (sh, sw), (ph, pw)); stride defaults to the kernel size."""
    if x.ndim != 4:
        raise ValueError(f"{op} expects a 4-D input x (N,C,H,W), got x of shape {tuple(x.shape)}")
    _check_float(op, x=x)
    kernel = geometry.positive_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else geometry.positive_pair(stride, "stride", op)
    pad = geometry.pool_padding(padding, op)
    geometry.check_pool(tuple(x.shape), kernel, stride, pad, op)
    return kernel, stride, pad


def _contiguous(a):
    return array_module(device_of(a)).ascontiguousarray(a)


class MaxPool2d(Function):
    """y[n,c,p,q] = max of x over window (p, q); the gradient goes to the (first) maximum.
    `saved`, when given, is a dict that receives the argmax indices ("idx")."""

    def forward(self, x, *, kernel_size, stride=None, padding=0, saved=None):
        params = _pool_params("max_pool2d", x, kernel_size, stride, padding)
        self.backend = backends.for_device(device_of(x))
        self.x_shape = tuple(x.shape)
        y, self.idx = self.backend.max_pool2d_forward(_contiguous(x), *params)
        if saved is not None:
            saved["idx"] = self.idx
        return y

    def backward(self, dy):
        return self.backend.max_pool2d_backward(_contiguous(dy), self.idx, self.x_shape)


def _ceil_extra(x, kernel, stride, pad, ceil_mode):
    """Rows and columns that ceil_mode adds after the bottom/right padding: (eh, ew)."""
    return geometry.ceil_mode_extra(*x.shape[2:], kernel, stride, pad) if ceil_mode else (0, 0)


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _padded_for_ceil(x, pad, extra, fill):
    """x padded by `pad` on every side plus `extra` on the bottom/right, with `fill`."""
    from .shape import pad as pad_op
    widths = ((0, 0), (0, 0), (pad[0], pad[0] + extra[0]), (pad[1], pad[1] + extra[1]))
    return pad_op(x, widths, value=fill)


def _check_dilation(op, dilation):
    if geometry.pair(dilation, "dilation") != (1, 1):
        raise NotImplementedError(f"{op}: dilation {dilation!r} is not supported (only 1)")


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False):
    """Max pooling of x (N,C,H,W), PyTorch's F.max_pool2d. kernel_size, stride (default:
    kernel_size), padding: int or pair; padding (read as -inf) must be at most half the kernel.
    ceil_mode rounds the output size up. return_indices: also return the int64 indices
    (N,C,P,Q) of the maxima, flat h*W + w in each input plane. dilation must be 1."""
    _check_dilation("max_pool2d", dilation)
    x = _as_tensor(input)
    kernel, stride, pad = _pool_params("max_pool2d", x, kernel_size, _stride_or_none(stride), padding)
    extra = _ceil_extra(x, kernel, stride, pad, ceil_mode)
    source, pad_given = x, pad
    if any(extra):
        source, pad_given = _padded_for_ceil(x, pad, extra, -np.inf), (0, 0)
    saved = {}
    y = MaxPool2d.apply(source, kernel_size=kernel, stride=stride, padding=pad_given, saved=saved)
    if not return_indices:
        return y
    idx = saved["idx"]
    if any(extra):  # indices into the padded plane, back to the input's plane
        Wp = source.shape[3]
        idx = (idx // Wp - pad[0]) * x.shape[3] + (idx % Wp - pad[1])
    return y, Tensor(idx)


def _stride_or_none(stride):
    """PyTorch reads an empty stride list like None (the kernel size)."""
    return None if stride is None or (isinstance(stride, (tuple, list)) and not stride) else stride


class MinPool2d(Function):
    """y[n,c,p,q] = min of x over window (p, q); the gradient goes to the (first) minimum."""

    def forward(self, x, *, kernel_size, stride=None, padding=0):
        params = _pool_params("min_pool2d", x, kernel_size, stride, padding)
        self.backend = backends.for_device(device_of(x))
        self.x_shape = tuple(x.shape)
        y, self.idx = self.backend.min_pool2d_forward(_contiguous(x), *params)
        return y

    def backward(self, dy):
        return self.backend.min_pool2d_backward(_contiguous(dy), self.idx, self.x_shape)


def min_pool2d(input, kernel_size, stride=None, padding=0):
    """Min pooling of x (N,C,H,W), arguments as max_pool2d (without its options); padding
    reads as +inf."""
    return MinPool2d.apply(input, kernel_size=kernel_size, stride=stride, padding=padding)


class AvgPool2d(Function):
    """y[n,c,p,q] = sum of x over window (p, q) / (R*S), padded zeros included."""

    def forward(self, x, *, kernel_size, stride=None, padding=0):
        self.params = _pool_params("avg_pool2d", x, kernel_size, stride, padding)
        self.backend = backends.for_device(device_of(x))
        self.x_shape = tuple(x.shape)
        return self.backend.avg_pool2d_forward(_contiguous(x), *self.params)

    def backward(self, dy):
        return self.backend.avg_pool2d_backward(_contiguous(dy), self.x_shape, *self.params)


def _avg_divisors(x_shape, kernel, stride, pad, out_shape, count_include_pad):
    """PyTorch's divisor of each output window (P, Q): the window clipped to the padded input
    (count_include_pad) or to the input itself."""
    axes = []
    for n, k, s, p, out in zip(x_shape[2:], kernel, stride, pad, out_shape[2:]):
        start = np.arange(out) * s - p
        end = np.minimum(start + k, n + p)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, n)
        axes.append(end - start)
    return np.outer(axes[0], axes[1])


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Average pooling of x (N,C,H,W), PyTorch's F.avg_pool2d; kernel_size, stride, padding
    and ceil_mode as max_pool2d. Each window sum is divided by divisor_override if given, else
    by the window's size clipped to the padded input (count_include_pad=True: padded zeros
    count, R*S except for windows that ceil_mode lets hang past the padding) or to the input
    (count_include_pad=False)."""
    x = _as_tensor(input)
    kernel, stride, pad = _pool_params("avg_pool2d", x, kernel_size, _stride_or_none(stride), padding)
    if divisor_override is not None and (not isinstance(divisor_override, numbers.Integral)
                                         or divisor_override <= 0):
        raise ValueError(f"avg_pool2d: divisor_override must be a positive int, got {divisor_override!r}")
    extra = _ceil_extra(x, kernel, stride, pad, ceil_mode)
    if any(extra):
        y = AvgPool2d.apply(_padded_for_ceil(x, pad, extra, 0), kernel_size=kernel, stride=stride)
    else:
        y = AvgPool2d.apply(x, kernel_size=kernel, stride=stride, padding=pad)
    if divisor_override is not None:
        divisors = np.full(y.shape[2:], divisor_override)
    else:
        divisors = _avg_divisors(x.shape, kernel, stride, pad, y.shape, count_include_pad)
    if (divisors == kernel[0] * kernel[1]).all():
        return y
    # the backend divided every window by R*S; rescale to the wanted divisors
    scale = (kernel[0] * kernel[1] / divisors).astype(y.dtype)
    return y * Tensor(scale).to(y.device)


def _output_size(output_size, x_shape):
    """(P, Q) from an int, a pair, or a pair with None entries (keep the input's size)."""
    pair = (output_size, output_size) if not isinstance(output_size, (tuple, list)) else tuple(output_size)
    if len(pair) != 2:
        raise ValueError(f"adaptive pooling: output_size must be an int or a pair, got {output_size!r}")
    out = tuple(x_shape[2 + i] if v is None else v for i, v in enumerate(pair))
    if not all(isinstance(v, numbers.Integral) and v > 0 for v in out):
        raise ValueError(f"adaptive pooling: output_size must be positive, got {output_size!r}")
    return out


def adaptive_bins(size, out):
    """PyTorch's bins of one axis: bin i covers [floor(i*size/out), ceil((i+1)*size/out))."""
    return [((i * size) // out, -(-((i + 1) * size) // out)) for i in range(out)]


class _AdaptivePool2d(Function):
    def _setup(self, op, x, output_size):
        if x.ndim != 4:
            raise ValueError(f"{op} expects a 4-D input x (N,C,H,W), got x of shape {tuple(x.shape)}")
        _check_float(op, x=x)
        if 0 in x.shape[2:]:
            raise ValueError(f"{op}: input of shape {tuple(x.shape)} has an empty plane")
        P, Q = _output_size(output_size, x.shape)
        self.x_shape = tuple(x.shape)
        self.bins = [(i, j, hs, ws) for i, hs in enumerate(adaptive_bins(x.shape[2], P))
                     for j, ws in enumerate(adaptive_bins(x.shape[3], Q))]
        return array_module(device_of(x)).empty(x.shape[:2] + (P, Q), dtype=x.dtype)


class AdaptiveAvgPool2d(_AdaptivePool2d):
    """y[n,c,i,j] = mean of x over bin (i, j); each bin's mean spreads its gradient evenly."""

    def forward(self, x, *, output_size):
        y = self._setup("adaptive_avg_pool2d", x, output_size)
        for i, j, (h0, h1), (w0, w1) in self.bins:
            y[:, :, i, j] = x[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
        return y

    def backward(self, dy):
        dx = array_module(device_of(dy)).zeros(self.x_shape, dtype=dy.dtype)
        for i, j, (h0, h1), (w0, w1) in self.bins:  # bins overlap when out does not divide H
            dx[:, :, h0:h1, w0:w1] += dy[:, :, i, j, None, None] / ((h1 - h0) * (w1 - w0))
        return dx


def adaptive_avg_pool2d(input, output_size):
    """Average over PyTorch's adaptive bins (see `adaptive_bins`), giving (N, C, P, Q) for
    output_size (P, Q) (an int for both; None keeps the input's size)."""
    return AdaptiveAvgPool2d.apply(input, output_size=output_size)


class AdaptiveMaxPool2d(_AdaptivePool2d):
    """y[n,c,i,j] = max of x over bin (i, j) (the first NaN, else the first maximum); the
    gradient goes to that element. `saved` receives the indices, as MaxPool2d."""

    def forward(self, x, *, output_size, saved=None):
        xp = array_module(device_of(x))
        y = self._setup("adaptive_max_pool2d", x, output_size)
        self.idx = xp.empty(y.shape, dtype=np.int64)
        N, C, H, W = x.shape
        for i, j, (h0, h1), (w0, w1) in self.bins:
            window = x[:, :, h0:h1, w0:w1].reshape(N, C, -1)
            k = window.argmax(axis=2)  # first NaN, else first maximum, as PyTorch
            y[:, :, i, j] = xp.take_along_axis(window, k[:, :, None], axis=2)[:, :, 0]
            self.idx[:, :, i, j] = (h0 + k // (w1 - w0)) * W + w0 + k % (w1 - w0)
        if saved is not None:
            saved["idx"] = self.idx
        return y

    def backward(self, dy):
        xp = array_module(device_of(dy))
        N, C, H, W = self.x_shape
        dx = xp.zeros((N * C, H * W), dtype=dy.dtype)
        rows = xp.arange(N * C)[:, None]
        xp.add.at(dx, (rows, self.idx.reshape(N * C, -1)), dy.reshape(N * C, -1))  # bins may share a maximum
        return dx.reshape(self.x_shape)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Maximum over PyTorch's adaptive bins, output_size as adaptive_avg_pool2d.
    return_indices: also the int64 indices (N,C,P,Q), flat h*W + w in each input plane."""
    saved = {}
    y = AdaptiveMaxPool2d.apply(input, output_size=output_size, saved=saved)
    return (y, Tensor(saved["idx"])) if return_indices else y
