"""Every Tensor op: forward values against numpy, float64 gradchecks, broadcasting gradients."""
import numpy as np
import pytest

from pyconv import ops
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor


def rand(*shape, seed=0, low=None):
    """float64 leaf that requires grad; with `low`, values of |x| >= low (away from kinks)."""
    x = np.random.default_rng(seed).standard_normal(shape)
    if low is not None:
        x = np.sign(x) * (np.abs(x) + low)
    return tensor(x, requires_grad=True)


def positive(*shape, seed=0):
    return tensor(np.random.default_rng(seed).uniform(0.5, 2.0, shape), requires_grad=True)


def distinct(*shape, seed=0):
    """Values without ties (for max/min): a shuffled range, scaled."""
    n = int(np.prod(shape))
    return tensor(np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 + 0.05,
                  requires_grad=True)


# -- elementwise --------------------------------------------------------------------------
BINARY = [
    ("add", lambda a, b: a + b, np.add),
    ("sub", lambda a, b: a - b, np.subtract),
    ("mul", lambda a, b: a * b, np.multiply),
    ("div", lambda a, b: a / b, np.divide),
    ("maximum", ops.maximum, np.maximum),
    ("minimum", ops.minimum, np.minimum),
]
SHAPES = [((3, 4), (3, 4)), ((2, 3, 4), (4,)), ((3, 1), (1, 4)), ((4,), (2, 3, 1)), ((), (2, 2))]


@pytest.mark.parametrize("name, fn, reference", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_binary_ops_broadcast(name, fn, reference, shapes):
    a, b = rand(*shapes[0], seed=1), positive(*shapes[1], seed=2)
    out = fn(a, b)
    np.testing.assert_allclose(out.numpy(), reference(a.numpy(), b.numpy()), rtol=1e-12)
    assert gradcheck(fn, a, b)
    out.sum().backward()
    assert a.grad.shape == a.shape and b.grad.shape == b.shape


@pytest.mark.parametrize("fn", [lambda x: 2 + x, lambda x: 2 - x, lambda x: 2 * x, lambda x: 2 / x,
                                lambda x: x - 1.5, lambda x: x / 4, lambda x: -x],
                         ids=["radd", "rsub", "rmul", "rdiv", "sub_scalar", "div_scalar", "neg"])
def test_ops_with_python_numbers(fn):
    x = positive(3, 2)
    np.testing.assert_allclose(fn(x).numpy(), fn(x.numpy()))
    assert gradcheck(fn, x)


@pytest.mark.parametrize("name, fn, reference, make", [
    ("exp", ops.exp, np.exp, rand),
    ("log", ops.log, np.log, positive),
    ("sqrt", ops.sqrt, np.sqrt, positive),
    ("abs", ops.abs, np.abs, lambda *s: rand(*s, low=0.1)),
    ("pow_number", lambda x: x ** 3, lambda x: x ** 3, rand),
    ("pow_fraction", lambda x: x ** -1.5, lambda x: x ** -1.5, positive),
    ("rpow", lambda x: 2.0 ** x, lambda x: 2.0 ** x, rand),
    ("clip", lambda x: ops.clip(x, -0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7), lambda *s: rand(*s, seed=3)),
    ("clip_low", lambda x: x.clip(min=0.1), lambda x: np.maximum(x, 0.1), rand),
], ids=lambda v: v if isinstance(v, str) else "")
def test_unary_ops(name, fn, reference, make):
    x = make(4, 5)
    np.testing.assert_allclose(fn(x).numpy(), reference(x.numpy()), rtol=1e-12)
    assert gradcheck(fn, x)


def test_pow_tensor_tensor():
    a, b = positive(3, 4), rand(4, seed=1)
    np.testing.assert_allclose((a ** b).numpy(), a.numpy() ** b.numpy())
    assert gradcheck(lambda a, b: a ** b, a, b)


def test_pow_exponent_gradient_is_zero_for_non_positive_base():
    a = tensor([0.0, 2.0], requires_grad=True)
    b = tensor([2.0, 3.0], requires_grad=True)
    (a ** b).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 8 * np.log(2)], rtol=1e-6)


def test_maximum_minimum_split_ties_half_half():
    a = tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = tensor([2.0, 2.0, 2.0], requires_grad=True)
    ops.maximum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0, 0.5, 1])
    np.testing.assert_allclose(b.grad.numpy(), [1, 0.5, 0])
    a.zero_grad(), b.zero_grad()
    ops.minimum(a, b).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1, 0.5, 0])


