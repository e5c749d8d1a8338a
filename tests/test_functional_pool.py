"""max/min/avg pooling: gradients without ties, forward values against a direct loop."""
import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv import backends
from pyconv.backends import geometry
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor

CPU_BACKENDS = [name for name, status in backends.available_backends().items()
                if status == "enabled" and backends.module(name).DEVICE == "cpu"]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    with backends.backend(request.param):
        yield request.param


def distinct(*shape, seed=0, dtype=np.float64):
    """A random permutation of values spaced 0.05 apart: no ties, so max/min pooling has one
    winner per window and central differences (eps 1e-6) never cross a switch."""
    n = int(np.prod(shape))
    data = np.random.default_rng(seed).permutation(n).reshape(shape) * 0.05 - n * 0.025
    return tensor(data.astype(dtype), requires_grad=True)


def pool_loop(x, kernel, stride, padding, reduce, fill):
    (R, S), (sh, sw), (ph, pw) = kernel, stride, padding
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * ph, W + 2 * pw), fill)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    P, Q = geometry.pool_output_size(H, W, kernel, stride, padding)
    y = np.empty((N, C, P, Q))
    for p in range(P):
        for q in range(Q):
            y[:, :, p, q] = reduce(xp[:, :, p * sh:p * sh + R, q * sw:q * sw + S], axis=(2, 3))
    return y


POOLS = {"max": (F.max_pool2d, np.max, -np.inf), "min": (F.min_pool2d, np.min, np.inf),
         "avg": (F.avg_pool2d, np.mean, 0.0)}

# (x shape, kernel_size, stride, padding)
CASES = [
    ((2, 3, 4, 6), 2, None, 0),
    ((1, 2, 7, 7), 3, 2, 1),          # overlapping windows, padding
    ((2, 1, 5, 6), (2, 3), (1, 2), (1, 1)),
    ((1, 1, 5, 5), 3, 1, 0),
    ((1, 2, 6, 5), (3, 2), None, (1, 0)),
]


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("xs,kernel,stride,padding", CASES)
def test_pool_forward_matches_loops(backend, kind, xs, kernel, stride, padding):
    fn, reduce, fill = POOLS[kind]
    x = distinct(*xs)
    y = fn(x, kernel, stride=stride, padding=padding)
    expected = pool_loop(x.data, pair(kernel), pair(kernel if stride is None else stride),
                         pair(padding), reduce, fill)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("xs,kernel,stride,padding", CASES)
def test_pool_gradcheck(backend, kind, xs, kernel, stride, padding):
    fn = POOLS[kind][0]
    assert gradcheck(lambda x: fn(x, kernel, stride=stride, padding=padding), distinct(*xs, seed=1))


@pytest.mark.parametrize("kind", sorted(POOLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pool_keeps_dtype(backend, kind, dtype):
    y = POOLS[kind][0](distinct(2, 2, 4, 4, dtype=dtype), 2)
    assert y.dtype == dtype and y.shape == (2, 2, 2, 2)


def test_max_pool_gradient_goes_to_the_maximum(backend):
    x = tensor(np.array([[[[1., 5.], [3., 2.]]]]), requires_grad=True)
    F.max_pool2d(x, 2).backward(np.array([[[[7.]]]]))
    np.testing.assert_array_equal(x.grad.data, [[[[0, 7], [0, 0]]]])
    x.grad = None
    F.min_pool2d(x, 2).backward(np.array([[[[7.]]]]))
    np.testing.assert_array_equal(x.grad.data, [[[[7, 0], [0, 0]]]])


def test_overlapping_max_windows_accumulate(backend):
    # 3x3 windows, stride 1, on a 4x4 plane whose maximum (at the centre) wins all 4 windows
    data = np.zeros((1, 1, 4, 4))
    data[0, 0, 1, 1] = 9.0
    x = tensor(data, requires_grad=True)
    F.max_pool2d(x, 3, stride=1).backward(np.ones((1, 1, 2, 2)))
    assert x.grad.data[0, 0, 1, 1] == 4.0 and x.grad.data.sum() == 4.0


def test_avg_pool_counts_padded_zeros(backend):
    x = tensor(np.ones((1, 1, 2, 2)))
    y = F.avg_pool2d(x, 2, stride=1, padding=1)
    np.testing.assert_allclose(y.data[0, 0], [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]])
