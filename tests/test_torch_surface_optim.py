"""pyconv.optim with PyTorch's names and algorithms: Adadelta against a numpy re-implementation of
PyTorch's documented algorithm, optimizers written as for PyTorch, schedules against their closed
forms, and (where torch is installed) direct comparisons."""
import math

import numpy as np
import pytest

import pyconv
from pyconv import checkpoint, nn, optim
from pyconv.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, MultiStepLR,
                                       OneCycleLR, ReduceLROnPlateau, StepLR)
from pyconv.tensor import Tensor

P0 = np.array([1.0, -2.0, 0.5])
A = np.array([1.0, 3.0, -0.5])  # f(p) = sum(a * p^2) / 2, gradient a * p


def adadelta_numpy(p, steps, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0, maximize=False):
    """PyTorch's documented Adadelta, in numpy."""
    v, u = np.zeros_like(p), np.zeros_like(p)
    for _ in range(steps):
        g = A * p
        g = -g if maximize else g
        g = g + weight_decay * p
        v = rho * v + (1 - rho) * g * g
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta * delta
        p = p - lr * delta
    return p


def run(opt_factory, steps=6):
    p = Tensor(P0.copy(), requires_grad=True)
    opt = opt_factory([p])
    for _ in range(steps):
        opt.zero_grad()
        p.grad = Tensor(A * p.data)
        opt.step()
    return p, opt


@pytest.mark.parametrize("kwargs", [{}, dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1), dict(maximize=True)])
def test_adadelta_matches_pytorch_algorithm(kwargs):
    p, opt = run(lambda ps: optim.Adadelta(ps, **kwargs))
    np.testing.assert_allclose(p.data, adadelta_numpy(P0.copy(), 6, **kwargs), rtol=1e-12)
    state = opt.state[p]
    assert state["step"] == 6 and set(state) == {"step", "square_avg", "acc_delta"}


@pytest.mark.parametrize("make", [lambda ps, **k: optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1, **k),
                                  lambda ps, **k: optim.Adam(ps, lr=0.1, weight_decay=0.1, **k),
                                  lambda ps, **k: optim.AdamW(ps, lr=0.1, **k),
                                  lambda ps, **k: optim.RMSprop(ps, momentum=0.5, **k),
                                  lambda ps, **k: optim.Adagrad(ps, **k)])
def test_maximize_is_descent_on_the_negated_objective(make):
    p, _ = run(lambda ps: make(ps, maximize=True))
    q = Tensor(P0.copy(), requires_grad=True)
    opt = make([q])
    for _ in range(6):
        q.grad = Tensor(-A * q.data)  # the gradient of -f
        opt.step()
    np.testing.assert_allclose(p.data, q.data, rtol=1e-12)


def test_adadelta_state_dict_round_trips_through_a_checkpoint(tmp_path):
    p, opt = run(lambda ps: optim.Adadelta(ps, lr=0.5), steps=3)
    checkpoint.save_checkpoint(tmp_path / "c.npz", {"optimizer": opt.state_dict()})
    q = Tensor(p.data.copy(), requires_grad=True)
    other = optim.Adadelta([q], lr=0.1)
    other.load_state_dict(checkpoint.load_checkpoint(tmp_path / "c.npz")["optimizer"])
    assert other.param_groups[0]["lr"] == 0.5
    for o, t in ((opt, p), (other, q)):
        for _ in range(2):
            t.grad = Tensor(A * t.data)
            o.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_state_is_keyed_by_parameter_and_groups_can_be_added():
    lin = nn.Linear(2, 1)
    opt = optim.SGD([lin.weight], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": lin.bias, "lr": 0.5})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.5
    lin(pyconv.ones(3, 2)).sum().backward()
    opt.step()
    assert set(opt.state) == {lin.weight, lin.bias}
    assert "momentum_buffer" in opt.state[lin.bias]
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [lin.weight]})
    opt.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and not lin.weight.grad.data.any()
    opt.zero_grad()
    assert lin.weight.grad is None
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(lin.weight, lr=0.1)


