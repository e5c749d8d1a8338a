"""Optimizers against updates computed by hand from PyTorch's documented rules, on the quadratic
f(p) = sum(a * p^2) / 2 (gradient a * p), one element at a time in plain Python floats."""
import importlib.util
import math
import os

import numpy as np
import pytest

import pyconv
import pyconv.optim.clip
from pyconv import optim
from pyconv.nn import Linear
from pyconv.tensor import Tensor

_spec = importlib.util.spec_from_file_location(
    "pyconv_host_reads", os.path.join(os.path.dirname(os.path.abspath(__file__)), "host_reads.py"))
host_reads = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(host_reads)

A = [1.0, 3.0, -0.5]
P0 = [1.0, -2.0, 0.5]


def run(make_opt, steps=5):
    p = Tensor(np.array(P0, dtype=np.float64), requires_grad=True)
    opt = make_opt([p])
    for _ in range(steps):
        opt.zero_grad()
        p.grad = Tensor(np.array(A) * p.data)
        opt.step()
    return p.data


def by_hand(update, steps=5):
    """update(p, g, state, t) -> new p, for each element separately."""
    out = []
    for a, p in zip(A, P0):
        state = {}
        for t in range(1, steps + 1):
            p = update(p, a * p, state, t)
        out.append(p)
    return np.array(out)


@pytest.mark.parametrize("momentum,dampening,nesterov,wd", [
    (0.0, 0.0, False, 0.0), (0.9, 0.0, False, 0.0), (0.9, 0.1, False, 0.01), (0.9, 0.0, True, 0.01)])
def test_sgd(momentum, dampening, nesterov, wd):
    lr = 0.1

    def update(p, g, s, t):
        g = g + wd * p
        if momentum:
            s["b"] = g if t == 1 else momentum * s["b"] + (1 - dampening) * g
            g = g + momentum * s["b"] if nesterov else s["b"]
        return p - lr * g
    got = run(lambda ps: optim.SGD(ps, lr=lr, momentum=momentum, dampening=dampening,
                                   nesterov=nesterov, weight_decay=wd))
    np.testing.assert_allclose(got, by_hand(update), rtol=1e-12)


def adam_rule(lr, b1, b2, eps, wd, decoupled, amsgrad=False):
    def update(p, g, s, t):
        if decoupled:
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
        s["m"] = b1 * s.get("m", 0.0) + (1 - b1) * g
        s["v"] = b2 * s.get("v", 0.0) + (1 - b2) * g * g
        v = s["v"]
        if amsgrad:
            s["vmax"] = max(s.get("vmax", 0.0), v)
            v = s["vmax"]
        m_hat, v_hat = s["m"] / (1 - b1 ** t), v / (1 - b2 ** t)
        return p - lr * m_hat / (math.sqrt(v_hat) + eps)
    return update


@pytest.mark.parametrize("wd,amsgrad", [(0.0, False), (0.1, False), (0.0, True)])
def test_adam(wd, amsgrad):
    got = run(lambda ps: optim.Adam(ps, lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=wd, amsgrad=amsgrad))
    want = by_hand(adam_rule(0.01, 0.8, 0.9, 1e-6, wd, decoupled=False, amsgrad=amsgrad))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_adamw_decoupled_weight_decay():
    got = run(lambda ps: optim.AdamW(ps, lr=0.01, weight_decay=0.1))
    want = by_hand(adam_rule(0.01, 0.9, 0.999, 1e-8, 0.1, decoupled=True))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    assert not np.allclose(want, by_hand(adam_rule(0.01, 0.9, 0.999, 1e-8, 0.1, decoupled=False)))


