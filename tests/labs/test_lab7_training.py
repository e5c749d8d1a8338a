"""Lab 7: training LeNet-5 (nn.Linear.forward in pyconv/nn/linear.py, cross_entropy's log-softmax
and gradient in pyconv/ops/loss.py, SGD and Adam in pyconv/optim/, the training step of
train_epoch in pyconv/train.py).

Layers and losses are compared with numpy definitions, the optimizers with their update rules
written out below (PyTorch's), the loop with a tiny seeded dataset that a small CNN learns in
seconds. The full MNIST run (LeNet-5 >= 98% test accuracy) is marked slow and skipped when
pyconv's data lookup (root, PYCONV_DATA, ~/.cache/pyconv) does not find MNIST.
"""
import numpy as np
import pytest

import pyconv
import pyconv.nn.functional as F
from pyconv import data, nn, optim
from pyconv import train as T
from pyconv.models import lenet5

pytestmark = pytest.mark.lab7


# -- Linear -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape, bias", [((4, 5), True), ((2, 3, 5), True), ((4, 5), False), ((5,), True)])
def test_linear_forward_and_gradients(shape, bias):
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 3, bias=bias, dtype=np.float64)
    W = layer.weight.numpy().copy()
    b = layer.bias.numpy().copy() if bias else np.zeros(3)
    x = pyconv.tensor(rng.standard_normal(shape), requires_grad=True)
    y = layer(x)
    expected = x.numpy() @ W.T + b
    assert y.shape == expected.shape
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(expected.shape)
    y.backward(pyconv.tensor(g))
    rows_x, rows_g = x.numpy().reshape(-1, 5), g.reshape(-1, 3)
    np.testing.assert_allclose(x.grad.numpy(), g @ W, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.weight.grad.numpy(), rows_g.T @ rows_x, rtol=1e-12, atol=1e-12)
    if bias:
        np.testing.assert_allclose(layer.bias.grad.numpy(), rows_g.sum(axis=0), rtol=1e-12, atol=1e-12)


# -- cross-entropy ---------------------------------------------------------------------------

def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def test_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 4))
    target = np.array([0, 3, 1, 1, 2, 0])
    x = pyconv.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, pyconv.tensor(target))
    expected = -log_softmax(logits)[np.arange(6), target].mean()
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    softmax = np.exp(log_softmax(logits))
    np.testing.assert_allclose(x.grad.numpy(), (softmax - np.eye(4)[target]) / 6, rtol=1e-10, atol=1e-12)


def test_cross_entropy_of_huge_logits_is_finite():
    logits = np.array([[1000.0, 0.0, -1000.0], [-500.0, 500.0, 499.0]])
    target = np.array([0, 2])
    x = pyconv.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, pyconv.tensor(target), reduction="sum")
    assert loss.item() == pytest.approx(1.0 + np.log1p(np.exp(-1.0)), rel=1e-12)
    loss.backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_cross_entropy_with_weights_and_label_smoothing():
    rng = np.random.default_rng(2)
    logits, target = rng.standard_normal((5, 3)), np.array([2, 0, 1, 2, 2])
    weight, s = np.array([0.5, 2.0, 1.0]), 0.1
    q = (1 - s) * np.eye(3)[target] * weight[target][:, None] + (s / 3) * weight   # the target distribution
    denominator = weight[target].sum()
    x = pyconv.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x, pyconv.tensor(target), weight=pyconv.tensor(weight), label_smoothing=s)
    assert loss.item() == pytest.approx(-(q * log_softmax(logits)).sum() / denominator, rel=1e-12)
    loss.backward()
    softmax = np.exp(log_softmax(logits))
    expected = (q.sum(axis=1, keepdims=True) * softmax - q) / denominator
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=1e-10, atol=1e-12)


# -- the optimizers, against their rules -----------------------------------------------------

GRADS = [np.array([0.5, -1.0, 2.0]), np.array([-0.25, 0.75, 1.0]), np.array([1.0, 0.0, -3.0]),
         np.array([0.1, 0.2, 0.3])]
START = np.array([1.0, -2.0, 0.5])


def run(opt_cls, **hyper):
    """The parameter after one step per gradient in GRADS."""
    p = pyconv.tensor(START.copy(), requires_grad=True)
    opt = opt_cls([p], fused=False, **hyper)  # fused=False: the numpy _update, not csrc/optim.c
    for g in GRADS:
        opt.zero_grad()
        p.grad = pyconv.tensor(g.copy())
        opt.step()
    return p.numpy()


