"""Losses: values against direct formulas, gradchecks for every reduction, stability."""
import importlib.util
import os

import numpy as np
import pytest

import pyconv.nn.functional as F
import pyconv.ops.loss
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor

REDUCTIONS = ["mean", "sum", "none"]

_spec = importlib.util.spec_from_file_location(
    "pyconv_host_reads", os.path.join(os.path.dirname(os.path.abspath(__file__)), "host_reads.py"))
host_reads = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(host_reads)


def rand(*shape, seed=0, requires_grad=True, dtype=np.float64):
    return tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype),
                  requires_grad=requires_grad)


def reduce(loss, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](loss)


def labels(shape, classes, seed=5):
    return tensor(np.random.default_rng(seed).integers(0, classes, shape))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_mse_and_l1(reduction):
    x, t = rand(3, 4), rand(3, 4, seed=1)
    d = x.data - t.data
    np.testing.assert_allclose(F.mse_loss(x, t, reduction=reduction).data, reduce(d * d, reduction))
    np.testing.assert_allclose(F.l1_loss(x, t, reduction=reduction).data, reduce(np.abs(d), reduction))
    assert gradcheck(lambda x, t: F.mse_loss(x, t, reduction=reduction), x, t)
    assert gradcheck(lambda x, t: F.l1_loss(x, t, reduction=reduction), x, t)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy(reduction):
    rng = np.random.default_rng(2)
    p = tensor(rng.uniform(0.05, 0.95, (4, 3)), requires_grad=True)
    t = tensor(rng.uniform(0, 1, (4, 3)), requires_grad=True)
    ref = -(t.data * np.log(p.data) + (1 - t.data) * np.log(1 - p.data))
    np.testing.assert_allclose(F.binary_cross_entropy(p, t, reduction=reduction).data,
                               reduce(ref, reduction), rtol=1e-12)
    assert gradcheck(lambda p, t: F.binary_cross_entropy(p, t, reduction=reduction), p, t)


def test_binary_cross_entropy_clamps_log_at_minus_100():
    p = tensor(np.array([0.0, 1.0, 0.0]), requires_grad=True)
    t = tensor(np.array([1.0, 0.0, 0.0]))
    loss = F.binary_cross_entropy(p, t, reduction="none")
    np.testing.assert_array_equal(loss.data, [100.0, 100.0, 0.0])
    loss.backward(np.ones(3))
    assert np.isfinite(p.grad.data).all()


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction):
    x, t = rand(4, 3), tensor(np.random.default_rng(1).uniform(0, 1, (4, 3)), requires_grad=True)
    s = 1 / (1 + np.exp(-x.data))
    ref = -(t.data * np.log(s) + (1 - t.data) * np.log(1 - s))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, t, reduction=reduction).data,
                               reduce(ref, reduction), rtol=1e-10)
    assert gradcheck(lambda x, t: F.binary_cross_entropy_with_logits(x, t, reduction=reduction), x, t)


def test_binary_cross_entropy_with_logits_is_stable():
    x = tensor(np.array([-1000.0, 1000.0, 800.0]))
    t = tensor(np.array([0.0, 1.0, 0.0]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, 0.0, 800.0])


def log_softmax_ref(x, axis):
    z = x - x.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


# (logits shape, target shape)
CLASS_SHAPES = [((5, 4), (5,)), ((4,), ()), ((2, 3, 2, 2), (2, 2, 2))]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("xs,ts", CLASS_SHAPES)
def test_cross_entropy_and_nll(xs, ts, reduction):
    C = xs[1] if len(xs) > 1 else xs[0]
    x, t = rand(*xs), labels(ts, C)
    logp = log_softmax_ref(x.data, 1 if len(xs) > 1 else 0)
    picked = np.take_along_axis(logp, np.expand_dims(t.data, 1 if len(xs) > 1 else 0),
                                axis=1 if len(xs) > 1 else 0).squeeze(1 if len(xs) > 1 else 0)
    np.testing.assert_allclose(F.cross_entropy(x, t, reduction=reduction).data,
                               reduce(-picked, reduction), rtol=1e-12)
    lp = tensor(logp, requires_grad=True)
    np.testing.assert_allclose(F.nll_loss(lp, t, reduction=reduction).data,
                               reduce(-picked, reduction), rtol=1e-12)
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction), x)
    assert gradcheck(lambda lp: F.nll_loss(lp, t, reduction=reduction), lp)


def test_cross_entropy_is_stable_for_huge_logits():
    x = tensor(np.array([[1000.0, -1000.0, 0.0], [-5e4, 5e4, 5e4]]), requires_grad=True)
    t = tensor(np.array([0, 2]))
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = F.cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(loss.data, [0.0, np.log(2)], atol=1e-12)


def test_cross_entropy_float32():
    x, t = rand(3, 4, dtype=np.float32), labels((3,), 4)
    loss = F.cross_entropy(x, t)
    assert loss.dtype == np.float32 and loss.shape == ()
    loss.backward()
    assert x.grad.dtype == np.float32


def hinge_ref(s, y, margin):
    loss = np.zeros(len(y))
    for i, yi in enumerate(y):
        for j in range(s.shape[1]):
            if j != yi:
                loss[i] += max(0.0, s[i, j] - s[i, yi] + margin)
    return loss


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_hinge_loss(reduction, margin):
    s, y = rand(6, 4), labels((6,), 4)
    np.testing.assert_allclose(F.hinge_loss(s, y, margin=margin, reduction=reduction).data,
                               reduce(hinge_ref(s.data, y.data, margin), reduction), rtol=1e-12)
    assert gradcheck(lambda s: F.hinge_loss(s, y, margin=margin, reduction=reduction), s)


def test_hinge_loss_is_not_divided_by_the_number_of_classes():
    # CS231n's example: scores (3.2, 5.1, -1.7), true class 0 -> max(0, 2.9) + max(0, -3.9) = 2.9
    s = tensor(np.array([[3.2, 5.1, -1.7]]))
    np.testing.assert_allclose(F.hinge_loss(s, tensor(np.array([0]))).data, 2.9)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss", "binary_cross_entropy"])
def test_a_loss_reads_the_data_back_once_per_call(monkeypatch, loss):
    """On the GPU a host read waits for the device. The input/target check needs one (see
    ops/loss.py: a bad label or probability would otherwise give a silently wrong loss); the rest
    of forward and backward stays on the device."""
    monkeypatch.setattr(pyconv.ops.loss, "_xp", lambda a: host_reads.CountingNumpy())
    rng = np.random.default_rng(3)

    def counting(a, requires_grad=False):
        t = tensor(np.zeros(a.shape, a.dtype), requires_grad=requires_grad)
        t.data = host_reads.counting(a)
        return t

    if loss == "binary_cross_entropy":
        args = (counting(rng.uniform(0.1, 0.9, (4, 3)), True), counting(rng.uniform(0, 1, (4, 3))))
    else:
        args = (counting(rng.standard_normal((4, 3)), True), counting(np.array([0, 2, 1, 2])))
    reads = host_reads.HostReads
    reads.reads = 0
    out = getattr(F, loss)(*args)
    assert reads.reads == 1
    out.backward()
    assert reads.reads == 1