@pytest.mark.parametrize("momentum,centered,wd", [(0.0, False, 0.0), (0.5, False, 0.1), (0.5, True, 0.0)])
def test_rmsprop(momentum, centered, wd):
    lr, alpha, eps = 0.01, 0.9, 1e-8

    def update(p, g, s, t):
        g = g + wd * p
        s["sq"] = alpha * s.get("sq", 0.0) + (1 - alpha) * g * g
        if centered:
            s["ga"] = alpha * s.get("ga", 0.0) + (1 - alpha) * g
            avg = math.sqrt(s["sq"] - s["ga"] ** 2) + eps
        else:
            avg = math.sqrt(s["sq"]) + eps
        if momentum:
            s["b"] = momentum * s.get("b", 0.0) + g / avg
            return p - lr * s["b"]
        return p - lr * g / avg
    got = run(lambda ps: optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps, momentum=momentum,
                                       centered=centered, weight_decay=wd))
    np.testing.assert_allclose(got, by_hand(update), rtol=1e-10)


def test_adagrad():
    lr, decay, init, eps = 0.1, 0.05, 0.1, 1e-10

    def update(p, g, s, t):
        s["sum"] = s.get("sum", init) + g * g
        return p - lr / (1 + (t - 1) * decay) * g / (math.sqrt(s["sum"]) + eps)
    got = run(lambda ps: optim.Adagrad(ps, lr=lr, lr_decay=decay, initial_accumulator_value=init, eps=eps))
    np.testing.assert_allclose(got, by_hand(update), rtol=1e-10)


@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), lambda ps: optim.Adam(ps, lr=0.01),
    lambda ps: optim.AdamW(ps), lambda ps: optim.RMSprop(ps, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps)])
def test_state_dict_round_trip_continues_identically(make):
    def model_and_opt():
        pyconv.nn.init.manual_seed(1)
        m = Linear(3, 2)
        return m, make(list(m.parameters()))

    x = pyconv.tensor(np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32))

    def step(m, opt):
        opt.zero_grad()
        ((m(x) * m(x)).sum()).backward()
        opt.step()

    m1, o1 = model_and_opt()
    for _ in range(3):
        step(m1, o1)
    saved_model, saved_opt = m1.state_dict(), o1.state_dict()
    m2, o2 = model_and_opt()
    m2.load_state_dict(saved_model)
    o2.load_state_dict(saved_opt)
    for _ in range(2):
        step(m1, o1)
        step(m2, o2)
    for a, b in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_array_equal(a.data, b.data)


def test_zero_grad_and_params_without_grad():
    p = Tensor(np.ones(2), requires_grad=True)
    q = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([p, q], lr=1.0)
    p.grad = Tensor(np.ones(2))
    opt.step()  # q has no grad: left alone
    np.testing.assert_array_equal(p.data, [0, 0])
    np.testing.assert_array_equal(q.data, [1, 1])
    opt.zero_grad()
    assert p.grad is None


def test_param_groups_and_errors():
    p = Tensor(np.ones(2), requires_grad=True)
    q = Tensor(np.ones(2), requires_grad=True)
    opt = optim.SGD([{"params": [p]}, {"params": [q], "lr": 0.5}], lr=0.1)
    p.grad = q.grad = Tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(p.data, 0.9)
    np.testing.assert_allclose(q.data, 0.5)
    with pytest.raises(ValueError):
        optim.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([p * 2], lr=0.1)
    optim.SGD([Tensor(np.ones(2))], lr=0.1)  # frozen (no grad) parameters are accepted, as PyTorch
    with pytest.raises(ValueError):
        optim.SGD([p], lr=0.1, nesterov=True)


def test_float32_params_stay_float32():
    m = Linear(3, 2)
    opt = optim.Adam(m.parameters())
    (m(pyconv.tensor(np.ones((2, 3), np.float32))).sum()).backward()
    opt.step()
    assert all(p.dtype == np.float32 for p in m.parameters())


def test_step_lr_and_cosine():
    p = Tensor(np.ones(1), requires_grad=True)
    opt = optim.SGD([p], lr=1.0)
    sched = optim.StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = optim.SGD([p], lr=1.0)
    sched = optim.CosineAnnealingLR(opt, T_max=4, eta_min=0.1)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    want = [0.1 + 0.9 * (1 + math.cos(math.pi * t / 4)) / 2 for t in range(5)]
    np.testing.assert_allclose(lrs, want)
    state = sched.state_dict()
    opt2 = optim.SGD([p], lr=1.0)
    sched2 = optim.CosineAnnealingLR(opt2, T_max=4, eta_min=0.1)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"])


