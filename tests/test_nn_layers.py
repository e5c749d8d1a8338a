"""Each layer against the functional op it wraps, default initialisation, and nn.init."""
import math

import numpy as np
import pytest

import pyconv
from pyconv import nn
from pyconv.nn import functional as F
from pyconv.nn import init

RNG = np.random.default_rng(0)


def t(*shape, grad=False):
    return pyconv.tensor(RNG.normal(size=shape).astype(np.float32), requires_grad=grad)


def same(a, b):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def test_linear_matches_functional_and_numpy():
    lin = nn.Linear(5, 3)
    x = t(4, 5)
    same(lin(x), F.linear(x, lin.weight, lin.bias))
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(), rtol=1e-5)
    assert nn.Linear(5, 3, bias=False).bias is None
    assert nn.Linear(5, 3, bias=False)(x).shape == (4, 3)


@pytest.mark.parametrize("kwargs,out_hw", [({}, (6, 6)), ({"padding": 1}, (8, 8)), ({"padding": "same"}, (8, 8)),
                                          ({"stride": 2, "padding": "same"}, (4, 4)), ({"padding": "valid"}, (6, 6)),
                                          ({"dilation": 2, "padding": 2}, (8, 8))])
def test_conv2d_matches_functional(kwargs, out_hw):
    conv = nn.Conv2d(2, 3, 3, **kwargs)
    x = t(2, 2, 8, 8)
    y = conv(x)
    assert y.shape == (2, 3) + out_hw and conv.weight.shape == (3, 2, 3, 3)
    same(y, F.conv2d(x, conv.weight, conv.bias, stride=conv.stride, padding=conv.padding, dilation=conv.dilation))


def test_conv2d_gradients_reach_parameters():
    conv = nn.Conv2d(1, 2, 3, padding="same", bias=False)
    x = t(2, 1, 5, 5, grad=True)
    conv(x).sum().backward()
    assert conv.bias is None and conv.weight.grad.shape == (2, 1, 3, 3) and x.grad.shape == x.shape


@pytest.mark.parametrize("layer,fn", [(nn.MaxPool2d, F.max_pool2d), (nn.AvgPool2d, F.avg_pool2d),
                                      (nn.MinPool2d, F.min_pool2d)])
def test_pools_match_functional(layer, fn):
    x = t(2, 3, 6, 6)
    same(layer(2)(x), fn(x, 2, 2, 0))
    same(layer(3, stride=1, padding=1)(x), fn(x, 3, 1, 1))
    assert layer(2)(x).shape == (2, 3, 3, 3)


def test_global_avg_pool():
    x = t(2, 3, 4, 4)
    np.testing.assert_allclose(nn.GlobalAvgPool2d()(x).numpy(), x.numpy().mean(axis=(2, 3)), rtol=1e-5)


@pytest.mark.parametrize("layer,fn", [
    (nn.ReLU(), F.relu), (nn.LeakyReLU(0.2), lambda x: F.leaky_relu(x, 0.2)), (nn.ELU(0.5), lambda x: F.elu(x, 0.5)),
    (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh), (nn.Softmax(dim=1), lambda x: F.softmax(x, 1)),
    (nn.LogSoftmax(dim=-1), lambda x: F.log_softmax(x, -1)), (nn.Maxout(2), lambda x: F.maxout(x, 2, 1))])
def test_activations_match_functional(layer, fn):
    x = t(3, 4, 2)
    same(layer(x), fn(x))


def test_flatten_and_identity():
    x = t(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)
    assert nn.Identity(7, foo=1)(x) is x


def test_dropout_modes_and_seed():
    x = pyconv.tensor(np.ones((100, 100), np.float32))
    d = nn.Dropout(0.3)
    init.manual_seed(0)
    y = d(x).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)} and 0.25 < (y == 0).mean() < 0.35
    init.manual_seed(0)
    np.testing.assert_array_equal(d(x).numpy(), y)
    d.eval()
    same(d(x), x)
    with pytest.raises(ValueError):
        nn.Dropout(1.5)