def test_abs_and_clip_gradients_at_their_kinks():
    x = tensor([0.0, -1.0, 1.0, 2.0], requires_grad=True)
    x.abs().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, -1, 1, 1])
    x.zero_grad()
    x.clip(-1.0, 1.0).sum().backward()  # bounds pass the gradient, as PyTorch
    np.testing.assert_allclose(x.grad.numpy(), [1, 1, 1, 0])


def test_where():
    cond = tensor(np.array([[True, False, True]]))
    a, b = rand(2, 3), rand(3, seed=1)
    np.testing.assert_allclose(ops.where(cond, a, b).numpy(), np.where(cond.numpy(), a.numpy(), b.numpy()))
    assert gradcheck(lambda a, b: ops.where(cond, a, b), a, b)
    assert gradcheck(lambda a: ops.where(a > 0, a, 0.0), rand(3, 4, low=0.1))


# -- reductions ---------------------------------------------------------------------------
AXES = [None, 0, 1, -1, (0, 2), (2, 0, 1)]


@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
def test_reductions(name, axis, keepdims):
    x = distinct(2, 3, 4)
    fn = getattr(ops, name)
    expected = getattr(np, name)(
        x.numpy(), axis=axis, keepdims=keepdims)
    np.testing.assert_allclose(fn(x, axis=axis, keepdims=keepdims).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(getattr(x, name)(axis=axis, keepdims=keepdims).numpy(), expected)
    assert gradcheck(lambda x: fn(x, axis=axis, keepdims=keepdims), x)


def test_max_splits_the_gradient_among_ties():
    x = tensor([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]], requires_grad=True)
    x.amax(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("axis", [None, 1, (0, 2)], ids=str)
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_var_and_std(axis, correction):
    x = rand(3, 4, 5)
    expected = np.var(x.numpy(), axis=axis, ddof=correction)
    np.testing.assert_allclose(ops.var(x, axis, correction=correction).numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(x.std(axis, correction=correction).numpy(), np.sqrt(expected), rtol=1e-12)
    assert gradcheck(lambda x: ops.var(x, axis, keepdims=True, correction=correction), x)
    assert gradcheck(lambda x: ops.std(x, axis, correction=correction), x)


def test_var_defaults_to_the_unbiased_estimate():
    x = tensor([1.0, 2.0, 3.0, 4.0])
    assert x.var().item() == pytest.approx(np.var(x.numpy(), ddof=1))
    assert x.var(unbiased=False).item() == pytest.approx(np.var(x.numpy()))
    with pytest.raises(ValueError):
        x.var(correction=1, unbiased=True)


def test_argmax_argmin():
    x = tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 2.0]])
    np.testing.assert_array_equal(x.argmax(axis=1).numpy(), [1, 0])
    np.testing.assert_array_equal(x.argmin(axis=0, keepdims=True).numpy(), [[0, 1, 1]])
    assert x.argmax().item() == 3


def test_reduction_axis_errors():
    with pytest.raises(ValueError, match="out of range"):
        ops.sum(rand(2, 3), axis=2)
    with pytest.raises(ValueError, match="repeated"):
        ops.sum(rand(2, 3), axis=(0, -2))


# -- shape ops ----------------------------------------------------------------------------
def test_reshape_and_flatten():
    x = rand(2, 3, 4)
    assert x.reshape(4, -1).shape == (4, 6) and ops.reshape(x, (6, 4)).shape == (6, 4)
    assert x.flatten().shape == (24,) and x.flatten(1).shape == (2, 12)
    assert ops.flatten(x, 0, 1).shape == (6, 4)
    assert gradcheck(lambda x: x.reshape(-1, 2) * tensor(np.arange(12.0).reshape(12, 1)), x)
    assert gradcheck(lambda x: x.flatten(1), x)


def test_transpose_and_permute():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(x.permute(2, 0, 1).numpy(), x.numpy().transpose(2, 0, 1))
    np.testing.assert_array_equal(x.transpose(0, 2).numpy(), np.swapaxes(x.numpy(), 0, 2))
    np.testing.assert_array_equal(x.T.numpy(), x.numpy().T)
    weights = tensor(np.arange(24.0).reshape(4, 2, 3))
    assert gradcheck(lambda x: x.permute((2, 0, 1)) * weights, x)
    assert gradcheck(lambda x: x.transpose(-1, 0) * weights.permute(0, 2, 1), x)
    with pytest.raises(ValueError, match="permutation"):
        x.permute(0, 1)


