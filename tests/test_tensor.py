"""Tensor basics: construction, dtypes, attributes, the backward engine, errors, creation."""
import numpy as np
import pytest

from pyconv import creation, ops
from pyconv.tensor import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor


# -- construction and dtypes --------------------------------------------------------------
def test_python_floats_become_float32_and_ints_stay_ints():
    assert tensor([1.0, 2.0]).dtype == np.float32
    assert tensor(3.5).dtype == np.float32
    assert tensor([1, 2]).dtype == np.int64
    assert tensor([True, False]).dtype == np.bool_
    assert tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_numpy_arrays_keep_their_dtype_and_are_copied():
    a = np.arange(4.0)
    t = tensor(a)
    assert t.dtype == np.float64
    a[0] = 100
    assert t.numpy()[0] == 0  # tensor() copies
    assert tensor(np.float64(2.0)).dtype == np.float64
    assert Tensor(a).data is a  # Tensor() wraps


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        tensor([1, 2, 3], requires_grad=True)
    labels = tensor([1, 2, 3])
    with pytest.raises(TypeError, match="floating-point"):
        labels.requires_grad_()


def test_strings_are_refused():
    with pytest.raises(TypeError):
        tensor(["a", "b"])


def test_attributes():
    t = tensor(np.zeros((2, 3, 4), np.float32), requires_grad=True)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.numel() == 24 and len(t) == 2
    assert t.device == "cpu" and t.xp is np and t.is_leaf and t.grad is None
    assert tensor([[1.5]]).item() == 1.5
    assert tensor([1, 2]).tolist() == [1, 2]
    with pytest.raises(ValueError):
        tensor([1.0, 2.0]).item()
    assert "requires_grad=True" in repr(t)


def test_python_scalars_take_the_tensor_dtype():
    x32 = tensor([1.0, 2.0])
    x64 = tensor(np.array([1.0, 2.0]))
    for result in (x32 * 2.0, 2.0 * x32, x32 + 1, x32 / 3, 1 - x32, x32 ** 2, 2 ** x32,
                   np.float64(2.0) * x32, x32 * np.float64(2.0), x32 ** np.float64(2),
                   x32.clip(np.float64(0.5), np.float64(1.5))):
        assert result.dtype == np.float32
    assert (x64 * 2.0).dtype == np.float64
    ints = tensor([1, 2])
    assert (ints * 2).dtype == np.int64
    assert (ints * 2.5).dtype.kind == "f"  # float32 scalar next to int64: numpy gives float64


def test_mixed_float_dtypes_promote_and_gradients_keep_each_dtype():
    a = tensor([1.0, 2.0], requires_grad=True)
    b = tensor(np.array([3.0, 4.0]), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64
    np.testing.assert_allclose(a.grad.numpy(), [3, 4])


def test_comparisons_give_bool_tensors_without_grad():
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    for mask, expected in ((x < 2, [1, 0, 0]), (x <= 2, [1, 1, 0]), (x > 2, [0, 0, 1]),
                           (x >= 2, [0, 1, 1]), (x == 2, [0, 1, 0]), (x != 2, [1, 0, 1])):
        assert mask.dtype == np.bool_ and not mask.requires_grad
        np.testing.assert_array_equal(mask.numpy(), np.array(expected, bool))
    assert bool(tensor([3.0]) > 2) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x > 1)
    assert len({x, x}) == 1  # hashable despite elementwise ==


def test_methods_mirror_the_functions():
    x = tensor(np.array([[0.5, -2.0, 3.0], [1.5, 2.5, -0.5]]))
    a = x.numpy()
    pairs = [(x.exp(), np.exp(a)), (x.abs().log(), np.log(np.abs(a))), (x.abs().sqrt(), np.sqrt(np.abs(a))),
             (abs(x), np.abs(a)), (x.clip(-1, 1), np.clip(a, -1, 1)), (x.clamp(min=0), np.maximum(a, 0)),
             (x.maximum(1.0), np.maximum(a, 1)), (x.minimum(x.T.T), a), (x.sum(axis=1), a.sum(1)),
             (x.mean(), a.mean()), (x.max(axis=0).values, a.max(0)), (x.min(), a.min()),
             (x.reshape(3, 2), a.reshape(3, 2)), (x.view(-1), a.ravel()), (x.permute(1, 0), a.T),
             (x.transpose(0, 1), a.T), (x.flatten(), a.ravel()), (x.unsqueeze(1).squeeze(1), a),
             (x.expand((2, 2, 3)), np.broadcast_to(a, (2, 2, 3))), (x.matmul(x.T), a @ a.T), (+x, a),
             (x.relu(), np.maximum(a, 0)), (x.tanh(), np.tanh(a)), (x.sigmoid(), 1 / (1 + np.exp(-a))),
             (x.softmax(dim=1), np.exp(a) / np.exp(a).sum(1, keepdims=True))]
    for got, expected in pairs:
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(x.log_softmax(1).exp().numpy(), pairs[-1][1], rtol=1e-12)
    assert np.asarray(x) is x.data and np.asarray(x, dtype=np.float32).dtype == np.float32
    assert (x > 0).all().item() is False and (x > -5).all().item() is True and (x > 2).any().item()
    assert [row.shape for row in x] == [(3,), (3,)]
    assert float(x[0, 0]) == 0.5 and int(tensor([3])) == 3 and [10, 20][tensor(1)] == 20


