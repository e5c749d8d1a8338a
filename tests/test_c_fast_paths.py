"""The c backend's fast paths outside the primitive contract: ReLU (csrc/elementwise.c) and the
fused SGD/Adam updates (csrc/optim.c), each against the numpy code it replaces."""
import numpy as np
import pytest

import pyconv
from pyconv import optim
from pyconv.backends import c_omp

pytestmark = pytest.mark.skipif(c_omp.lib is None, reason="the C extension is not built")

SIZES = [0, 1, 7, 4097, 100_003]


def _with_specials(rng, n, dtype):
    x = rng.standard_normal(n).astype(dtype)
    if n >= 7:
        x[:6] = [np.nan, np.inf, -np.inf, 0.0, -0.0, np.finfo(dtype).tiny / 2]
    return x


@pytest.mark.parametrize("n", SIZES)
def test_relu_forward_and_backward_match_numpy(n, dtype):
    rng = np.random.default_rng(n)
    x, dy = _with_specials(rng, n, dtype), _with_specials(rng, n, dtype)[::-1].copy()
    y = c_omp.relu_forward(x)
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert y.dtype == x.dtype
    np.testing.assert_array_equal(c_omp.relu_backward(dy, y), np.where(y > 0, dy, 0))


def test_relu_backward_selects_instead_of_multiplying():
    """An Inf gradient where the unit is off gives 0 (PyTorch's threshold_backward), not NaN."""
    y = np.array([0.0, 1.0, 0.0], np.float32)
    dy = np.array([np.inf, 2.0, np.nan], np.float32)
    np.testing.assert_array_equal(c_omp.relu_backward(dy, y), [0.0, 2.0, 0.0])


@pytest.mark.parametrize("backend", ["numpy", "c"])
@pytest.mark.parametrize("n", [3, 5000])
def test_relu_gradient_is_zero_where_the_unit_is_off_whatever_dy_holds(backend, n):
    x = np.resize(np.array([-1.0, 2.0, -3.0], np.float32), n)
    dy = np.resize(np.array([np.inf, np.nan, -np.inf], np.float32), n)
    with pyconv.backend(backend), np.errstate(all="raise"):
        t = pyconv.tensor(x, requires_grad=True)
        t.relu().backward(pyconv.tensor(dy))
    np.testing.assert_array_equal(t.grad.numpy(), np.resize(np.array([0.0, np.nan, 0.0], np.float32), n))


@pytest.mark.parametrize("shape", [(3, 5), (64, 6, 28, 28), (2, 3, 31, 17)])
def test_relu_op_agrees_across_cpu_backends(shape, dtype):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dy = np.random.default_rng(2).standard_normal(shape).astype(dtype)
    results = []
    for name in ("numpy", "c"):
        with pyconv.backend(name):
            t = pyconv.tensor(x, requires_grad=True)
            y = pyconv.nn.functional.relu(t)
            y.backward(pyconv.tensor(dy))
            results.append((y.numpy(), t.grad.numpy()))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_relu_takes_numpy_for_arrays_c_cannot_read():
    x = np.random.default_rng(0).standard_normal((64, 128)).astype(np.float32)[:, ::2]
    assert not c_omp.fast_path(x)
    y = pyconv.nn.functional.relu(pyconv.tensor(x))
    np.testing.assert_array_equal(y.numpy(), np.maximum(x, 0))


def test_relu_wrappers_reject_mismatched_arrays():
    with pytest.raises(ValueError, match="one shape"):
        c_omp.relu_backward(np.ones(3, np.float32), np.ones(4, np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        c_omp.relu_forward(np.ones(3, np.int64))


ADAM = [dict(lr=0.1), dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6), dict(lr=0.1, weight_decay=0.1),
        dict(lr=0.1, amsgrad=True), dict(lr=0.05, maximize=True)]
SGD = [dict(lr=0.1), dict(lr=0.1, momentum=0.9), dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
       dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1), dict(lr=0.1, momentum=0.5, maximize=True)]
OPTIMIZERS = ([(optim.Adam, h) for h in ADAM] + [(optim.AdamW, dict(lr=0.1, weight_decay=0.1))]
              + [(optim.SGD, h) for h in SGD])


def _run(opt_cls, hyper, fused, dtype, shape=(33, 70), steps=4):
    rng = np.random.default_rng(0)
    p = pyconv.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)
    opt = opt_cls([p], fused=fused, **hyper)
    for _ in range(steps):
        p.grad = pyconv.tensor(rng.standard_normal(shape).astype(dtype))
        opt.step()
    return p.numpy(), opt


