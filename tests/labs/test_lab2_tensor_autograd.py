"""Lab 2: Tensor autograd (unbroadcast in pyconv/ops/_util.py, Mul and Div in pyconv/ops/basic.py,
Sum and Mean in pyconv/ops/reduce.py, the matmul gradients in pyconv/backends/numpy_ref.py).

Expected gradients come from the definitions, in float64: central differences of the forward
pass (which the lab does not touch), the adjoint identity <unbroadcast(g), v> = <g, broadcast(v)>,
and matmul's gradients written as einsum sums. Products run on the numpy backend, where the
student's matmul gradients live.
"""
import numpy as np
import pytest

import pyconv
from pyconv.backends import numpy_ref
from pyconv.ops._util import unbroadcast

pytestmark = pytest.mark.lab2


def rand(rng, *shape):
    return rng.standard_normal(shape)


def numerical_grads(f, arrays, eps=1e-6):
    """d f / d arrays[i] by central differences; f takes numpy arrays and returns a float."""
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            shifted = [x.copy() for x in arrays]
            shifted[i][j] = a[j] + eps
            up = f(*shifted)
            shifted[i][j] = a[j] - eps
            g[j] = (up - f(*shifted)) / (2 * eps)
        grads.append(g)
    return grads


def check_grads(fn, arrays, rng, atol=1e-6):
    """fn on Tensors; its output is weighted by a fixed random array so every element counts."""
    weight = None

    def scalar(*xs):
        nonlocal weight
        out = fn(*[pyconv.tensor(x) for x in xs])
        if weight is None:
            weight = rand(rng, *out.shape)
        return float((out.numpy() * weight).sum())

    scalar(*arrays)
    tensors = [pyconv.tensor(x.copy(), requires_grad=True) for x in arrays]
    out = fn(*tensors)
    out.backward(pyconv.tensor(weight))
    for t, expected in zip(tensors, numerical_grads(scalar, arrays)):
        assert t.grad is not None and t.grad.shape == t.shape
        np.testing.assert_allclose(t.grad.numpy(), expected, rtol=1e-5, atol=atol)


# -- unbroadcast ------------------------------------------------------------------------------

@pytest.mark.parametrize("grad_shape, shape", [
    ((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (3, 1)), ((3, 4), ()), ((2, 3, 4), (3, 1)),
    ((5, 1, 4), (1, 1, 4)), ((2, 3, 4), (2, 3, 4)), ((6, 2, 1, 3), (2, 1, 1)),
])
def test_unbroadcast_is_the_adjoint_of_broadcasting(grad_shape, shape):
    rng = np.random.default_rng(0)
    g, v = rand(rng, *grad_shape), rand(rng, *shape)
    out = np.asarray(unbroadcast(g, shape))
    assert out.shape == shape
    # <unbroadcast(g), v> == <g, broadcast_to(v)> for every v: check it on the unit vectors
    expected = np.array([(g * np.broadcast_to(e.reshape(shape), grad_shape)).sum()
                         for e in np.eye(max(v.size, 1))[:v.size]]).reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_unbroadcast_small_cases_by_hand():
    g = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(unbroadcast(g, (3,)), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(unbroadcast(g, (2, 1)), [[3.0], [12.0]])
    np.testing.assert_array_equal(unbroadcast(g, ()), 15.0)
    np.testing.assert_array_equal(unbroadcast(g, (2, 3)), g)


# -- elementwise products and quotients ---------------------------------------------------------

@pytest.mark.parametrize("sa, sb", [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (2, 3))])
def test_mul_gradients_with_broadcasting(sa, sb):
    rng = np.random.default_rng(1)
    check_grads(lambda a, b: a * b, [rand(rng, *sa), rand(rng, *sb)], rng)


def test_mul_by_itself_and_by_a_constant():
    rng = np.random.default_rng(2)
    check_grads(lambda a: a * a * 3.0, [rand(rng, 2, 3)], rng)
    x = pyconv.tensor(rand(rng, 4), requires_grad=True)
    c = pyconv.tensor(rand(rng, 4))            # needs no gradient
    (x * c).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), c.numpy())


@pytest.mark.parametrize("sa, sb", [((3, 4), (3, 4)), ((3, 4), (1, 4)), ((4,), (3, 1))])
def test_div_gradients_with_broadcasting(sa, sb):
    rng = np.random.default_rng(3)
    b = rng.uniform(0.5, 2.0, sb) * rng.choice([-1, 1], sb)   # away from 0
    check_grads(lambda a, b: a / b, [rand(rng, *sa), b], rng)


def test_div_of_a_constant_by_a_tensor():
    x = pyconv.tensor(np.array([0.5, -2.0, 4.0]), requires_grad=True)
    (1.0 / x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), -1.0 / np.array([0.5, -2.0, 4.0]) ** 2)


# -- reductions ---------------------------------------------------------------------------------

@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), ((0, 2), False),
                                          (-1, True), ((1, 2), True)])
def test_sum_gradients(dim, keepdim):
    rng = np.random.default_rng(4)
    check_grads(lambda x: x.sum(dim, keepdim=keepdim), [rand(rng, 2, 3, 4)], rng)


@pytest.mark.parametrize("dim, keepdim", [(None, False), (0, False), (1, True), ((0, 2), False),
                                          (-1, False)])
def test_mean_gradients(dim, keepdim):
    rng = np.random.default_rng(5)
    check_grads(lambda x: x.mean(dim, keepdim=keepdim), [rand(rng, 2, 3, 4)], rng)


def test_mean_of_everything_spreads_one_over_n():
    x = pyconv.tensor(np.ones((4, 5)), requires_grad=True)
    x.mean().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 5), 1 / 20))


# -- matmul ---------------------------------------------------------------------------------

def test_matmul_backward_primitives_against_their_sums():
    rng = np.random.default_rng(6)
    B, M, K, N = 3, 5, 4, 7
    a, b, dc = rand(rng, B, M, K), rand(rng, B, K, N), rand(rng, B, M, N)
    np.testing.assert_allclose(numpy_ref.matmul_backward_a(dc, b), np.einsum("bmn,bkn->bmk", dc, b), rtol=1e-12)
    np.testing.assert_allclose(numpy_ref.matmul_backward_b(a, dc), np.einsum("bmk,bmn->bkn", a, dc), rtol=1e-12)
    for out in (numpy_ref.matmul_backward_a(dc, b), numpy_ref.matmul_backward_b(a, dc)):
        assert out.flags.c_contiguous


@pytest.mark.parametrize("sa, sb", [((5, 4), (4, 3)), ((2, 5, 4), (2, 4, 3)), ((2, 5, 4), (4, 3)),
                                    ((3, 1, 5, 4), (2, 4, 1)), ((4,), (4, 3)), ((5, 4), (4,)),
                                    ((1, 1), (1, 1))])
def test_matmul_gradients_on_the_numpy_backend(sa, sb):
    rng = np.random.default_rng(7)
    with pyconv.backend("numpy"):
        check_grads(lambda a, b: a @ b, [rand(rng, *sa), rand(rng, *sb)], rng)


def test_a_linear_model_loss_against_finite_differences():
    rng = np.random.default_rng(8)
    x, w, b, y = rand(rng, 6, 3), rand(rng, 3, 2), rand(rng, 2), rand(rng, 6, 2)

    def loss(x, w, b):
        d = x @ w + b - pyconv.tensor(y)
        return (d * d).mean() / 2.0

    with pyconv.backend("numpy"):
        check_grads(loss, [x, w, b], rng)
