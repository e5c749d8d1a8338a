"""Output sizes and padding of conv2d and pooling, and their checks, written once.

Size letters: x (N,C,H,W), w (K,C,R,S), y (N,K,P,Q); a pooling window is (R,S).

    conv2d:   P = (H + pt + pb - dh*(R-1) - 1)//sh + 1,  Q = (W + pl + pr - dw*(S-1) - 1)//sw + 1
    pooling:  P = (H + 2*ph - R)//sh + 1,                Q = (W + 2*pw - S)//sw + 1

conv2d padding is (top, bottom, left, right), asymmetric so that padding="same" with stride > 1
works; pooling padding is (ph, pw) on both sides. Input row of output row p and kernel row r:
h = p*sh - pt + r*dh (outside [0, H) it reads the padding).

Three kinds of function live here:
* normalisers turn what a user passes (an int, a pair, "same", "valid") into the contract's
  tuples; the op layer calls them;
* `conv_output_size`, `pool_output_size`, `same_padding`, `ceil_mode_extra` only compute;
* `check_conv` and `check_pool` refuse geometry no backend can run, with a ValueError that
  names it. The op layer calls them, and so does every backend that may be called directly
  with unchecked arguments (the c backend: its C kernels must never see such sizes).
"""
import functools
import numbers

# The largest padded extent, or span of windows, the C kernels can index: csrc/checked.h's
# PC_SIZE_MAX, so that a sum or difference of two such sizes still fits int64.
SIZE_MAX = 2 ** 62


def checked_once(fn):
    """`fn` (a pure function of shapes and geometry that checks, then computes) with its results
    kept by argument: a training loop calls every layer with the same few shapes, so each is
    checked once and later calls are a dict lookup (the per-op overhead of a small layer was
    mostly these checks, run by the op layer and again by the backend). Errors are not kept;
    unhashable arguments (a list) skip the cache."""
    cached = functools.lru_cache(maxsize=1024)(fn)

    @functools.wraps(fn)
    def wrapper(*args):
        try:
            return cached(*args)
        except TypeError as exc:
            if "unhashable" not in str(exc):
                raise
            return fn(*args)
    wrapper.cache_clear = cached.cache_clear
    return wrapper


# -- normalising user arguments -----------------------------------------------------------------

def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def ints(name, values, count):
    """`values` as a tuple of `count` ints, for the backends' direct callers (the op layer
    normalises user arguments with pair/conv_padding first); check_conv/check_pool check ranges."""
    try:
        values = tuple(int(v) for v in values)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of {count} ints, got {values!r}") from None
    if len(values) != count:
        raise ValueError(f"{name} must be {count} ints, got {values!r}")
    return values


def pair(value, name):
    """(a, b) from an int or a pair of ints."""
    if _is_int(value):
        return (int(value), int(value))
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_int(v) for v in value):
        return (int(value[0]), int(value[1]))
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def positive_pair(value, name, op):
    """A pair of ints >= 1 (stride, dilation, kernel size); the error quotes the value as given."""
    result = pair(value, name)
    if min(result) <= 0:
        raise ValueError(f"{op}: {name} must be positive, got {value!r}")
    return result


def pool_padding(value, op):
    """The pooling padding (ph, pw) >= 0 from an int or a pair."""
    result = pair(value, "padding")
    if min(result) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {value!r}")
    return result


def same_padding(size, kernel, stride, dilation):
    """(before, after) padding of one axis for padding="same" (the Keras/TensorFlow rule).

    Output size is ceil(size / stride); the total padding
    max((out - 1)*stride + (kernel - 1)*dilation + 1 - size, 0) is split evenly with the odd
    pixel after (bottom/right). For stride 1 this is PyTorch's "same".
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def conv_padding(padding, x_shape, w_shape, stride, dilation):
    """The contract's (top, bottom, left, right) from an int, a pair, a 4-tuple, "same" or "valid"."""
    if isinstance(padding, str):
        return _named_padding(padding, x_shape, w_shape, stride, dilation)
    if isinstance(padding, (tuple, list)) and len(padding) == 4 and all(_is_int(p) for p in padding):
        pads = tuple(int(p) for p in padding)
    else:
        ph, pw = pair(padding, "padding")
        pads = (ph, ph, pw, pw)
    if min(pads) < 0:
        raise ValueError(f"conv2d: padding must be non-negative, got {padding!r}")
    return pads


def _named_padding(name, x_shape, w_shape, stride, dilation):
    if name == "valid":
        return (0, 0, 0, 0)
    if name == "same":
        top, bottom = same_padding(x_shape[2], w_shape[2], stride[0], dilation[0])
        left, right = same_padding(x_shape[3], w_shape[3], stride[1], dilation[1])
        return (top, bottom, left, right)
    raise ValueError(f"conv2d: unknown padding {name!r}; expected an int, a pair, "
                     f"(top, bottom, left, right), 'same' or 'valid'")


# -- output sizes ---------------------------------------------------------------------------------

