"""Bounded fuzz: the c backend against numpy_ref on a few hundred random shapes per primitive.

Fixed seeds, so a failure names its case and reproduces. The geometry is drawn to hit the edges
the hand-written cases may miss: size 1, stride larger than the input, dilation > 1, padding at
its limit (half the pooling window), geometries that are mostly padding (which take the direct
loops), huge strides over a single output, and NaN/Inf in the input. A draw whose output would
be empty (the op layer refuses those before any backend sees them) must raise ValueError in c.
tests/test_c_sanitize.py reruns this file (fewer cases: PYCONV_FUZZ_CASES) with the kernels built
under ASan and UBSan.
"""
import os

import numpy as np
import pytest

from pyconv.backends import geometry
from pyconv.backends import numpy_ref as ref

c = pytest.importorskip("pyconv.backends.c_omp")
ok, why = c.available()
if not ok:
    pytest.skip(f"C backend not built: {why}", allow_module_level=True)

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN/Inf inputs

DTYPES = [np.float32, np.float64]
CASES = int(os.environ.get("PYCONV_FUZZ_CASES", "200"))  # per primitive and dtype
TOL = {np.float32: 2e-4, np.float64: 1e-10}


def pick(rng, choices, weights=None):
    return choices[rng.choice(len(choices), p=weights)]


def draw_conv(rng):
    """x shape, w shape, stride, padding (t, b, l, r), dilation."""
    N, C, K = (int(rng.integers(1, n)) for n in (4, 6, 6))
    H, W = (pick(rng, [1, 2, 3, 5, 8, 13]) for _ in range(2))
    R, S = (int(rng.integers(1, 5)) for _ in range(2))
    stride = tuple(pick(rng, [1, 1, 2, 3, 7, 2 ** 40]) for _ in range(2))
    dilation = tuple(pick(rng, [1, 1, 2, 3, 9]) for _ in range(2))
    padding = tuple(pick(rng, [0, 0, 1, 2, 5]) for _ in range(4))
    if rng.random() < 0.1:          # mostly padding: the direct loops
        stride, padding = (600, 600), (600, 600, 600, 599)
    return (N, C, H, W), (K, C, R, S), stride, padding, dilation


def draw_pool(rng):
    """x shape, kernel, stride, padding (up to half the kernel)."""
    N, C = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    H, W = (pick(rng, [1, 2, 3, 4, 7, 12]) for _ in range(2))
    kernel = tuple(int(rng.integers(1, 6)) for _ in range(2))
    stride = tuple(pick(rng, [1, 2, 3, 5, 2 ** 40]) for _ in range(2))
    padding = tuple(pick(rng, [0, k // 2, int(rng.integers(0, k // 2 + 1))]) for k in kernel)
    return (N, C, H, W), kernel, stride, padding


def data(rng, shape, dtype, special=False):
    """Standard normal values; with `special`, some NaN, +Inf and -Inf among them."""
    a = rng.standard_normal(shape).astype(dtype)
    if special and a.size:
        flat = a.reshape(-1)
        for value in (np.nan, np.inf, -np.inf):
            flat[rng.integers(0, flat.size, size=max(1, flat.size // 20))] = value
    return a


def refused(fn):
    try:
        fn()
    except ValueError:
        return True
    return False


def same(got, want, dtype, what):
    for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert g.shape == w.shape and g.dtype == w.dtype, what
        scale = max(1.0, float(np.nanmax(np.abs(np.where(np.isinf(w), 0, w)), initial=0)))
        np.testing.assert_allclose(g, w, rtol=0, atol=TOL[dtype] * scale, equal_nan=True, err_msg=what)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", range(2))
def test_conv2d_fuzz(dtype, seed):
    rng = np.random.default_rng(seed)
    for case in range(CASES // 2):
        xs, ws, stride, padding, dilation = draw_conv(rng)
        args = (stride, padding, dilation)
        what = f"seed {seed} case {case}: x {xs} w {ws} stride {stride} padding {padding} dilation {dilation}"
        # NaN/Inf only in x: w meets the padded zeros, and 0 * inf is NaN in the reference only
        x, w = data(rng, xs, dtype, special=rng.random() < 0.2), data(rng, ws, dtype)
        b = data(rng, (ws[0],), dtype)
        if min(geometry.conv_output_size(*xs[2:], *ws[2:], *args)) < 1:
            assert refused(lambda: c.conv2d_forward(x, w, b, *args)), what
            continue
        want = ref.conv2d_forward(x, w, b, *args)
        same(c.conv2d_forward(x, w, b, *args), want, dtype, what)
        dy = data(rng, want.shape, dtype)
        same(c.conv2d_backward_weight(dy, x, ws, *args), ref.conv2d_backward_weight(dy, x, ws, *args),
             dtype, what + " (backward weight)")
        same(c.conv2d_backward_input(dy, w, xs, *args), ref.conv2d_backward_input(dy, w, xs, *args),
             dtype, what + " (backward input)")
        same(c.conv2d_backward_bias(dy), ref.conv2d_backward_bias(dy), dtype, what + " (bias)")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["max", "min", "avg"])
def test_pool2d_fuzz(dtype, kind):
    rng = np.random.default_rng({"max": 10, "min": 11, "avg": 12}[kind])
    forward = f"{kind}_pool2d_forward"
    for case in range(CASES):
        xs, kernel, stride, padding = draw_pool(rng)
        what = f"{kind} case {case}: x {xs} kernel {kernel} stride {stride} padding {padding}"
        x = data(rng, xs, dtype, special=rng.random() < 0.2)
        if min(geometry.pool_output_size(*xs[2:], kernel, stride, padding)) < 1:
            assert refused(lambda: getattr(c, forward)(x, kernel, stride, padding)), what
            continue
        want = getattr(ref, forward)(x, kernel, stride, padding)
        same(getattr(c, forward)(x, kernel, stride, padding), want, dtype, what)
        y = want if kind == "avg" else want[0]
        dy = data(rng, y.shape, dtype)
        if kind == "avg":
            same(c.avg_pool2d_backward(dy, xs, kernel, stride, padding),
                 ref.avg_pool2d_backward(dy, xs, kernel, stride, padding), dtype, what + " (backward)")
        else:
            idx = want[1]
            same(getattr(c, f"{kind}_pool2d_backward")(dy, idx, xs),
                 getattr(ref, f"{kind}_pool2d_backward")(dy, idx, xs), dtype, what + " (backward)")


@pytest.mark.parametrize("dtype", DTYPES)
def test_matmul_fuzz(dtype):
    rng = np.random.default_rng(20)
    for case in range(CASES):
        B, M, K, N = (pick(rng, [0, 1, 2, 3, 7, 17, 64, 130]) for _ in range(4))
        B = max(B, 1) if rng.random() < 0.9 else B
        what = f"case {case}: ({B},{M},{K}) @ ({B},{K},{N})"
        a, b = data(rng, (B, M, K), dtype), data(rng, (B, K, N), dtype)
        dc = data(rng, (B, M, N), dtype)
        same(c.matmul(a, b), ref.matmul(a, b), dtype, what)
        same(c.matmul_backward_a(dc, b), ref.matmul_backward_a(dc, b), dtype, what + " (grad a)")
        same(c.matmul_backward_b(a, dc), ref.matmul_backward_b(a, dc), dtype, what + " (grad b)")
