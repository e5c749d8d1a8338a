"""Lab 3: conv2d in numpy (pyconv/backends/numpy_ref.py): the window view, im2col, the forward
GEMM, col2im, the input, weight and bias gradients.

The expected values come from the loop nests below, which follow the definition
    y[n,k,p,q] = b[k] + sum_{c,r,s} w[k,c,r,s] * xpad[n, c, p*sh + r*dh, q*sw + s*dw]
and from central differences through F.conv2d on the numpy backend. Sizes: x (N,C,H,W),
w (K,C,R,S), y (N,K,P,Q); padding is (top, bottom, left, right) at the primitive level.
"""
import numpy as np
import pytest

import pyconv
import pyconv.nn.functional as F
from pyconv.backends import numpy_ref

pytestmark = pytest.mark.lab3

# (N, C, H, W, K, R, S, stride, padding (top, bottom, left, right), dilation)
CASES = [
    (2, 3, 7, 6, 4, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)),
    (1, 2, 9, 8, 3, 3, 2, (2, 3), (0, 1, 2, 0), (1, 1)),
    (2, 1, 10, 9, 2, 3, 3, (1, 2), (2, 2, 1, 1), (2, 3)),
    (1, 3, 5, 5, 2, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1)),
    (3, 2, 6, 7, 5, 1, 1, (2, 2), (0, 0, 0, 0), (1, 1)),
    (1, 2, 4, 11, 3, 2, 4, (3, 1), (3, 0, 0, 2), (1, 2)),
]
IDS = [f"case{i}" for i in range(len(CASES))]


def out_size(H, W, R, S, stride, padding, dilation):
    pt, pb, pl, pr = padding
    P = (H + pt + pb - dilation[0] * (R - 1) - 1) // stride[0] + 1
    Q = (W + pl + pr - dilation[1] * (S - 1) - 1) // stride[1] + 1
    return P, Q


def padded(x, padding):
    pt, pb, pl, pr = padding
    N, C, H, W = x.shape
    xpad = np.zeros((N, C, H + pt + pb, W + pl + pr), x.dtype)
    xpad[:, :, pt:pt + H, pl:pl + W] = x
    return xpad


def loop_forward(x, w, b, stride, padding, dilation):
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = out_size(H, W, R, S, stride, padding, dilation)
    xpad = padded(x, padding)
    y = np.zeros((N, K, P, Q), x.dtype)
    for p in range(P):
        for q in range(Q):
            for r in range(R):
                for s in range(S):
                    h, v = p * stride[0] + r * dilation[0], q * stride[1] + s * dilation[1]
                    y[:, :, p, q] += xpad[:, :, h, v] @ w[:, :, r, s].T      # (N,C) @ (C,K)
    if b is not None:
        y += b.reshape(1, K, 1, 1)
    return y


def loop_backward(dy, x, w, stride, padding, dilation):
    """(dx, dw): every product of the forward sum sends dy back to the x and w it multiplied."""
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = dy.shape[2:]
    pt, pl = padding[0], padding[2]
    xpad = padded(x, padding)
    dxpad, dw = np.zeros_like(xpad), np.zeros_like(w)
    for p in range(P):
        for q in range(Q):
            for r in range(R):
                for s in range(S):
                    h, v = p * stride[0] + r * dilation[0], q * stride[1] + s * dilation[1]
                    dxpad[:, :, h, v] += dy[:, :, p, q] @ w[:, :, r, s]        # (N,K) @ (K,C)
                    dw[:, :, r, s] += dy[:, :, p, q].T @ xpad[:, :, h, v]      # (K,N) @ (N,C)
    return dxpad[:, :, pt:pt + H, pl:pl + W], dw


def make(case, dtype, seed=0):
    N, C, H, W, K, R, S, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    P, Q = out_size(H, W, R, S, stride, padding, dilation)
    dy = rng.standard_normal((N, K, P, Q)).astype(dtype)
    return x, w, b, dy, (stride, padding, dilation)


def tol(dtype):
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)


# -- the pieces -----------------------------------------------------------------------------

def test_windows_view_reads_the_definition():
    rng = np.random.default_rng(1)
    xpad = rng.standard_normal((2, 3, 9, 10))
    R, S, stride, dilation = 3, 2, (2, 3), (2, 1)
    P, Q = (9 - 2 * 2 - 1) // 2 + 1, (10 - 1 - 1) // 3 + 1
    win = numpy_ref._windows(xpad, R, S, P, Q, stride, dilation)
    assert win.shape == (2, 3, R, S, P, Q)
    for r, s, p, q in np.ndindex(R, S, P, Q):
        np.testing.assert_array_equal(win[:, :, r, s, p, q], xpad[:, :, p * 2 + r * 2, q * 3 + s])