@pytest.mark.parametrize("opt_cls,hyper", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", str(v)))
def test_fused_update_matches_the_numpy_rule(opt_cls, hyper, dtype):
    fused, opt = _run(opt_cls, hyper, True, dtype)
    plain, ref = _run(opt_cls, hyper, False, dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(fused, plain, **tol)
    for key, value in ref.state[ref.param_groups[0]["params"][0]].items():
        np.testing.assert_allclose(opt.state[opt.param_groups[0]["params"][0]][key], value, **tol)


@pytest.mark.parametrize("opt_cls", [optim.SGD, optim.Adam])
def test_fused_default_follows_the_backend(opt_cls, monkeypatch):
    calls = []
    monkeypatch.setattr(c_omp, "fused_adam_", lambda *a, **k: calls.append("adam"))
    monkeypatch.setattr(c_omp, "fused_sgd_", lambda *a, **k: calls.append("sgd"))
    _run(opt_cls, dict(lr=0.1, momentum=0.9) if opt_cls is optim.SGD else dict(lr=0.1), None, np.float32, steps=1)
    assert len(calls) == 1
    with pyconv.backend("numpy"):
        _run(opt_cls, dict(lr=0.1), None, np.float32, steps=1)
        with pytest.raises(RuntimeError, match="fused=True needs the c backend"):
            _run(opt_cls, dict(lr=0.1), True, np.float32, steps=1)
    assert len(calls) == 1


def test_fused_and_plain_steps_share_their_state():
    """A run may switch paths (a checkpoint resumed on another backend): the state is the same."""
    rng = np.random.default_rng(3)
    p = pyconv.tensor(rng.standard_normal(50), requires_grad=True)
    q = pyconv.tensor(p.numpy().copy(), requires_grad=True)
    a, b = optim.Adam([p], lr=0.1, fused=False), optim.Adam([q], lr=0.1, fused=True)
    for step in range(4):
        g = rng.standard_normal(50)
        p.grad, q.grad = pyconv.tensor(g), pyconv.tensor(g)
        a.step()
        b.step()
        if step == 1:
            b.param_groups[0]["fused"] = False
    np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-13)


def test_a_read_only_state_array_keeps_the_numpy_path():
    p = pyconv.tensor(np.ones(8, np.float32), requires_grad=True)
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = pyconv.tensor(np.ones(8, np.float32))
    opt.step()
    buf = opt.state[p]["momentum_buffer"]
    buf.flags.writeable = False
    assert not optim.optimizer.fused_applies(opt.param_groups[0], p.data, p.grad.data, buf)


def test_fused_wrappers_refuse_arrays_they_would_have_to_copy():
    p = np.zeros((4, 6), np.float32)[:, ::2]
    g = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match="writeable C-contiguous"):
        c_omp.sgd_step(p, g, None, lr=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                       first=False)
    p = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match="does not match"):
        c_omp.adam_step(p, np.zeros(3, np.float64), np.zeros(3, np.float32), np.zeros(3, np.float32), None,
                        lr=0.1, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0, step=1)


BN_SHAPES = [(2, 3), (5, 4, 7), (8, 6, 9, 11), (64, 32, 14, 14), (3, 1, 2, 2)]


def _batch_norm(backend, x, dy, affine, training, dtype):
    from pyconv.nn import functional as F
    C = x.shape[1]
    rng = np.random.default_rng(7)
    w = pyconv.tensor(rng.standard_normal(C).astype(dtype), requires_grad=True) if affine else None
    b = pyconv.tensor(rng.standard_normal(C).astype(dtype), requires_grad=True) if affine else None
    rm, rv = rng.standard_normal(C).astype(dtype), rng.random(C).astype(dtype) + 0.5
    with pyconv.backend(backend):
        t = pyconv.tensor(x, requires_grad=True)
        y = F.batch_norm(t, rm, rv, w, b, training=training, momentum=0.2, eps=1e-4)
        y.backward(pyconv.tensor(dy))
    grads = [t.grad] + ([w.grad, b.grad] if affine else [])
    return [y.numpy(), rm, rv] + [g.numpy() for g in grads]


@pytest.mark.parametrize("shape", BN_SHAPES)
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_in_c_matches_numpy(shape, affine, training, dtype, monkeypatch):
    from pyconv.ops import normalization
    monkeypatch.setattr(normalization, "_C_MIN", 0)   # small shapes too
    rng = np.random.default_rng(sum(shape))
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    got = _batch_norm("c", x, dy, affine, training, dtype)
    want = _batch_norm("numpy", x, dy, affine, training, dtype)
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-11)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, **tol)


def test_batch_norm_in_c_passes_gradcheck(monkeypatch):
    from pyconv.nn import functional as F
    from pyconv.ops import normalization
    monkeypatch.setattr(normalization, "_C_MIN", 0)
    rng = np.random.default_rng(0)
    x = pyconv.tensor(rng.standard_normal((4, 3, 5, 2)), requires_grad=True)
    w = pyconv.tensor(rng.standard_normal(3), requires_grad=True)
    b = pyconv.tensor(rng.standard_normal(3), requires_grad=True)
    assert pyconv.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), x, w, b)


def test_batch_norm_wrappers_reject_bad_arguments():
    x = np.ones((4, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"weight must be a \(3,\) float32"):
        c_omp.batch_norm_forward(x, np.ones(4, np.float32), None, True, 1e-5)
    with pytest.raises(ValueError, match="rejected"):
        c_omp.batch_norm_forward(np.ones((1, 3, 1), np.float32), None, None, True, 1e-5)
    with pytest.raises(ValueError, match="invstd"):
        c_omp.batch_norm_backward(x, x, np.ones(3, np.float32), np.ones(2, np.float32), None, True)
    with pytest.raises(ValueError, match=r"\(N, C, \.\.\.\)"):
        c_omp.batch_norm_forward(np.ones(3, np.float32), None, None, True, 1e-5)


def test_batch_norm_statistics_survive_a_large_mean():
    """Shifted sums: a mean 1e4 times the spread does not cancel the variance away."""
    x = (1e4 + np.random.default_rng(0).standard_normal((16, 2, 50))).astype(np.float64)
    _, mean, var, _ = c_omp.batch_norm_forward(x, None, None, True, 1e-5)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2)), rtol=1e-12)
    np.testing.assert_allclose(var, x.var(axis=(0, 2)), rtol=1e-8)


def test_relu_in_c_passes_gradcheck(monkeypatch):
    from pyconv.ops import activation
    monkeypatch.setattr(activation, "_C_RELU_MIN", 0)   # the C kernels on a gradcheck-sized input
    x = np.random.default_rng(0).standard_normal((3, 4, 5))
    x[np.abs(x) < 1e-3] = 0.5   # keep clear of the kink, where central differences disagree
    t = pyconv.tensor(x, requires_grad=True)
    assert pyconv.gradcheck(lambda t: pyconv.nn.functional.relu(t) * 1.5, t)
