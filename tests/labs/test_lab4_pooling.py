"""Lab 4: pooling (pyconv/backends/numpy_ref.py): the pooling windows, max (and min) pooling with
the saved index of the chosen element, its backward, average pooling in both directions.

Expected values come from loop nests over the windows written here; inputs are permutations
(no ties) except in the test of the tie rule. Sizes: x (N,C,H,W), window (R,S), stride (sh,sw),
padding (ph,pw) on each side, y (N,C,P,Q) with P = (H + 2*ph - R)//sh + 1.
"""
import numpy as np
import pytest

import pyconv
import pyconv.nn.functional as F
from pyconv.backends import numpy_ref

pytestmark = pytest.mark.lab4

# (N, C, H, W, kernel, stride, padding)
CASES = [
    (2, 3, 6, 6, (2, 2), (2, 2), (0, 0)),
    (1, 2, 7, 5, (3, 3), (2, 2), (1, 1)),
    (2, 1, 8, 9, (3, 2), (1, 3), (1, 0)),
    (1, 2, 5, 7, (2, 3), (3, 1), (0, 1)),
    (1, 1, 4, 4, (4, 4), (1, 1), (2, 2)),
]
IDS = [f"case{i}" for i in range(len(CASES))]


def make(case, dtype=np.float64, seed=0):
    """x without ties (a shuffled range), and a dy of the output's shape."""
    N, C, H, W, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = (rng.permutation(N * C * H * W).reshape(N, C, H, W) / 7.0 - 3.0).astype(dtype)
    P = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
    Q = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
    dy = rng.standard_normal((N, C, P, Q)).astype(dtype)
    return x, dy, (kernel, stride, padding)


def window(x, n, c, p, q, kernel, stride, padding):
    """[(h, w), ...] of the input cells of window (p, q) in row-major order, and their values;
    a padded cell is (None, None) with the value None."""
    cells = []
    for r in range(kernel[0]):
        for s in range(kernel[1]):
            h, w = p * stride[0] - padding[0] + r, q * stride[1] - padding[1] + s
            inside = 0 <= h < x.shape[2] and 0 <= w < x.shape[3]
            cells.append(((h, w), x[n, c, h, w]) if inside else ((None, None), None))
    return cells


def loop_arg_pool(x, kernel, stride, padding, better):
    N, C, H, W = x.shape
    P = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
    Q = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
    y, idx = np.zeros((N, C, P, Q), x.dtype), np.zeros((N, C, P, Q), np.int64)
    for n, c, p, q in np.ndindex(N, C, P, Q):
        best = None
        for (h, w), v in window(x, n, c, p, q, kernel, stride, padding):
            if v is not None and (best is None or better(v, best[1])):   # the first extreme wins
                best = ((h, w), v)
        (h, w), y[n, c, p, q] = best
        idx[n, c, p, q] = h * W + w
    return y, idx


def loop_avg(x, kernel, stride, padding):
    N, C, H, W = x.shape
    P = (H + 2 * padding[0] - kernel[0]) // stride[0] + 1
    Q = (W + 2 * padding[1] - kernel[1]) // stride[1] + 1
    y = np.zeros((N, C, P, Q), x.dtype)
    for n, c, p, q in np.ndindex(N, C, P, Q):
        y[n, c, p, q] = sum(v for _, v in window(x, n, c, p, q, kernel, stride, padding)
                            if v is not None) / (kernel[0] * kernel[1])
    return y


def loop_avg_backward(dy, x, kernel, stride, padding):
    dx = np.zeros_like(x)
    for n, c, p, q in np.ndindex(dy.shape):
        for (h, w), v in window(x, n, c, p, q, kernel, stride, padding):
            if v is not None:
                dx[n, c, h, w] += dy[n, c, p, q] / (kernel[0] * kernel[1])
    return dx


def tol(dtype):
    return dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)


# -- the windows ----------------------------------------------------------------------------