def sgd_rule(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    p, buf = START.copy(), None
    for g in GRADS:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def adam_rule(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False, decoupled=False):
    p, m, v, vmax = START.copy(), 0.0, 0.0, 0.0
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        vhat = (vmax if amsgrad else v) / (1 - betas[1] ** t)
        p = p - lr / (1 - betas[0] ** t) * m / (np.sqrt(vhat) + eps)
    return p


@pytest.mark.parametrize("hyper", [dict(lr=0.1), dict(lr=0.1, momentum=0.9),
                                   dict(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01),
                                   dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1)])
def test_sgd_follows_its_rule(hyper):
    np.testing.assert_allclose(run(optim.SGD, **hyper), sgd_rule(**hyper), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("hyper", [dict(lr=0.1), dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6),
                                   dict(lr=0.1, weight_decay=0.1), dict(lr=0.1, amsgrad=True)])
def test_adam_follows_its_rule(hyper):
    np.testing.assert_allclose(run(optim.Adam, **hyper), adam_rule(**hyper), rtol=1e-10, atol=1e-12)


def test_adamw_decays_the_weights_apart_from_the_gradient():
    np.testing.assert_allclose(run(optim.AdamW, lr=0.1, weight_decay=0.1),
                               adam_rule(lr=0.1, weight_decay=0.1, decoupled=True), rtol=1e-10, atol=1e-12)


def test_optimizers_update_the_parameter_in_place():
    for opt_cls in (optim.SGD, optim.Adam):
        p = pyconv.tensor(START.copy(), requires_grad=True)
        array = p.data
        opt = opt_cls([p], lr=0.1, fused=False)
        p.grad = pyconv.tensor(GRADS[0].copy())
        opt.step()
        assert p.data is array and not np.array_equal(array, START)


# -- the loop ---------------------------------------------------------------------------------

def patterns(n, seed):
    """Two classes of 1x8x8 images: a vertical bar (0) or a horizontal bar (1) at a random place,
    in noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0.0, 0.3, (n, 1, 8, 8)).astype(np.float32)
    at = rng.integers(1, 7, n)
    for i in range(n):
        if y[i] == 0:
            x[i, 0, :, at[i]] += 1.5
        else:
            x[i, 0, at[i], :] += 1.5
    return x, y.astype(np.int64)


def small_cnn(seed=0):
    nn.init.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 2 * 2, 2))


def test_train_epoch_takes_one_step_per_batch_from_fresh_gradients():
    x, y = patterns(48, seed=3)
    loader = data.DataLoader(data.TensorDataset(x, y), 16)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.0)        # nothing moves: every batch sees the same model
    steps = []
    original_step = opt.step
    opt.step = lambda closure=None: (steps.append(1), original_step(closure))[1]
    loss, accuracy, _ = T.train_epoch(model, loader, opt, progress=False)
    assert len(steps) == 3
    # the gradient left after the epoch is the last batch's alone (zeroed before each batch)
    last = model(pyconv.tensor(x[32:]))
    expected_loss = F.cross_entropy(last, pyconv.tensor(y[32:]))
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    expected_loss.backward()
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)
    logits = model(pyconv.tensor(x)).numpy()
    full = -log_softmax(logits.astype(np.float64))[np.arange(48), y].mean()
    assert loss == pytest.approx(full, rel=1e-4)
    assert accuracy == pytest.approx((logits.argmax(axis=1) == y).mean())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_small_cnn_learns_the_patterns(optimizer):
    x, y = patterns(320, seed=4)
    train = data.DataLoader(data.TensorDataset(x[:256], y[:256]), 32, shuffle=True, seed=0)
    test = data.DataLoader(data.TensorDataset(x[256:], y[256:]), 64)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, fused=False) if optimizer == "sgd" else \
        optim.Adam(model.parameters(), lr=0.01, fused=False)
    for _ in range(6):
        T.train_epoch(model, train, opt, progress=False)
    _, accuracy, _, _ = T.evaluate(model, test)
    assert accuracy >= 0.95


@pytest.mark.slow
def test_lenet5_reaches_98_percent_on_mnist():
    try:
        train_set, test_set = data.MNIST(train=True), data.MNIST(train=False)
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST is not here ({exc}); set PYCONV_DATA or pass --download to `python -m pyconv train`")

    def normalized(ds):
        x = (ds.data.astype(np.float32) / 255.0 - data.MNIST.mean) / data.MNIST.std
        return x.reshape(-1, 1, 28, 28), ds.targets.astype(np.int64)

    nn.init.manual_seed(0)
    model = lenet5()
    opt = optim.Adam(model.parameters(), lr=1e-3, fused=False)
    train = data.DataLoader(data.TensorDataset(*normalized(train_set)), 64, shuffle=True, seed=0)
    test = data.DataLoader(data.TensorDataset(*normalized(test_set)), 500)
    for _ in range(2):
        T.train_epoch(model, train, opt, progress=False)
    _, accuracy, _, _ = T.evaluate(model, test)
    assert accuracy >= 0.98