def test_im2col_rows_and_columns():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 6, 5))
    R, S, stride, padding, dilation = 2, 3, (1, 2), (1, 0, 2, 1), (2, 1)
    P, Q = out_size(6, 5, R, S, stride, padding, dilation)
    cols = numpy_ref._im2col(x, R, S, P, Q, stride, padding, dilation)
    assert cols.shape == (2, 3 * R * S, P * Q)
    xpad = padded(x, padding)
    for c, r, s, p, q in np.ndindex(3, R, S, P, Q):
        np.testing.assert_array_equal(cols[:, (c * R + r) * S + s, p * Q + q],
                                      xpad[:, c, p * stride[0] + r * dilation[0], q * stride[1] + s * dilation[1]])


def test_col2im_is_the_adjoint_of_the_window_view():
    # <scatter(d), xpad> == <d, windows(xpad)> for every d and xpad
    rng = np.random.default_rng(3)
    Hp, Wp, R, S, stride, dilation = 8, 9, 3, 2, (2, 1), (1, 3)
    P, Q = (Hp - 2 - 1) // 2 + 1, (Wp - 3 - 1) // 1 + 1
    d = rng.standard_normal((2, 2, R, S, P, Q))
    xpad = rng.standard_normal((2, 2, Hp, Wp))
    expected = np.zeros_like(xpad)
    for r, s, p, q in np.ndindex(R, S, P, Q):
        expected[:, :, p * stride[0] + r * dilation[0], q * stride[1] + s * dilation[1]] += d[:, :, r, s, p, q]
    got = numpy_ref._scatter_windows(d, Hp, Wp, stride, dilation)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


# -- the primitives against the loop nests ---------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward(case, dtype):
    x, w, b, _, params = make(case, dtype)
    y = numpy_ref.conv2d_forward(x, w, b, *params)
    assert y.shape == loop_forward(x, w, b, *params).shape and y.dtype == dtype
    np.testing.assert_allclose(y, loop_forward(x, w, b, *params), **tol(dtype))
    np.testing.assert_allclose(numpy_ref.conv2d_forward(x, w, None, *params),
                               loop_forward(x, w, None, *params), **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_input(case, dtype):
    x, w, _, dy, params = make(case, dtype)
    dx = numpy_ref.conv2d_backward_input(dy, w, x.shape, *params)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, loop_backward(dy, x, w, *params)[0], **tol(dtype))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_weight(case, dtype):
    x, w, _, dy, params = make(case, dtype)
    dw = numpy_ref.conv2d_backward_weight(dy, x, w.shape, *params)
    assert dw.shape == w.shape and dw.dtype == dtype
    np.testing.assert_allclose(dw, loop_backward(dy, x, w, *params)[1], **tol(dtype))


def test_backward_bias():
    dy = np.random.default_rng(4).standard_normal((3, 4, 5, 2))
    db = numpy_ref.conv2d_backward_bias(dy)
    assert db.shape == (4,)
    np.testing.assert_allclose(db, [dy[:, k].sum() for k in range(4)], rtol=1e-12)


# -- through F.conv2d on the numpy backend: central differences ------------------------------------

@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, (1, 2), 1), ((1, 2), (2, 0, 1, 1), (2, 1))])
def test_gradients_of_f_conv2d_against_finite_differences(stride, padding, dilation):
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)]
    params = dict(stride=stride, padding=padding, dilation=dilation)
    with pyconv.backend("numpy"):
        y = F.conv2d(*[pyconv.tensor(a) for a in arrays], **params)
        weight = rng.standard_normal(y.shape)

        def loss(*xs):
            return float((F.conv2d(*[pyconv.tensor(a) for a in xs], **params).numpy() * weight).sum())

        tensors = [pyconv.tensor(a.copy(), requires_grad=True) for a in arrays]
        F.conv2d(*tensors, **params).backward(pyconv.tensor(weight))
        eps = 1e-6
        for i, t in enumerate(tensors):
            expected = np.zeros_like(arrays[i])
            for j in np.ndindex(arrays[i].shape):
                up = [a.copy() for a in arrays]
                down = [a.copy() for a in arrays]
                up[i][j] += eps
                down[i][j] -= eps
                expected[j] = (loss(*up) - loss(*down)) / (2 * eps)
            np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-6, atol=1e-7)
