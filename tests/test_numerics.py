"""Numerical edge cases: std's gradient at zero variance, var/std with no degrees of freedom,
matrix products with a size of 0 on every backend, confusion_matrix's label range."""
import warnings

import numpy as np
import pytest

import pyconv
from pyconv import backends
from pyconv import train as T
from pyconv.tensor import tensor

CPU_BACKENDS = [n for n, s in backends.available_backends().items()
                if s == "enabled" and backends.module(n).DEVICE == "cpu"]
CUDA = backends.available_backends()["cuda"] == "enabled"


# -- std at zero variance ----------------------------------------------------------------------
def test_std_gradient_is_zero_at_zero_variance():
    x = tensor(np.full(5, 3.0), requires_grad=True)
    s = x.std()
    s.backward()
    assert float(s.numpy()) == 0.0
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros(5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_std_over_a_dim_with_one_constant_row(dtype):
    data = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]], dtype=dtype)
    x = tensor(data, requires_grad=True)
    x.std(axis=1).sum().backward()
    grad = x.grad.numpy()
    assert grad.dtype == dtype
    np.testing.assert_array_equal(grad[0], np.zeros(3))  # constant row: 0, not nan
    row = data[1].astype(np.float64)  # d std / dx = (x - mean) / ((n - 1) std)
    want = (row - row.mean()) / (2 * row.std(ddof=1))
    np.testing.assert_allclose(grad[1], want, rtol=1e-5)


def test_std_gradient_keeps_nan_of_a_nan_result():
    with pytest.warns(UserWarning):
        x = tensor(np.array([1.0]), requires_grad=True)
        s = x.std()
    s.backward()
    assert np.isnan(x.grad.numpy()).all()


# -- var/std with no degrees of freedom --------------------------------------------------------
@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize("call", ["method", "function"])
def test_one_element_warns_and_gives_nan(name, call):
    x = tensor(np.array([5.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = getattr(x, name)() if call == "method" else getattr(pyconv.ops, name)(x)
    assert np.isnan(out.numpy())
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages  # ours only: numpy's own warnings do not leak
    assert caught[0].category is UserWarning
    assert messages[0].startswith(f"{name}(): degrees of freedom is <= 0")


def test_dof_warning_per_reduced_axis_and_correction():
    x = tensor(np.arange(6.0).reshape(2, 3))
    with pytest.warns(UserWarning, match="var\\(\\): degrees of freedom"):
        out = x.var(axis=0)  # two rows, correction 1: fine
        out = x.var(axis=0, correction=2)
    assert np.isinf(out.numpy()).all()  # N - correction == 0 with a nonzero sum: inf, as PyTorch
    with pytest.warns(UserWarning, match="std\\(\\): degrees of freedom"):
        out = x.std(axis=1, correction=3)
    assert np.isinf(out.numpy()).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.var(axis=1)
        x.std(unbiased=False)
        tensor(np.array([5.0])).var(unbiased=False)


def test_empty_reduction_warns_only_ours():
    x = tensor(np.zeros((2, 0)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = x.std(axis=1)
    assert np.isnan(out.numpy()).all()
    assert [w.category for w in caught] == [UserWarning], [str(w.message) for w in caught]


# -- matmul with a size of 0 -------------------------------------------------------------------
ZERO_SHAPES = [
    ((3, 0), (0, 4), (3, 4)),        # inner 0: zeros, not an error
    ((2, 3, 0), (2, 0, 4), (2, 3, 4)),  # batched
    ((2, 3, 0), (0, 4), (2, 3, 4)),  # batch folded into rows
    ((0,), (0,), ()),                # 1-d dot
    ((0,), (0, 4), (4,)),
    ((3, 0), (0,), (3,)),
    ((0, 3), (3, 4), (0, 4)),        # outer 0
    ((3, 4), (4, 0), (3, 0)),
    ((0, 3, 2), (1, 2, 4), (0, 3, 4)),  # empty batch
]

ZERO_IDS = ["x".join(map(str, sa)) + "@" + "x".join(map(str, sb)) for sa, sb, _ in ZERO_SHAPES]


def check_zero_matmul(sa, sb, want, dtype, device="cpu"):
    rng = np.random.default_rng(0)
    a = tensor(rng.standard_normal(sa).astype(dtype), requires_grad=True, device=device)
    b = tensor(rng.standard_normal(sb).astype(dtype), requires_grad=True, device=device)
    c = a @ b
    assert c.shape == want and c.dtype == dtype and c.device == device
    np.testing.assert_array_equal(c.numpy(), np.zeros(want, dtype))
    (c * 2.0).sum().backward()
    da, db = a.grad.numpy(), b.grad.numpy()
    assert da.shape == sa and db.shape == sb and da.dtype == db.dtype == dtype
    # an empty product contributes nothing: both gradients are zeros (for (0,3)@(3,4), db is
    # a (3,4) block of zeros, not empty)
    np.testing.assert_array_equal(da, np.zeros(sa, dtype))
    np.testing.assert_array_equal(db, np.zeros(sb, dtype))


@pytest.mark.parametrize("name", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb,want", ZERO_SHAPES, ids=ZERO_IDS)
def test_matmul_with_a_zero_size(name, dtype, sa, sb, want):
    with pyconv.backend(name):
        check_zero_matmul(sa, sb, want, dtype)


@pytest.mark.skipif(not CUDA, reason="the cuda backend is disabled")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb,want", ZERO_SHAPES, ids=ZERO_IDS)
def test_matmul_with_a_zero_size_cuda(dtype, sa, sb, want):
    check_zero_matmul(sa, sb, want, dtype, device="cuda")


@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_dot_then_scalar_op_backward(name):
    # the product of two 0-d arrays is a numpy scalar: matmul's backward must still work
    with pyconv.backend(name):
        a = tensor(np.ones(3), requires_grad=True)
        b = tensor(np.arange(3.0), requires_grad=True)
        (a @ b * 2.0).backward()
    np.testing.assert_array_equal(a.grad.numpy(), [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [2.0, 2.0, 2.0])


def test_matmul_zero_inner_integers():
    c = tensor(np.ones((3, 0), np.int64)) @ tensor(np.ones((0, 4), np.int64))
    assert c.shape == (3, 4) and c.dtype == np.int64 and not c.numpy().any()


# -- confusion_matrix --------------------------------------------------------------------------
@pytest.mark.parametrize("preds,targets,which", [
    ([0, -1, 2], [0, 1, 2], "preds"),   # used to be counted silently in the last column
    ([0, 1, 3], [0, 1, 2], "preds"),    # used to raise a bare IndexError
    ([0, 1, 2], [-1, 1, 2], "targets"),
    ([0, 1, 2], [0, 1, 7], "targets"),
])
def test_confusion_matrix_rejects_labels_out_of_range(preds, targets, which):
    with pytest.raises(ValueError, match=f"{which} has labels outside 0..2"):
        T.confusion_matrix(np.array(preds), np.array(targets), 3)


def test_confusion_matrix_in_range():
    counts = T.confusion_matrix([0, 2, 2], [0, 1, 2], 3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 0, 1], [0, 0, 1]])