def test_squeeze_unsqueeze_broadcast_to():
    x = rand(3, 1, 2)
    assert x.squeeze().shape == (3, 2) and x.squeeze(0).shape == (3, 1, 2)
    assert x.unsqueeze(0).shape == (1, 3, 1, 2) and x.unsqueeze(-1).shape == (3, 1, 2, 1)
    assert gradcheck(lambda x: ops.broadcast_to(x, (4, 3, 5, 2)) * tensor(np.arange(2.0)), x)


INDICES = [
    ("int", 1),
    ("slice", np.s_[1:, ::2]),
    ("negative_step", np.s_[::-1, 1]),
    ("none_ellipsis", np.s_[None, ..., 0]),
    ("int_array_repeats", [0, 2, 0, 0]),
    ("int_arrays_pair", (np.array([0, 1, 1]), np.array([2, 2, 2]))),
    ("mixed", np.s_[[1, 1], 1:3]),
    ("bool_mask", np.array([True, False, True])),
]


@pytest.mark.parametrize("name, index", INDICES, ids=[i[0] for i in INDICES])
def test_getitem(name, index):
    x = rand(3, 4)
    np.testing.assert_array_equal(x[index].numpy(), x.numpy()[index])
    assert gradcheck(lambda x: x[index], x)


def test_getitem_with_tensors_and_repeated_indices_accumulates():
    x = rand(4, 2)
    idx = tensor([3, 3, 0])
    x[idx].sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[:, 0], [1, 0, 0, 2])
    x.zero_grad()
    mask = x > 0
    x[mask].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), mask.numpy().astype(float))


def test_concat_stack_pad():
    a, b = rand(2, 3), rand(4, 3, seed=1)
    np.testing.assert_array_equal(ops.concat([a, b]).numpy(), np.concatenate([a.numpy(), b.numpy()]))
    assert ops.cat is ops.concat
    assert gradcheck(lambda a, b: ops.concat([a, b, a], axis=0), a, b)
    c = rand(2, 3, seed=2)
    np.testing.assert_array_equal(ops.stack([a, c], axis=1).numpy(), np.stack([a.numpy(), c.numpy()], 1))
    assert gradcheck(lambda a, c: ops.stack([a, c, a], axis=-1), a, c)
    np.testing.assert_array_equal(ops.pad(a, ((1, 2), (0, 1))).numpy(), np.pad(a.numpy(), ((1, 2), (0, 1))))
    assert ops.pad(a, 1).shape == (4, 5) and ops.pad(a, (1, 2)).shape == (5, 6)
    assert gradcheck(lambda a: ops.pad(a, ((1, 0), (2, 1))), a)
    with pytest.raises(ValueError):
        ops.pad(a, -1)


# -- matmul -------------------------------------------------------------------------------
MATMUL_SHAPES = [
    ((3, 4), (4, 5)),
    ((4,), (4,)),
    ((4,), (4, 5)),
    ((3, 4), (4,)),
    ((2, 3, 4), (4, 5)),        # batch folded into rows
    ((2, 3, 4), (2, 4, 5)),
    ((3, 4), (2, 4, 5)),        # a broadcast over the batch
    ((2, 1, 3, 4), (5, 4, 2)),  # batches broadcast both ways
    ((4,), (2, 4, 3)),
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("sa, sb", MATMUL_SHAPES, ids=str)
def test_matmul(sa, sb):
    a, b = rand(*sa, seed=1), rand(*sb, seed=2)
    out = a @ b
    expected = np.matmul(a.numpy(), b.numpy())
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda a, b: a @ b, a, b)


def test_matmul_float32_and_mixed_dtypes():
    a = tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = tensor(np.ones((3, 2)), requires_grad=True)
    assert (a @ a.T).dtype == np.float32
    out = a @ b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.shape == (3, 2)
    assert (tensor([[1, 2]]) @ tensor([[3], [4]])).item() == 11


def test_matmul_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) @ \(4, 5\)"):
        rand(2, 3) @ rand(4, 5)
    with pytest.raises(ValueError, match="batch"):
        rand(2, 3, 4) @ rand(3, 4, 5)
    with pytest.raises(ValueError, match="at least one dimension"):
        ops.matmul(rand(), rand(3))


def test_composite_expression():
    x, w, b = rand(5, 3), rand(3, 4, seed=1), rand(4, seed=2)
    assert gradcheck(lambda x, w, b: ((x @ w + b).exp().sum(axis=1, keepdims=True).log()
                                      - (x @ w + b)).mean(), x, w, b)
