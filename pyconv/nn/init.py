"""Weight initialisation, in place, with torch.nn.init's semantics.

fan_in = size(1) * receptive field, fan_out = size(0) * receptive field, where the receptive
field is the product of the sizes after the first two (R*S for a conv weight (K, C, R, S)).

Random values come from pyconv's global generator (`manual_seed(seed)` resets it) or from the
`generator=` argument (a numpy Generator); they are drawn on the CPU in float64 and copied into
the tensor's device and dtype.
"""
import math

import numpy as np

from ..creation import default_generator, manual_seed  # noqa: F401  (one global generator)
from ..device import move
from ..random import generator_from


def get_rng_state():
    return default_generator().bit_generator.state


def set_rng_state(state):
    default_generator().bit_generator.state = state


def _fill(tensor, values):
    tensor.data[...] = move(np.asarray(values, dtype=tensor.dtype), tensor.device)
    return tensor


def _fans(tensor):
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a tensor of 2 or more dimensions, got shape {shape}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def calculate_gain(nonlinearity, param=None):
    """The recommended gain for a nonlinearity (torch.nn.init.calculate_gain)."""
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv_transpose2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fan(tensor, mode):
    fan_in, fan_out = _fans(tensor)
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor, a=0.0, b=1.0, generator=None):
    return _fill(tensor, generator_from(generator).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, generator=None):
    return _fill(tensor, generator_from(generator).normal(mean, std, size=tensor.shape))


def constant_(tensor, value):
    tensor.data[...] = value
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0, generator=None):
    """Glorot: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor, gain=1.0, generator=None):
    """Glorot: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: U(-b, b), b = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", generator=None):
    """He: N(0, std^2), std = gain / sqrt(fan), gain = calculate_gain(nonlinearity, a)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)