class MomentumSGD(optim.Optimizer):
    """Written as for PyTorch: Tensor state, in-place Tensor ops, @no_grad step with closure."""

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @pyconv.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with pyconv.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if len(state) == 0:
                    state["step"] = 0
                    state["momentum_buffer"] = pyconv.zeros_like(p)
                state["step"] += 1
                buf = state["momentum_buffer"]
                buf.mul_(group["momentum"]).add_(p.grad)
                p.add_(buf, alpha=-group["lr"])
        return loss


def momentum_numpy(p, steps, lr=0.1, momentum=0.9):
    buf = np.zeros_like(p)
    for _ in range(steps):
        buf = momentum * buf + 2 * p  # gradient of sum(p^2)
        p = p - lr * buf
    return p


def test_an_optimizer_written_as_for_pytorch():
    w = Tensor(P0.copy(), requires_grad=True)
    opt = MomentumSGD([w])

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(3)]
    assert losses[0] == pytest.approx((P0 ** 2).sum())
    np.testing.assert_allclose(w.data, momentum_numpy(P0.copy(), 3), rtol=1e-12)
    saved = opt.state_dict()
    assert saved["state"][0]["step"] == 3 and isinstance(saved["state"][0]["momentum_buffer"], np.ndarray)
    w2 = Tensor(w.data.copy(), requires_grad=True)
    opt2 = MomentumSGD([w2])
    opt2.load_state_dict(saved)
    assert isinstance(opt2.state[w2]["momentum_buffer"], Tensor)
    for o, t in ((opt, w), (opt2, w2)):
        t.grad = Tensor(2 * t.data)
        o.step()
    np.testing.assert_array_equal(w.data, w2.data)


