"""batch_norm and dropout: values, running statistics, gradchecks."""
import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor


def rand(*shape, seed=0, requires_grad=True, dtype=np.float64, scale=1.0, shift=0.0):
    data = np.random.default_rng(seed).standard_normal(shape) * scale + shift
    return tensor(data.astype(dtype), requires_grad=requires_grad)


@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 2, 5), (3, 2, 4)])
def test_batch_norm_training_forward_and_running_stats(shape):
    x = rand(*shape, scale=2.0, shift=1.5)
    gamma, beta = rand(shape[1], seed=1), rand(shape[1], seed=2)
    rm, rv = tensor(np.full(shape[1], 0.5)), tensor(np.full(shape[1], 2.0))
    y = F.batch_norm(x, rm, rv, gamma, beta, training=True, momentum=0.2, eps=1e-5)
    axes = (0,) + tuple(range(2, len(shape)))
    bshape = (1, shape[1]) + (1,) * (len(shape) - 2)
    mean, var = x.data.mean(axis=axes), x.data.var(axis=axes)
    expected = ((x.data - mean.reshape(bshape)) / np.sqrt(var.reshape(bshape) + 1e-5)
                * gamma.data.reshape(bshape) + beta.data.reshape(bshape))
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    n = x.numel() // shape[1]
    np.testing.assert_allclose(rm.data, 0.8 * 0.5 + 0.2 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.data, 0.8 * 2.0 + 0.2 * var * n / (n - 1), rtol=1e-12)


def test_batch_norm_inference_uses_running_stats():
    x = rand(5, 3, 2, 2)
    rm, rv = np.array([0.1, -0.2, 0.3]), np.array([1.5, 0.5, 2.0])
    y = F.batch_norm(x, rm, rv, training=False)
    expected = (x.data - rm.reshape(1, 3, 1, 1)) / np.sqrt(rv.reshape(1, 3, 1, 1) + 1e-5)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12)
    np.testing.assert_array_equal(rm, [0.1, -0.2, 0.3])  # untouched


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(5, 3), (3, 2, 3, 2)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_gradcheck(training, shape, affine):
    C = shape[1]
    x = rand(*shape, scale=1.5, shift=0.3)
    rm, rv = np.zeros(C), np.ones(C) * 1.3
    if affine:
        fn = lambda x, g, b: F.batch_norm(x, rm.copy(), rv.copy(), g, b, training=training)  # noqa: E731
        assert gradcheck(fn, x, rand(C, seed=1), rand(C, seed=2))
    else:
        assert gradcheck(lambda x: F.batch_norm(x, rm.copy(), rv.copy(), training=training), x)


def test_batch_norm_training_without_running_stats():
    x = rand(4, 2)
    y = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y.data.mean(axis=0), 0, atol=1e-12)


def test_batch_norm_float32_running_stats_stay_float32():
    x = rand(8, 3, dtype=np.float32)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    y = F.batch_norm(x, rm, rv, training=True)
    assert y.dtype == np.float32 and rm.dtype == np.float32 and rv.dtype == np.float32
    y.backward(np.ones((8, 3), np.float32))
    assert x.grad.dtype == np.float32


def test_dropout_zeroes_and_scales():
    x = tensor(np.ones((200, 50)), requires_grad=True)
    y = F.dropout(x, p=0.3, generator=np.random.default_rng(0))
    kept = y.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.data[kept], 1 / 0.7)
    y.backward(np.ones(x.shape))
    np.testing.assert_array_equal(x.grad.data, y.data)  # gradient is the same mask


def test_dropout_is_identity_in_eval_and_for_p_zero():
    x = rand(3, 4)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_generator_is_reproducible_and_gradcheck():
    x = rand(4, 5)
    a = F.dropout(x, 0.4, generator=np.random.default_rng(7)).data
    b = F.dropout(x, 0.4, generator=np.random.default_rng(7)).data
    np.testing.assert_array_equal(a, b)
    assert gradcheck(lambda x: F.dropout(x, 0.4, generator=np.random.default_rng(7)), x)


def test_dropout_float32():
    assert F.dropout(rand(3, 3, dtype=np.float32), 0.5).dtype == np.float32