def conv_output_size(H, W, R, S, stride, padding, dilation):
    """(P, Q) of conv2d; below 1 when the dilated kernel does not fit the padded input."""
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = stride, padding, dilation
    return (H + pt + pb - dh * (R - 1) - 1) // sh + 1, (W + pl + pr - dw * (S - 1) - 1) // sw + 1


def pooled_size(size, kernel, stride, pad, ceil_mode=False):
    """Output size of one pooling axis, PyTorch's rule. With ceil_mode the division rounds up,
    but the last window must still start inside the input or its leading padding."""
    span = size + 2 * pad - kernel
    if not ceil_mode:
        return span // stride + 1
    out = -(-span // stride) + 1
    return out - 1 if (out - 1) * stride >= size + pad else out


def pool_output_size(H, W, kernel, stride, padding, ceil_mode=False):
    """(P, Q) of pooling; below 1 when the window does not fit the padded input."""
    return tuple(pooled_size(n, k, s, p, ceil_mode) for n, k, s, p in zip((H, W), kernel, stride, padding))


def ceil_mode_extra(H, W, kernel, stride, padding):
    """Rows and columns (eh, ew) that ceil_mode's last windows reach past the bottom/right
    padding: padding the input by that much more lets a floor-mode primitive compute them."""
    return tuple(max(0, (pooled_size(n, k, s, p, True) - 1) * s + k - (n + 2 * p))
                 for n, k, s, p in zip((H, W), kernel, stride, padding))


# -- checks ---------------------------------------------------------------------------------------

def check_extent(op, *extents):
    """Padded sizes and the rows/columns the windows span must stay below SIZE_MAX."""
    if max(extents) >= SIZE_MAX:
        raise ValueError(f"{op}: the padded input or the span of its windows ({max(extents)}) exceeds "
                         f"2**62, the largest extent the kernels can index")


def _check_range(op, name, values, minimum):
    if min(values) < minimum:
        rule = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{op}: {name} must be {rule}, got {tuple(values)!r}")


def check_conv(x_shape, w_shape, stride, padding, dilation, op="conv2d"):
    """(P, Q) of a conv2d whose arguments are already the contract's tuples of ints, after
    checking that every backend can run it: strides and dilations >= 1, padding >= 0, matching
    channels, a kernel of at least one tap that fits the padded input, extents below 2**62."""
    N, C, H, W = x_shape
    K, Cw, R, S = w_shape
    _check_range(op, "stride", stride, 1)
    _check_range(op, "dilation", dilation, 1)
    _check_range(op, "padding", padding, 0)
    if C != Cw:
        raise ValueError(f"{op}: input has {C} channels but the weight expects {Cw} "
                         f"(x shape {tuple(x_shape)}, w shape {tuple(w_shape)})")
    (sh, sw), (pt, pb, pl, pr), (dh, dw) = stride, padding, dilation
    if R < 1 or S < 1:
        raise ValueError(f"{op}: the kernel {R}x{S} has no taps (w shape {tuple(w_shape)})")
    reach, padded = ((R - 1) * dh + 1, (S - 1) * dw + 1), (H + pt + pb, W + pl + pr)
    if reach[0] > padded[0] or reach[1] > padded[1]:
        raise ValueError(f"{op}: the (dilated) kernel {reach[0]}x{reach[1]} is larger than the padded "
                         f"input {padded[0]}x{padded[1]} (x shape {tuple(x_shape)}, w shape "
                         f"{tuple(w_shape)}, padding {tuple(padding)}, dilation {tuple(dilation)})")
    P, Q = conv_output_size(H, W, R, S, stride, padding, dilation)
    check_extent(op, *padded, P * sh + (R - 1) * dh, Q * sw + (S - 1) * dw)
    return P, Q


def check_pool(x_shape, kernel, stride, padding, op="pooling"):
    """(P, Q) of a pooling whose arguments are already the contract's pairs of ints, after
    checking that every backend can run it: window and strides >= 1, padding >= 0 and at most
    half the window (as PyTorch: every window then holds a real pixel), a window that fits the
    padded input, extents below 2**62."""
    H, W = x_shape[2:]
    _check_range(op, "kernel_size", kernel, 1)
    _check_range(op, "stride", stride, 1)
    _check_range(op, "padding", padding, 0)
    (R, S), (sh, sw), (ph, pw) = kernel, stride, padding
    if ph > R // 2 or pw > S // 2:
        raise ValueError(f"{op}: padding {(ph, pw)} must be at most half the kernel size {(R, S)}")
    padded = (H + 2 * ph, W + 2 * pw)
    if R > padded[0] or S > padded[1]:
        raise ValueError(f"{op}: kernel {R}x{S} is larger than the padded input {padded[0]}x{padded[1]} "
                         f"(x shape {tuple(x_shape)}, padding {tuple(padding)})")
    P, Q = pool_output_size(H, W, kernel, stride, padding)
    check_extent(op, *padded, P * sh + R, Q * sw + S, R * S)
    return P, Q