def test_clip_grad_norm_and_value():
    p = Tensor(np.zeros(2), requires_grad=True)
    q = Tensor(np.zeros(1), requires_grad=True)
    p.grad, q.grad = Tensor(np.array([3.0, 0.0])), Tensor(np.array([4.0]))
    total = optim.clip_grad_norm_([p, q], max_norm=1.0)
    assert isinstance(total, Tensor) and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([p.grad.data, q.grad.data]), [0.6, 0, 0.8], rtol=1e-5)
    assert optim.clip_grad_norm_([p, q], max_norm=10.0).item() == pytest.approx(1.0, rel=1e-5)  # no change
    np.testing.assert_allclose(p.grad.data, [0.6, 0], rtol=1e-5)
    p.grad = Tensor(np.array([3.0, -0.2]))
    assert optim.clip_grad_norm_(p, 1.0, norm_type=float("inf")).item() == pytest.approx(3.0)
    p.grad = Tensor(np.array([3.0, -0.2]))
    optim.clip_grad_value_([p], 0.5)
    np.testing.assert_allclose(p.grad.data, [0.5, -0.2])


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_reads_nothing_back_to_the_host(monkeypatch, norm_type):
    """On the GPU a host read waits for the device: the norm and the scale stay device arrays,
    and only error_if_nonfinite reads the norm, once. Same values as computed by hand."""
    monkeypatch.setattr(pyconv.optim.clip, "array_module", lambda device: host_reads.CountingNumpy())
    reads = host_reads.HostReads
    for error_if_nonfinite, expected_reads in ((False, 0), (True, 1)):
        params = []
        for values in ([3.0, 0.0], [-4.0], [0.5, 0.5]):
            p = Tensor(np.zeros(len(values)), requires_grad=True)
            p.grad = Tensor(np.zeros(len(values)))
            p.grad.data = host_reads.counting(np.array(values))
            params.append(p)
        reads.reads = 0
        total = optim.clip_grad_norm_(params, max_norm=1.0, norm_type=norm_type,
                                      error_if_nonfinite=error_if_nonfinite)
        assert reads.reads == expected_reads
        flat = np.array([3.0, 0.0, -4.0, 0.5, 0.5])
        norm = np.abs(flat).max() if math.isinf(norm_type) else (np.abs(flat) ** norm_type).sum() ** (1 / norm_type)
        np.testing.assert_allclose(np.asarray(total.data), norm, rtol=1e-12)
        got = np.concatenate([np.asarray(p.grad.data) for p in params])
        np.testing.assert_allclose(got, flat * min(1.0, 1.0 / (norm + 1e-6)), rtol=1e-12)


def test_penalties_values_and_gradients():
    p = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    q = Tensor(np.array([[0.5]]), requires_grad=True)
    l2 = optim.l2_penalty([p, q])
    assert l2.item() == pytest.approx((1 + 4 + 0.25) / 2)
    l2.backward()
    np.testing.assert_allclose(p.grad.data, [1.0, -2.0])
    p.grad = q.grad = None
    l1 = optim.l1_penalty([p, q])
    assert l1.item() == pytest.approx(3.5)
    (2 * l1).backward()
    np.testing.assert_allclose(p.grad.data, [2.0, -2.0])
    np.testing.assert_allclose(q.grad.data, [[2.0]])


def test_l2_penalty_matches_sgd_weight_decay():
    lam = 0.1
    p1 = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    p2 = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    o1 = optim.SGD([p1], lr=0.5, weight_decay=lam)
    o2 = optim.SGD([p2], lr=0.5)
    (p1 * p1).sum().backward()
    ((p2 * p2).sum() + lam * optim.l2_penalty([p2])).backward()
    o1.step()
    o2.step()
    np.testing.assert_allclose(p1.data, p2.data)
