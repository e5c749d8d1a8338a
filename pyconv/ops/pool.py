"""2-D max, min and average pooling on the active backend.

Sizes: x (N,C,H,W) input, window (R,S), y (N,C,P,Q) output with
P = (H + 2*ph - R)//sh + 1, Q = (W + 2*pw - S)//sw + 1.
Max/min pooling save the index of the chosen element in forward and route the gradient to
it in backward; average pooling counts padded zeros (PyTorch's count_include_pad=True).
"""
from .. import backends
from ..device import array_module, device_of
from ..tensor import Function
from .conv import _check_float, _pair, _positive_pair


def _pool_params(op, x, kernel_size, stride, padding):
    """Validated ((R, S), (sh, sw), (ph, pw)); stride defaults to the kernel size."""
    if x.ndim != 4:
        raise ValueError(f"{op} expects a 4-D input x (N,C,H,W), got x of shape {tuple(x.shape)}")
    _check_float(op, x=x)
    kernel = _positive_pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else _positive_pair(stride, "stride", op)
    pad = _pair(padding, "padding")
    if min(pad) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {pad} must be at most half the kernel size {kernel}")
    H, W = x.shape[2] + 2 * pad[0], x.shape[3] + 2 * pad[1]
    if kernel[0] > H or kernel[1] > W:
        raise ValueError(f"{op}: kernel {kernel[0]}x{kernel[1]} is larger than the padded input "
                         f"{H}x{W} (x shape {tuple(x.shape)}, padding {pad})")
    return kernel, stride, pad


def _contiguous(a):
    return array_module(device_of(a)).ascontiguousarray(a)


class MaxPool2d(Function):
    """y[n,c,p,q] = max of x over window (p, q); the gradient goes to the (first) maximum."""

    def forward(self, x, *, kernel_size, stride=None, padding=0):
        params = _pool_params("max_pool2d", x, kernel_size, stride, padding)
        self.backend = backends.for_device(device_of(x))
        self.x_shape = tuple(x.shape)
        y, self.idx = self.backend.max_pool2d_forward(_contiguous(x), *params)
        return y

    def backward(self, dy):
        return self.backend.max_pool2d_backward(_contiguous(dy), self.idx, self.x_shape)


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """Max pooling of x (N,C,H,W). kernel_size, stride (default: kernel_size), padding: int or
    pair; padding (read as -inf) must be at most half the kernel, as in PyTorch."""
    return MaxPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


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


def min_pool2d(x, kernel_size, stride=None, padding=0):
    """Min pooling of x (N,C,H,W), arguments as max_pool2d; padding reads as +inf."""
    return MinPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)


class AvgPool2d(Function):
    """y[n,c,p,q] = sum of x over window (p, q) / (R*S), padded zeros included."""

    def forward(self, x, *, kernel_size, stride=None, padding=0):
        self.params = _pool_params("avg_pool2d", x, kernel_size, stride, padding)
        self.backend = backends.for_device(device_of(x))
        self.x_shape = tuple(x.shape)
        return self.backend.avg_pool2d_forward(_contiguous(x), *self.params)

    def backward(self, dy):
        return self.backend.avg_pool2d_backward(_contiguous(dy), self.x_shape, *self.params)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """Average pooling of x (N,C,H,W), arguments as max_pool2d. Padded zeros count in the
    average (PyTorch's default count_include_pad=True): every window divides by R*S."""
    return AvgPool2d.apply(x, kernel_size=kernel_size, stride=stride, padding=padding)