def test_builtin_step_takes_a_closure():
    w = Tensor(P0.copy(), requires_grad=True)
    opt = optim.SGD([w], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == pytest.approx((P0 ** 2).sum())
    np.testing.assert_allclose(w.data, P0 * 0.8)


# -- learning-rate schedules -----------------------------------------------------------------

def rates(make, steps=12, lr=0.5, metrics=None, optimizer=optim.SGD):
    opt = optimizer([Tensor(np.ones(1), requires_grad=True)], lr=lr)
    sched = make(opt)
    out = []
    for i in range(steps):
        out.append(sched.get_last_lr()[0])
        assert out[-1] == opt.param_groups[0]["lr"]
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
    return out, opt


@pytest.mark.parametrize("make,closed", [
    (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda e: 0.5 * 0.5 ** (e // 3)),
    (lambda o: MultiStepLR(o, milestones=[2, 5, 5], gamma=0.1), lambda e: 0.5 * 0.1 ** ((e >= 2) + 2 * (e >= 5))),
    (lambda o: ExponentialLR(o, gamma=0.9), lambda e: 0.5 * 0.9 ** e),
    (lambda o: CosineAnnealingLR(o, T_max=5, eta_min=0.01),
     lambda e: 0.01 + (0.5 - 0.01) * (1 + math.cos(math.pi * e / 5)) / 2),
    (lambda o: LambdaLR(o, lambda e: 1 / (e + 1)), lambda e: 0.5 / (e + 1)),
])
def test_schedules_follow_their_closed_forms(make, closed):
    got, _ = rates(make)
    np.testing.assert_allclose(got, [closed(e) for e in range(12)], rtol=1e-12)


def test_one_cycle_by_hand():
    total, top = 10, 1.0
    got, opt = rates(lambda o: OneCycleLR(o, max_lr=top, total_steps=total), steps=total)
    start, low = top / 25, top / 25 / 1e4
    rise_end = 0.3 * total - 1  # phases end at steps 2 and 9

    def cos(a, b, pct):
        return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)
    want = [cos(start, top, s / rise_end) if s <= rise_end else cos(top, low, (s - rise_end) / (total - 1 - rise_end))
            for s in range(total)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the last step() went to step 10, one past the final phase's end (allowed, as PyTorch)
    past_end = (total - rise_end) / (total - 1 - rise_end)
    assert opt.param_groups[0]["momentum"] == pytest.approx(cos(0.85, 0.95, past_end))
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        rates(lambda o: OneCycleLR(o, max_lr=top, total_steps=total), steps=total + 1)
    _, adam = rates(lambda o: OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=3), steps=2, optimizer=optim.Adam)
    assert adam.param_groups[0]["betas"][0] < 0.95  # beta1 cycles for Adam


def test_reduce_on_plateau_by_hand():
    metrics = [5, 4, 4, 4, 4, 3.9999, 4, 4, 4, 4, 4, 4]
    got, _ = rates(lambda o: ReduceLROnPlateau(o, patience=2, cooldown=1, min_lr=0.004), metrics=metrics)
    # best 4 from epoch 2; 3.9999 is no relative improvement; bad epochs 3, 4, 5 > patience 2
    # -> x0.1 after the 5th metric; cooldown 1 then three more bad epochs -> x0.1 (to the floor)
    assert got == pytest.approx([0.5] * 5 + [0.05] * 4 + [0.005] * 2 + [0.005])
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    sched = ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0, threshold=0.5, threshold_mode="abs")
    for m in (1.0, 1.4, 2.0):
        sched.step(m)
    assert sched.get_last_lr() == [0.5] and sched.best == 2.0


def test_scheduler_module_and_state_dicts(tmp_path):
    from pyconv.optim import lr_scheduler
    assert lr_scheduler.StepLR is optim.StepLR and issubclass(lr_scheduler.OneCycleLR, lr_scheduler.LRScheduler)
    opt = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    sched = LambdaLR(opt, lambda e: 0.5 ** e)
    for _ in range(3):
        sched.step()
    state = sched.state_dict()
    assert "lr_lambdas" not in state and state["last_epoch"] == 3
    opt2 = optim.SGD([Tensor(np.ones(1), requires_grad=True)], lr=1.0)
    sched2 = LambdaLR(opt2, lambda e: 0.5 ** e)
    sched2.load_state_dict(state)
    assert sched2.get_last_lr() == [0.125] and opt2.param_groups[0]["lr"] == 0.125
    plateau = ReduceLROnPlateau(opt, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    checkpoint.save_checkpoint(tmp_path / "s.npz", {"scheduler": plateau.state_dict()})
    saved = checkpoint.load_checkpoint(tmp_path / "s.npz")["scheduler"]
    again = ReduceLROnPlateau(opt2)
    again.load_state_dict(saved)
    assert again.best == 1.0 and again.patience == 0


# -- against PyTorch, where it is installed ----------------------------------------------------

def test_adadelta_and_schedules_against_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(5)
    p, tp = Tensor(x0.copy(), requires_grad=True), torch.tensor(x0.copy(), requires_grad=True)
    opt = optim.Adadelta([p], lr=0.7, rho=0.85, weight_decay=0.05)
    topt = torch.optim.Adadelta([tp], lr=0.7, rho=0.85, weight_decay=0.05)
    for _ in range(5):
        g = rng.standard_normal(5)
        p.grad, tp.grad = Tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)
    TL = torch.optim.lr_scheduler
    cases = [(lambda o: OneCycleLR(o, 1.0, total_steps=12, three_phase=True, anneal_strategy="linear"),
              lambda o: TL.OneCycleLR(o, 1.0, total_steps=12, three_phase=True, anneal_strategy="linear")),
             (lambda o: MultiStepLR(o, [3, 7], 0.3), lambda o: TL.MultiStepLR(o, [3, 7], 0.3)),
             (lambda o: CosineAnnealingLR(o, 4, 0.1), lambda o: TL.CosineAnnealingLR(o, 4, 0.1))]
    for ours, theirs in cases:
        got, opt = rates(ours, steps=12, lr=0.5)
        tparam = torch.ones(1, requires_grad=True)
        topt = torch.optim.SGD([tparam], lr=0.5, momentum=0.0)
        tsched = theirs(topt)
        want = []
        for _ in range(12):
            want.append(tsched.get_last_lr()[0])
            topt.step()
            tsched.step()
        np.testing.assert_allclose(got, want, rtol=1e-12)
    metrics = [3, 2, 2, 2, 2.5, 1, 1, 1, 1, 1, 0.5, 0.5]
    got, _ = rates(lambda o: ReduceLROnPlateau(o, patience=1, cooldown=2), metrics=metrics)
    tparam = torch.ones(1, requires_grad=True)
    topt = torch.optim.SGD([tparam], lr=0.5)
    tsched = TL.ReduceLROnPlateau(topt, patience=1, cooldown=2)
    want = []
    for m in metrics:
        want.append(tsched.get_last_lr()[0])
        topt.step()
        tsched.step(m)
    np.testing.assert_allclose(got, want, rtol=1e-12)
