"""Numeric check of analytic gradients.

    pyconv.gradcheck(lambda x, w: (x @ w).exp(), x, w)

The check works on float64 copies of the inputs, so callers may pass float32 tensors. The
output is projected on a fixed random direction u (seeded), which turns it into the scalar
f = sum(fn(...) * u); its analytic gradient (one backward pass) is compared with central
differences (f(x + eps) - f(x - eps)) / (2 eps), element by element, for every input that
requires grad. An element passes when |analytic - numeric| <= atol + rtol * |numeric|.
"""
import numpy as np

from . import device as _device
from .tensor import Tensor, no_grad


class GradcheckError(AssertionError):
    """Analytic and numeric gradients differ; the message names the worst element."""


def gradcheck(fn, *inputs, eps=1e-6, atol=1e-5, rtol=1e-3, seed=0):
    """True when the gradients of `fn` agree with central differences, else GradcheckError.

    `fn` takes the inputs (Tensors, or anything else, which is passed as is) and returns a
    Tensor. Inputs that require grad are checked; float inputs are computed in float64.
    """
    args = [_float64_copy(x) for x in inputs]
    checked = [i for i, x in enumerate(args) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad; nothing to check")

    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    if out.dtype != np.float64:
        raise TypeError(f"gradcheck: fn returned {out.dtype} from float64 inputs; central differences "
                        f"need float64 throughout (does fn make float32 constants?)")
    direction = np.random.default_rng(seed).standard_normal(out.shape)
    direction = _device.move(direction, out.device)
    if out.requires_grad:
        out.backward(direction)

    def projected():
        return float((fn(*args).data * direction).sum())

    worst = None  # (excess over tolerance, input, element, analytic, numeric, failures, size)
    with no_grad():
        for i in checked:
            x = args[i]
            flat = x.data.reshape(-1)  # a view: the copy is contiguous
            numeric = np.empty(flat.shape[0])
            for j in range(flat.shape[0]):
                original = float(flat[j])
                flat[j] = original + eps
                f_plus = projected()
                flat[j] = original - eps
                f_minus = projected()
                flat[j] = original
                numeric[j] = (f_plus - f_minus) / (2 * eps)
            analytic = np.zeros(flat.shape[0]) if x.grad is None else x.grad.numpy().reshape(-1)
            excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
            excess = np.where(np.isnan(excess), np.inf, excess)  # NaN on either side fails
            j = int(np.argmax(excess)) if excess.size else 0
            if excess.size and excess[j] > 0 and (worst is None or excess[j] > worst[0]):
                worst = (excess[j], i, np.unravel_index(j, x.shape), analytic[j], numeric[j],
                         int((excess > 0).sum()), excess.size)
    if worst is not None:
        _, i, index, a, n, failures, size = worst
        raise GradcheckError(
            f"gradcheck: gradient of input {i} (shape {args[i].shape}) differs at element "
            f"{tuple(int(k) for k in index)}: analytic {a:.8g}, numeric {n:.8g} "
            f"(atol={atol}, rtol={rtol}); {failures} of {size} elements of that input fail")
    return True


def _float64_copy(x):
    """A float64 leaf with x's data for float Tensors (requires_grad kept), x itself otherwise."""
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        return x
    data = x.data.astype(np.float64, copy=True)
    return Tensor(data, requires_grad=x.requires_grad)