def test_batchnorm2d_train_and_eval_against_functional():
    bn = nn.BatchNorm2d(3, momentum=0.2)
    bn.weight.data[...] = [1.0, 2.0, 0.5]
    bn.bias.data[...] = [0.0, -1.0, 1.0]
    x = t(4, 3, 5, 5)
    rm, rv = np.zeros(3, np.float32), np.ones(3, np.float32)
    same(bn(x), F.batch_norm(x, rm, rv, bn.weight, bn.bias, training=True, momentum=0.2))
    np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-6)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * x.numpy().mean(axis=(0, 2, 3)), rtol=1e-5)
    n = 4 * 25
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * x.numpy().var(axis=(0, 2, 3)) * n / (n - 1),
                               rtol=1e-5)
    assert int(bn.num_batches_tracked.item()) == 1
    bn.eval()
    same(bn(x), F.batch_norm(x, rm, rv, bn.weight, bn.bias, training=False))
    assert int(bn.num_batches_tracked.item()) == 1
    y = nn.BatchNorm2d(3)(x).numpy()  # training output is normalised per channel
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-3)


def test_batchnorm1d_and_rank_checks():
    bn = nn.BatchNorm1d(4)
    assert bn(t(8, 4)).shape == (8, 4) and bn(t(8, 4, 3)).shape == (8, 4, 3)
    with pytest.raises(ValueError, match="rank"):
        bn(t(2, 4, 3, 3))
    with pytest.raises(ValueError, match="rank"):
        nn.BatchNorm2d(4)(t(8, 4))
    plain = nn.BatchNorm1d(4, affine=False, track_running_stats=False)
    assert list(plain.parameters()) == [] and plain.state_dict() == {}
    plain.eval()
    np.testing.assert_allclose(plain(t(16, 4)).numpy().mean(axis=0), 0, atol=1e-5)  # batch statistics


def test_loss_layers():
    logits, target = t(5, 3), pyconv.tensor(np.array([0, 2, 1, 1, 0]))
    same(nn.CrossEntropyLoss()(logits, target), F.cross_entropy(logits, target))
    same(nn.NLLLoss()(F.log_softmax(logits, dim=1), target), F.nll_loss(F.log_softmax(logits, dim=1), target))
    a, b = t(3, 2), t(3, 2)
    same(nn.MSELoss(reduction="sum")(a, b), F.mse_loss(a, b, reduction="sum"))


# -- init ------------------------------------------------------------------------------------------
def test_calculate_gain():
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    assert init.calculate_gain("conv2d") == 1.0
    with pytest.raises(ValueError):
        init.calculate_gain("swish")


def big(shape=(256, 128, 3, 3)):
    return nn.Parameter(np.zeros(shape, np.float32))


def test_kaiming_and_xavier_statistics():
    fan_in, fan_out = 128 * 9, 256 * 9
    w = init.kaiming_normal_(big(), nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / fan_in), rel=0.02)
    w = init.kaiming_normal_(big(), mode="fan_out", nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / fan_out), rel=0.02)
    w = init.kaiming_uniform_(big(), nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    w = init.xavier_uniform_(big(), gain=2.0)
    bound = 2 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.99 * bound
    w = init.xavier_normal_(big())
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / (fan_in + fan_out)), rel=0.02)
    with pytest.raises(ValueError):
        init.kaiming_normal_(nn.Parameter(np.zeros(3, np.float32)))


def test_constant_zeros_ones_and_seed():
    w = big((3, 4))
    assert np.all(init.constant_(w, 0.5).numpy() == 0.5)
    assert np.all(init.zeros_(w).numpy() == 0) and np.all(init.ones_(w).numpy() == 1)
    init.manual_seed(3)
    a = init.normal_(big((3, 4))).numpy()
    init.manual_seed(3)
    np.testing.assert_array_equal(init.normal_(big((3, 4))).numpy(), a)
    assert init.uniform_(big((3, 4)), generator=np.random.default_rng(1)).dtype == np.float32


def test_default_init_like_pytorch():
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (lin.weight, lin.bias):
        assert np.abs(p.numpy()).max() <= bound and np.abs(p.numpy()).max() > 0.9 * bound
    conv = nn.Conv2d(6, 16, 5)
    bound = 1 / math.sqrt(6 * 25)
    assert np.abs(conv.weight.numpy()).max() <= bound and conv.weight.dtype == np.float32
    bn = nn.BatchNorm2d(4)
    assert np.all(bn.weight.numpy() == 1) and np.all(bn.bias.numpy() == 0)
    assert np.all(bn.running_var.numpy() == 1) and np.all(bn.running_mean.numpy() == 0)