def test_pool_windows_are_the_window_cells_in_row_major_order():
    x, _, (kernel, stride, padding) = make(CASES[2])
    win = numpy_ref._pool_windows(x, kernel, stride, padding, -5.0)
    N, C, P, Q = 2, 1, (8 + 2 - 3) // 1 + 1, (9 - 2) // 3 + 1
    assert win.shape == (N, C, P, Q, kernel[0] * kernel[1])
    for n, c, p, q in np.ndindex(N, C, P, Q):
        expected = [-5.0 if v is None else v for _, v in window(x, n, c, p, q, kernel, stride, padding)]
        np.testing.assert_array_equal(win[n, c, p, q], expected)


# -- max and min pooling ---------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_forward_values_and_indices(case, dtype):
    x, _, params = make(case, dtype)
    y, idx = numpy_ref.max_pool2d_forward(x, *params)
    y_ref, idx_ref = loop_arg_pool(x, *params, better=lambda a, b: a > b)
    assert y.shape == y_ref.shape and y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


@pytest.mark.parametrize("case", CASES[:3], ids=IDS[:3])
def test_min_pool_forward_values_and_indices(case):
    x, _, params = make(case)
    y, idx = numpy_ref.min_pool2d_forward(x, *params)
    y_ref, idx_ref = loop_arg_pool(x, *params, better=lambda a, b: a < b)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_max_pool_ties_go_to_the_first_element_of_the_window():
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 0] = x[0, 0, 0, 1] = 1.0          # two maxima in the first window: (0, 1) comes first
    x[0, 0, 2:, 2:] = -1.0                         # a constant window
    y, idx = numpy_ref.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(y[0, 0], [[1.0, 0.0], [0.0, -1.0]])
    np.testing.assert_array_equal(idx[0, 0], [[1, 2], [8, 10]])


def test_max_pool_picks_a_real_pixel_next_to_the_padding():
    # every real pixel is -inf, as the padding reads: the window's first real pixel is chosen
    x = np.full((1, 1, 3, 3), -np.inf)
    y, idx = numpy_ref.max_pool2d_forward(x, (2, 2), (2, 2), (1, 1))
    assert np.all(y == -np.inf)
    np.testing.assert_array_equal(idx[0, 0], [[0, 1], [3, 4]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_max_pool_backward_routes_dy_to_the_saved_index(case, dtype):
    x, dy, params = make(case, dtype)
    _, idx = loop_arg_pool(x, *params, better=lambda a, b: a > b)
    dx = numpy_ref.max_pool2d_backward(dy, idx, x.shape)
    expected = np.zeros_like(x)
    for n, c, p, q in np.ndindex(dy.shape):                # overlapping windows add up
        expected[n, c, idx[n, c, p, q] // x.shape[3], idx[n, c, p, q] % x.shape[3]] += dy[n, c, p, q]
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, expected, **tol(dtype))


# -- average pooling -------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_avg_pool_forward(case, dtype):
    x, _, params = make(case, dtype)
    y = numpy_ref.avg_pool2d_forward(x, *params)
    assert y.dtype == dtype
    np.testing.assert_allclose(y, loop_avg(x, *params), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_avg_pool_backward(case, dtype):
    x, dy, params = make(case, dtype)
    dx = numpy_ref.avg_pool2d_backward(dy, x.shape, *params)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, loop_avg_backward(dy, x, *params), **tol(dtype))


# -- through F on the numpy backend: central differences ----------------------------------------

@pytest.mark.parametrize("pool", ["max", "avg"])
def test_pooling_gradients_against_finite_differences(pool):
    x, _, (kernel, stride, padding) = make(CASES[1])
    fn = F.max_pool2d if pool == "max" else F.avg_pool2d
    with pyconv.backend("numpy"):
        t = pyconv.tensor(x.copy(), requires_grad=True)
        y = fn(t, kernel, stride, padding)
        weight = np.random.default_rng(1).standard_normal(y.shape)
        y.backward(pyconv.tensor(weight))
        eps = 1e-6                                  # values are 1/7 apart: no max changes
        expected = np.zeros_like(x)
        for j in np.ndindex(x.shape):
            up, down = x.copy(), x.copy()
            up[j] += eps
            down[j] -= eps
            expected[j] = ((fn(pyconv.tensor(up), kernel, stride, padding).numpy()
                            - fn(pyconv.tensor(down), kernel, stride, padding).numpy()) * weight).sum() / (2 * eps)
    np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-6, atol=1e-8)
