"""Conv2d layer."""
import math

import numpy as np

from ..backends.geometry import conv_padding, positive_pair
from . import functional as F
from . import init
from .module import Module, Parameter

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


class Conv2d(Module):
    """2-d convolution over (N, C, H, W): weight (out_channels, in_channels / groups, R, S).

    padding: int, pair, "same" (output size = ceil(input / stride)) or "valid" (no padding).
    groups: see F.conv2d. padding_mode: "zeros", or "reflect", "replicate", "circular" (the
    input is padded with F.pad in that mode, then convolved without padding).
    Default init as PyTorch: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias,
    fan_in = in_channels / groups * R * S.
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", device=None, dtype=np.float32):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels {in_channels} and out_channels {out_channels} "
                             f"must be divisible by groups {groups}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"Conv2d: padding_mode must be one of {PADDING_MODES}, got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = _pair(kernel_size), _pair(stride), _pair(dilation)
        self.padding = padding if isinstance(padding, str) else _pair(padding)
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        self.register_parameter("bias", Parameter(np.empty(out_channels, dtype=dtype)) if bias else None)
        self.reset_parameters()
        if device is not None:
            self.to(device)

    def reset_parameters(self):
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * math.prod(self.kernel_size)
            bound = 1 / math.sqrt(fan_in) if fan_in else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        padding = self.padding
        if self.padding_mode != "zeros":
            stride = positive_pair(self.stride, "stride", "conv2d")
            dilation = positive_pair(self.dilation, "dilation", "conv2d")
            top, bottom, left, right = conv_padding(padding, x.shape, self.weight.shape, stride, dilation)
            x, padding = F.pad(x, (left, right, top, bottom), mode=self.padding_mode), 0
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=padding,
                        dilation=self.dilation, groups=self.groups)

    def extra_repr(self):
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding!r}" if isinstance(self.padding, str) else f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        return s + ("" if self.bias is not None else ", bias=False")
