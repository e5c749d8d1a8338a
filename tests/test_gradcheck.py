"""gradcheck itself: passes correct gradients, names the worst element of wrong ones."""
import numpy as np
import pytest

from pyconv.gradcheck import GradcheckError, gradcheck
from pyconv.tensor import Function, tensor


class WrongSquare(Function):
    """x**2 with a backward that is wrong at one element."""
    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, grad):
        dx = 2 * self.x * grad
        dx.reshape(-1)[4] += 1.0
        return dx


def test_passes_a_correct_gradient_and_returns_true():
    x = tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda x: (x * x).sum(axis=0), x) is True


def test_reports_the_worst_element():
    x = tensor(np.random.default_rng(0).standard_normal((2, 3)), requires_grad=True)
    y = tensor(np.ones(3), requires_grad=True)
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\)\) differs at element \(1, 1\)") as info:
        gradcheck(lambda x, y: WrongSquare.apply(x) * y, x, y)
    assert "1 of 6 elements" in str(info.value)
    assert isinstance(info.value, AssertionError)


def test_float32_inputs_are_checked_in_float64():
    x = tensor(np.linspace(0.5, 2.0, 6, dtype=np.float32), requires_grad=True)
    seen = []
    assert gradcheck(lambda x: (seen.append(x.dtype), x.log())[1], x)
    assert set(seen) == {np.dtype(np.float64)}
    assert x.grad is None and x.dtype == np.float32  # the caller's tensor is untouched


def test_inputs_without_grad_and_non_tensors_pass_through():
    x = tensor([1.0, 2.0], requires_grad=True)
    c = tensor([3.0, 4.0])
    labels = tensor([0, 1])
    assert gradcheck(lambda x, c, labels, k: x * c * k + labels, x, c, labels, 2.0)


def test_an_input_unused_by_fn_has_zero_gradient():
    x, y = tensor([1.0], requires_grad=True), tensor([2.0], requires_grad=True)
    assert gradcheck(lambda x, y: x * 3, x, y)


def test_errors():
    x = tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="no input requires grad"):
        gradcheck(lambda x: x * 2, x)
    x.requires_grad = True
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda x: x.to(dtype=np.float32), x)
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: 1.0, x)


def test_nan_gradients_fail():
    x = tensor([-1.0, 1.0], requires_grad=True)
    with pytest.raises(GradcheckError), np.errstate(invalid="ignore"):
        gradcheck(lambda x: x.sqrt(), x)
