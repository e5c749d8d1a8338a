"""Activations: gradchecks, values against numpy formulas, stability at large inputs."""
import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor


def away_from_zero(*shape, seed=0, dtype=np.float64):
    """Normal samples pushed at least 0.05 from 0, so piecewise functions stay on one piece."""
    x = np.random.default_rng(seed).standard_normal(shape)
    return tensor((x + 0.05 * np.sign(x)).astype(dtype), requires_grad=True)


def sigmoid_ref(x):
    return 1 / (1 + np.exp(-x))


def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


ELEMENTWISE = [
    ("relu", F.relu, lambda x: np.maximum(x, 0)),
    ("leaky_relu", F.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x)),
    ("leaky_relu_0.2", lambda x: F.leaky_relu(x, negative_slope=0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    ("elu", F.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1)),
    ("elu_0.5", lambda x: F.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * (np.exp(x) - 1))),
    ("sigmoid", F.sigmoid, sigmoid_ref),
    ("tanh", F.tanh, np.tanh),
    ("softmax", lambda x: F.softmax(x, dim=-1), lambda x: softmax_ref(x, -1)),
    ("softmax_dim0", lambda x: F.softmax(x, dim=0), lambda x: softmax_ref(x, 0)),
    ("log_softmax", lambda x: F.log_softmax(x, dim=-1), lambda x: np.log(softmax_ref(x, -1))),
    ("log_softmax_dim1", lambda x: F.log_softmax(x, dim=1), lambda x: np.log(softmax_ref(x, 1))),
]


@pytest.mark.parametrize("name,fn,ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_forward_values(name, fn, ref):
    x = away_from_zero(3, 4, 2)
    np.testing.assert_allclose(fn(x).data, ref(x.data), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,fn,ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_gradcheck(name, fn, ref):
    assert gradcheck(fn, away_from_zero(3, 4, 2, seed=1))


@pytest.mark.parametrize("name,fn,ref", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_float32_stays_float32(name, fn, ref):
    assert fn(away_from_zero(2, 3, dtype=np.float32)).dtype == np.float32


def test_relu_gradient_at_zero_is_zero():
    x = tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    F.relu(x).backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, [0, 0, 1])


def test_large_inputs_do_not_overflow():
    x = tensor(np.array([[-1000.0, 0.0, 1000.0]]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_allclose(F.sigmoid(x).data, [[0, 0.5, 1]])
        np.testing.assert_allclose(F.softmax(x, dim=1).data, [[0, 0, 1]])
        np.testing.assert_allclose(F.log_softmax(x, dim=1).data, [[-2000, -1000, 0]])
        assert np.isfinite(F.elu(x).data).all()


def test_maxout_groups_consecutive_features():
    x = tensor(np.array([[1.0, 5.0, 3.0, 2.0, 0.0, -1.0]]))
    np.testing.assert_array_equal(F.maxout(x, 2).data, [[5, 3, 0]])
    np.testing.assert_array_equal(F.maxout(x, 3).data, [[5, 2]])


def test_maxout_gradcheck_on_channels():
    rng = np.random.default_rng(3)
    data = rng.permutation(2 * 6 * 3 * 2).reshape(2, 6, 3, 2) * 0.05  # no ties
    x = tensor(data, requires_grad=True)
    y = F.maxout(x, 3)
    assert y.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(y.data, data.reshape(2, 2, 3, 3, 2).max(axis=2))
    assert gradcheck(lambda x: F.maxout(x, 3), x)
    assert gradcheck(lambda x: F.maxout(x, 2, dim=-1), x)


def test_maxout_tie_sends_gradient_to_first():
    x = tensor(np.array([[2.0, 2.0]]), requires_grad=True)
    F.maxout(x, 2).backward(np.ones((1, 1)))
    np.testing.assert_array_equal(x.grad.data, [[1, 0]])