# -- the backward engine ------------------------------------------------------------------
def test_requires_grad_propagates():
    a = tensor([1.0], requires_grad=True)
    b = tensor([2.0])
    assert (a * b).requires_grad and not (b * b).requires_grad
    assert not (a * b).is_leaf


def test_no_grad_records_nothing():
    a = tensor([1.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        b = a * 2
        with enable_grad():
            c = a * 2
    assert is_grad_enabled()
    assert not b.requires_grad and b._ctx is None
    assert c.requires_grad


def test_gradients_accumulate_across_backward_calls():
    a = tensor([1.0, 2.0], requires_grad=True)
    loss = (a * a).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 8.0])
    a.zero_grad()
    (a * 3).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 3.0])


def test_leaf_gradient_is_a_private_copy():
    a = tensor([1.0, 2.0], requires_grad=True)
    b = tensor([1.0, 2.0], requires_grad=True)
    (a + b).sum().backward()
    a.grad.data *= 10
    np.testing.assert_allclose(b.grad.numpy(), [1.0, 1.0])


def test_tensor_used_twice_and_diamond_graph():
    x = tensor([3.0], requires_grad=True)
    y = x * x
    z = y + y * x  # x^2 + x^3
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 3 + 3 * 9])


def test_backward_with_explicit_gradient():
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x * 2).backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, -2])
    with pytest.raises(ValueError, match="does not match"):
        (x * 2).backward(np.ones(2))


def test_backward_on_non_scalar_needs_a_gradient():
    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    with pytest.raises(RuntimeError, match="does not require grad"):
        tensor([1.0]).backward()


def test_deep_chain_has_no_recursion_limit():
    x = tensor([1.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(100_000):
        y = y + 1.0
    y.backward()
    assert x.grad.item() == 1.0


def test_detach_cuts_the_graph():
    x = tensor([2.0], requires_grad=True)
    y = x.detach() * x
    y.backward()
    assert x.grad.item() == 2.0
    assert x.detach().data is x.data and not x.detach().requires_grad


def test_custom_function_on_the_base_class():
    class Cube(Function):
        def forward(self, x):
            self.x = x
            return x ** 3

        def backward(self, grad):
            return 3 * self.x ** 2 * grad

    x = tensor([2.0], requires_grad=True)
    Cube.apply(x).backward()
    assert x.grad.item() == 12.0


def test_function_with_wrong_gradient_shape_is_reported():
    class Bad(Function):
        def forward(self, x):
            return x * 1

        def backward(self, grad):
            return grad.sum()

    x = tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="Bad.backward gave a gradient of shape"):
        Bad.apply(x).sum().backward()


# -- creation -----------------------------------------------------------------------------
def test_creation_functions():
    assert creation.zeros(2, 3).shape == (2, 3) and creation.zeros((2, 3)).dtype == np.float32
    assert creation.ones(4).numpy().sum() == 4
    np.testing.assert_array_equal(creation.full((2, 2), 7.0).numpy(), np.full((2, 2), 7.0))
    x = tensor(np.ones((2, 2)))
    assert creation.zeros_like(x).dtype == np.float64
    assert creation.ones_like(x, dtype=np.float32).dtype == np.float32
    assert creation.full_like(x, 3).numpy()[0, 0] == 3
    np.testing.assert_array_equal(creation.eye(3).numpy(), np.eye(3))
    assert creation.eye(2, 3).shape == (2, 3)
    assert creation.arange(5).dtype == np.int64
    np.testing.assert_allclose(creation.arange(0, 1, 0.25).numpy(), [0, 0.25, 0.5, 0.75])
    assert creation.zeros(2, requires_grad=True).requires_grad


def test_random_creation_is_reproducible():
    a = creation.randn(3, 4, generator=0)
    b = creation.randn(3, 4, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32
    u = creation.rand(1000, generator=1, dtype=np.float64)
    assert u.dtype == np.float64 and 0 <= u.numpy().min() and u.numpy().max() < 1
    creation.manual_seed(5)
    first = creation.randn(3).numpy()
    creation.manual_seed(5)
    np.testing.assert_array_equal(first, creation.randn(3).numpy())


def test_ops_module_exports_every_public_function():
    for name in ops.__all__:
        assert callable(getattr(ops, name)) or isinstance(getattr(ops, name), np.dtype), name
    assert {"add", "matmul", "sum", "getitem", "concat", "cat", "where", "pad"} <= set(ops.__all__)
    for name in creation.__all__:
        assert callable(getattr(creation, name)), name
