"""pyconv.nn and nn.functional with PyTorch's names, arguments and formulas: values computed by
hand in numpy, float64 gradient checks, and (where torch is installed) direct comparisons."""
from collections import OrderedDict

import numpy as np
import pytest

import pyconv
import pyconv.nn as nn
import pyconv.nn.functional as F
from pyconv.gradcheck import gradcheck
from pyconv.tensor import Tensor, tensor


def rand(*shape, seed=0, requires_grad=True):
    return tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=requires_grad)


def distinct(*shape, seed=0):
    """No ties (values 0.05 apart), so max pooling has one winner per window."""
    n = int(np.prod(shape))
    data = np.random.default_rng(seed).permutation(n).reshape(shape) * 0.05
    return tensor(data, requires_grad=True)


def log_softmax_rows(x):
    z = x - x.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


# -- class losses -----------------------------------------------------------------------------

X = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0], [0.3, 0.3, 0.0], [2.0, 1.0, -1.0]])
T = np.array([1, 2, -100, 0])
W = np.array([0.5, 2.0, 1.5])


def test_cross_entropy_class_weights_and_ignore_index_by_hand():
    logp = log_softmax_rows(X)
    kept = [0, 1, 3]
    losses = np.array([-W[T[i]] * logp[i, T[i]] if i in kept else 0.0 for i in range(4)])
    x, t, w = tensor(X), tensor(T), tensor(W)
    np.testing.assert_allclose(F.cross_entropy(x, t, weight=w, reduction="none").data, losses, rtol=1e-12)
    np.testing.assert_allclose(F.cross_entropy(x, t, weight=w, reduction="sum").data, losses.sum(), rtol=1e-12)
    mean = losses.sum() / sum(W[T[i]] for i in kept)  # divides by the kept targets' weights
    np.testing.assert_allclose(F.cross_entropy(x, t, weight=w).data, mean, rtol=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss(weight=w)(x, t).data, mean, rtol=1e-12)
    np.testing.assert_allclose(F.nll_loss(tensor(logp), t, weight=w).data, mean, rtol=1e-12)
    np.testing.assert_allclose(nn.NLLLoss(weight=w, ignore_index=-100)(tensor(logp), t).data, mean, rtol=1e-12)


def test_cross_entropy_label_smoothing_by_hand():
    # PyTorch's formula: (1 - s) * nll + s / C * smooth, smooth = -sum_c w_c log p_c, both
    # divided in the mean by the summed weights of the kept targets
    s, C, kept = 0.2, 3, [0, 1, 3]
    logp = log_softmax_rows(X)
    nll = np.array([-W[T[i]] * logp[i, T[i]] for i in kept])
    smooth = np.array([-(W * logp[i]).sum() for i in kept])
    want = ((1 - s) * nll.sum() + s / C * smooth.sum()) / W[T[kept]].sum()
    got = F.cross_entropy(tensor(X), tensor(T), weight=tensor(W), label_smoothing=s)
    np.testing.assert_allclose(got.data, want, rtol=1e-12)
    unweighted = ((1 - s) * -logp[kept, T[kept]] + s / C * -logp[kept].sum(1)).mean()
    got = nn.CrossEntropyLoss(label_smoothing=s)(tensor(X), tensor(T))
    np.testing.assert_allclose(got.data, unweighted, rtol=1e-12)


def test_cross_entropy_probability_targets_by_hand():
    probs = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4]])
    logp = log_softmax_rows(X)
    rows = -(probs * W * logp).sum(1)
    got = F.cross_entropy(tensor(X), tensor(probs), weight=tensor(W))
    np.testing.assert_allclose(got.data, rows.mean(), rtol=1e-12)  # "mean" divides by N
    smoothed = probs * 0.9 + 0.1 / 3
    got = F.cross_entropy(tensor(X), tensor(probs), reduction="none", label_smoothing=0.1)
    np.testing.assert_allclose(got.data, -(smoothed * logp).sum(1), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck_with_every_option(reduction):
    x, w = rand(4, 3), tensor(W)
    t = tensor(T)
    assert gradcheck(lambda x: F.cross_entropy(x, t, weight=w, reduction=reduction, label_smoothing=0.3), x)
    t4 = tensor(np.array([[[0, 2], [1, -100]], [[2, 2], [0, 1]]]))
    x4 = rand(2, 3, 2, 2, seed=1)
    assert gradcheck(lambda x: F.cross_entropy(x, t4, weight=w, reduction=reduction), x4)
    probs = tensor(np.random.default_rng(2).dirichlet(np.ones(3), 4), requires_grad=True)
    assert gradcheck(lambda x, p: F.cross_entropy(x, p, weight=w, reduction=reduction, label_smoothing=0.1),
                     x, probs)
    lp = rand(4, 3, seed=3)
    assert gradcheck(lambda lp: F.nll_loss(lp, t, weight=w, reduction=reduction), lp)


def test_cross_entropy_all_ignored_mean_is_nan_and_errors():
    out = F.cross_entropy(tensor(X[:2]), tensor(np.array([-100, -100])))
    assert np.isnan(out.item())
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(tensor(X), tensor(T), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        F.cross_entropy(tensor(X), tensor(np.full((4, 3), 1 / 3)), ignore_index=0)
    with pytest.raises(ValueError, match="one value per class"):
        F.cross_entropy(tensor(X), tensor(T), weight=tensor(np.ones(4)))


def test_elementwise_loss_weights_by_hand():
    x, t = rand(3, 4), rand(3, 4, seed=1, requires_grad=False)
    w = tensor(np.random.default_rng(2).uniform(0.5, 2.0, (3, 4)))
    e = (x.data - t.data) ** 2
    np.testing.assert_allclose(F.mse_loss(x, t, weight=w).data, (w.data * e).sum() / w.data.sum(), rtol=1e-12)
    a = np.abs(x.data - t.data)
    np.testing.assert_allclose(F.l1_loss(x, t, weight=w, reduction="sum").data, (w.data * a).sum(), rtol=1e-12)
    assert gradcheck(lambda x: F.mse_loss(x, t, weight=w), x)
    p = tensor(np.random.default_rng(3).uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    y = tensor(np.random.default_rng(4).uniform(0, 1, (3, 4)))
    cw = tensor(np.array([1.0, 2.0, 0.5, 1.5]))  # broadcast over rows
    bce = -cw.data * (y.data * np.log(p.data) + (1 - y.data) * np.log(1 - p.data))
    np.testing.assert_allclose(F.binary_cross_entropy(p, y, cw).data, bce.mean(), rtol=1e-12)
    np.testing.assert_allclose(nn.BCELoss(weight=cw, reduction="sum")(p, y).data, bce.sum(), rtol=1e-12)
    sig = 1 / (1 + np.exp(-x.data))
    pw = tensor(np.array([3.0, 1.0, 0.5, 2.0]))
    ref = -(pw.data * y.data * np.log(sig) + (1 - y.data) * np.log(1 - sig))
    got = nn.BCEWithLogitsLoss(pos_weight=pw, reduction="none")(x, y)
    np.testing.assert_allclose(got.data, ref, rtol=1e-10)
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(x, y, cw, pos_weight=pw), x)
    np.testing.assert_allclose(nn.L1Loss()(x, t).data, a.mean(), rtol=1e-12)


def test_legacy_size_average_and_reduce():
    x, t = rand(2, 3), rand(2, 3, seed=1)
    with pytest.warns(UserWarning, match="size_average and reduce"):
        summed = F.mse_loss(x, t, size_average=False)
    np.testing.assert_allclose(summed.data, F.mse_loss(x, t, reduction="sum").data)
    with pytest.warns(UserWarning):
        assert nn.CrossEntropyLoss(reduce=False).reduction == "none"


# -- pooling ----------------------------------------------------------------------------------

def test_adaptive_bins_follow_pytorch_formula():
    # start = floor(i*H/out), end = ceil((i+1)*H/out)
    assert F.__dict__["adaptive_avg_pool2d"] is not None
    from pyconv.ops.pool import adaptive_bins
    assert adaptive_bins(5, 3) == [(0, 2), (1, 4), (3, 5)]
    assert adaptive_bins(7, 2) == [(0, 4), (3, 7)]
    assert adaptive_bins(4, 4) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert adaptive_bins(2, 3) == [(0, 1), (0, 2), (1, 2)]


def test_adaptive_pools_by_hand_and_gradcheck():
    x = distinct(1, 2, 5, 7)
    y = F.adaptive_avg_pool2d(x, (3, 2))
    a = x.data
    want = np.empty((1, 2, 3, 2))
    for i, (h0, h1) in enumerate([(0, 2), (1, 4), (3, 5)]):
        for j, (w0, w1) in enumerate([(0, 4), (3, 7)]):
            want[:, :, i, j] = a[:, :, h0:h1, w0:w1].mean(axis=(2, 3))
    np.testing.assert_allclose(y.data, want, rtol=1e-12)
    m, idx = F.adaptive_max_pool2d(x, (3, 2), return_indices=True)
    for i, (h0, h1) in enumerate([(0, 2), (1, 4), (3, 5)]):
        for j, (w0, w1) in enumerate([(0, 4), (3, 7)]):
            window = a[0, 1, h0:h1, w0:w1]
            r, c = np.unravel_index(window.argmax(), window.shape)
            assert m.data[0, 1, i, j] == window.max() and idx.data[0, 1, i, j] == (h0 + r) * 7 + w0 + c
    assert idx.dtype == np.int64
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 2)), x)
    assert gradcheck(lambda x: F.adaptive_max_pool2d(x, (3, 2)), x)
    assert gradcheck(lambda x: F.adaptive_avg_pool2d(x, (None, 9)), x)  # upsampling bins overlap
    assert nn.AdaptiveAvgPool2d(1)(x).shape == (1, 2, 1, 1)
    out, where = nn.AdaptiveMaxPool2d((2, None), return_indices=True)(x)
    assert out.shape == where.shape == (1, 2, 2, 7)


def test_max_pool_ceil_mode_and_indices_by_hand():
    x = tensor(np.arange(25.0).reshape(1, 1, 5, 5), requires_grad=True)
    assert F.max_pool2d(x, 2).shape == (1, 1, 2, 2)
    y, idx = F.max_pool2d(x, 2, ceil_mode=True, return_indices=True)
    # windows start at 0, 2, 4; the last ones hold one row/column of the input
    np.testing.assert_array_equal(y.data[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    np.testing.assert_array_equal(idx.data[0, 0], [[6, 8, 9], [16, 18, 19], [21, 23, 24]])
    # a last window that would start in the right padding is dropped (PyTorch's rule)
    assert F.max_pool2d(tensor(np.zeros((1, 1, 4, 4))), 2, stride=2, padding=1, ceil_mode=True).shape == (1, 1, 3, 3)
    assert gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True), distinct(1, 2, 6, 6))
    layer = nn.MaxPool2d(2, ceil_mode=True, return_indices=True)
    out, where = layer(x)
    np.testing.assert_array_equal(where.data, idx.data)


def test_avg_pool_divisors_by_hand():
    x = tensor(np.ones((1, 1, 3, 3)), requires_grad=True)
    # corner window of kernel 2, padding 1 holds one real pixel out of four
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 1, 1).data[0, 0, 0, 0], 0.25)
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 1, 1, count_include_pad=False).data, 1.0)
    np.testing.assert_allclose(F.avg_pool2d(x, 2, 1, 1, divisor_override=2).data[0, 0, 1, 1], 2.0)
    # ceil_mode: the window hanging past the input (no padding) divides by its clipped size
    y = F.avg_pool2d(tensor(np.arange(9.0).reshape(1, 1, 3, 3)), 2, ceil_mode=True)
    np.testing.assert_allclose(y.data[0, 0], [[2.0, 3.5], [6.5, 8.0]])
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), rand(1, 2, 6, 6))
    layer = nn.AvgPool2d(2, 1, 1, count_include_pad=False)
    np.testing.assert_allclose(layer(x).data, 1.0)


def test_unsupported_pool_options_raise():
    with pytest.raises(NotImplementedError, match="dilation"):
        F.max_pool2d(rand(1, 1, 6, 6), 2, dilation=2)
    with pytest.raises(NotImplementedError, match="dilation"):
        nn.MaxPool2d(2, dilation=2)(rand(1, 1, 6, 6))


# -- pad, one_hot -----------------------------------------------------------------------------

def test_pad_lists_the_last_axis_first():
    x = rand(2, 3, 4)
    y = F.pad(x, (1, 2, 3, 0), value=7.0)
    want = np.pad(x.data, ((0, 0), (3, 0), (1, 2)), constant_values=7.0)
    np.testing.assert_array_equal(y.data, want)
    np.testing.assert_array_equal(F.pad(x, (-1, 1)).data, np.pad(x.data[:, :, 1:], ((0, 0), (0, 0), (0, 1))))
    for mode, np_mode in [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")]:
        np.testing.assert_array_equal(F.pad(x, (2, 1, 1, 2), mode=mode).data,
                                      np.pad(x.data, ((0, 0), (1, 2), (2, 1)), mode=np_mode))
        assert gradcheck(lambda x: F.pad(x, (2, 1, 1, 2), mode=mode), x)
    assert gradcheck(lambda x: F.pad(x, (1, -1, 0, 2), value=1.0), x)
    with pytest.raises(ValueError, match="too large"):
        F.pad(x, (4, 0), mode="reflect")
    with pytest.raises(ValueError, match="even"):
        F.pad(x, (1, 2, 3))


def test_one_hot():
    t = tensor(np.array([[0, 2], [1, 0]]))
    y = F.one_hot(t)
    assert y.dtype == np.int64 and y.shape == (2, 2, 3)
    np.testing.assert_array_equal(y.data[0], [[1, 0, 0], [0, 0, 1]])
    assert F.one_hot(t, num_classes=5).shape == (2, 2, 5)
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(t, 2)
    with pytest.raises(TypeError):
        F.one_hot(rand(2))


# -- conv, linear, batch_norm, activations ----------------------------------------------------

def test_conv2d_keywords_and_groups():
    x, w, b = rand(2, 4, 5, 5), rand(6, 2, 3, 3, seed=1), rand(6, seed=2)
    y = F.conv2d(input=x, weight=w, bias=b, stride=1, padding=1, dilation=1, groups=2)
    halves = [F.conv2d(x[:, 2 * g:2 * g + 2], w[3 * g:3 * g + 3], b[3 * g:3 * g + 3], padding=1) for g in (0, 1)]
    np.testing.assert_allclose(y.data, np.concatenate([h.data for h in halves], axis=1), rtol=1e-12)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1, groups=2), rand(1, 4, 3, 3),
                     rand(4, 2, 2, 2, seed=3), rand(4, seed=4))
    with pytest.raises(ValueError, match="groups"):
        F.conv2d(x, w, groups=3)
    layer = nn.Conv2d(4, 4, 3, groups=4, bias=False)  # depthwise
    assert layer.weight.shape == (4, 1, 3, 3) and "groups=4" in repr(layer)


@pytest.mark.parametrize("mode,np_mode", [("reflect", "reflect"), ("replicate", "edge"), ("circular", "wrap")])
def test_conv2d_padding_modes(mode, np_mode):
    layer = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode, dtype=np.float64)
    x = rand(1, 2, 5, 5)
    padded = tensor(np.pad(x.data, ((0, 0), (0, 0), (1, 1), (1, 1)), mode=np_mode))
    np.testing.assert_allclose(layer(x).data, F.conv2d(padded, layer.weight, layer.bias).data, rtol=1e-12)


def test_linear_and_batch_norm_keywords():
    x, w, b = rand(3, 4), rand(2, 4, seed=1), rand(2, seed=2)
    np.testing.assert_allclose(F.linear(input=x, weight=w, bias=b).data, x.data @ w.data.T + b.data, rtol=1e-12)
    rm, rv = np.zeros(4), np.ones(4)
    y = F.batch_norm(input=x, running_mean=rm, running_var=rv, weight=None, bias=None, training=True,
                     momentum=0.5, eps=1e-5)
    np.testing.assert_allclose(y.data, (x.data - x.data.mean(0)) / np.sqrt(x.data.var(0) + 1e-5), rtol=1e-10)
    np.testing.assert_allclose(rm, 0.5 * x.data.mean(0), rtol=1e-12)


def test_batch_norm_momentum_none_is_a_cumulative_average():
    bn = nn.BatchNorm1d(2, momentum=None, dtype=np.float64)
    batches = [np.random.default_rng(s).standard_normal((4, 2)) for s in range(3)]
    for b in batches:
        bn(tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean(0) for b in batches], axis=0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, np.mean([b.var(0, ddof=1) for b in batches], axis=0), rtol=1e-12)


def test_activation_arguments():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(F.relu(x, inplace=True).data, np.maximum(x.data, 0))
    np.testing.assert_array_equal(nn.ReLU(inplace=True)(x).data, np.maximum(x.data, 0))
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    nn.LeakyReLU(0.2, inplace=True)(x)
    nn.ELU(alpha=0.5, inplace=True)(x)
    e = np.exp(x.data - x.data.max(axis=1, keepdims=True))
    np.testing.assert_allclose(F.softmax(x, dim=1).data, e / e.sum(1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(F.log_softmax(input=x, dim=1).data, np.log(e / e.sum(1, keepdims=True)), rtol=1e-12)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        implicit = F.softmax(x)  # 3-D: PyTorch's implicit axis is 0
    np.testing.assert_allclose(implicit.data, F.softmax(x, dim=0).data)
    with pytest.warns(UserWarning):
        np.testing.assert_allclose(nn.LogSoftmax()(rand(2, 3)).data, F.log_softmax(rand(2, 3), dim=1).data)
    assert F.softmax(rand(2, 3), dim=1, dtype=np.float32).dtype == np.float32


def test_dropout_arguments():
    x = rand(4, 5)
    np.testing.assert_array_equal(F.dropout(x, p=1.0, training=True).data, 0)
    assert F.dropout(input=x, p=0.5, training=False, inplace=True) is x
    d = nn.Dropout(p=0.2, inplace=True)
    assert d.inplace and d.p == 0.2


# -- containers and module methods -----------------------------------------------------------

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2))
        self.heads = nn.ModuleDict({"cls": nn.Linear(8, 3), "reg": nn.Linear(8, 1)})
        self.register_buffer("scale", np.ones(1, np.float32))
        self.register_buffer("cache", np.zeros(2, np.float32), persistent=False)

    def forward(self, x):
        h = self.features(x).flatten(1) * self.scale
        return self.heads["cls"](h), self.heads["reg"](h)


def test_module_dict_and_traversal():
    net = Net()
    assert list(net.heads.keys()) == ["cls", "reg"] and "cls" in net.heads and len(net.heads) == 2
    names = [n for n, _ in net.named_modules()]
    assert names == ["", "features", "features.0", "features.1", "features.2", "heads", "heads.cls", "heads.reg"]
    assert [n for n, _ in net.named_children()] == ["features", "heads"]
    assert len(list(net.children())) == 2 and len(list(net.modules())) == 8
    assert [n for n, _ in net.named_parameters()] == ["features.0.weight", "features.0.bias", "heads.cls.weight",
                                                      "heads.cls.bias", "heads.reg.weight", "heads.reg.bias"]
    assert net.get_submodule("heads.reg") is net.heads["reg"]
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen[-1] == "Net" and "ModuleDict" in seen
    cls, reg = net(pyconv.randn(2, 1, 4, 4))
    assert cls.shape == (2, 3) and reg.shape == (2, 1)
    del net.heads["reg"]
    assert list(net.heads) == ["cls"]


def test_module_modes_devices_and_grads():
    net = Net()
    assert net.eval() is net and not net.features[1].training
    assert net.train() is net and net.heads["cls"].training
    assert net.to("cpu") is net and net.to(pyconv.device("cpu")) is net
    assert net.to(np.float64) is net and net.heads["cls"].weight.dtype == np.float64
    net.to(tensor(np.zeros(1, np.float32)))
    assert net.heads["cls"].weight.dtype == np.float32
    assert net.requires_grad_(False) is net and not any(p.requires_grad for p in net.parameters())
    net.requires_grad_()
    cls, reg = net(pyconv.randn(2, 1, 4, 4))
    (cls.sum() + reg.sum()).backward()
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_forms_and_load_result():
    net = Net()
    sd = net.state_dict()
    assert "scale" in sd and "cache" not in sd  # non-persistent buffers are not saved
    assert isinstance(net.state_dict(keep_vars=True)["heads.cls.weight"], Tensor)
    assert list(net.state_dict(prefix="model.")) == ["model." + k for k in sd]
    result = net.load_state_dict(sd)
    assert result.missing_keys == [] and result.unexpected_keys == []
    result = net.load_state_dict(dict(sd, extra=np.zeros(1)), strict=False)
    assert result.unexpected_keys == ["extra"]
    with pytest.raises(RuntimeError, match="unexpected keys"):
        net.load_state_dict(dict(sd, extra=np.zeros(1)))
    bad = dict(sd, **{"heads.cls.bias": np.zeros(5)})
    with pytest.raises(RuntimeError, match="size mismatch for heads.cls.bias"):
        net.load_state_dict(bad)


def test_forward_pre_hook_and_list_like_containers():
    lin = nn.Linear(2, 2, dtype=np.float64)
    handle = lin.register_forward_pre_hook(lambda m, inputs: (inputs[0] * 0,))
    np.testing.assert_allclose(lin(rand(1, 2)).data, lin.bias.data[None])
    handle.remove()
    seq = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh()), ("c", nn.Sigmoid())]))
    assert list(seq[1:]._modules) == ["b", "c"] and isinstance(seq[-1], nn.Sigmoid)
    seq[0] = nn.ELU()
    assert isinstance(seq.a, nn.ELU)
    ml = nn.ModuleList([nn.ReLU()])
    ml.extend([nn.Tanh()]).insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU", "Tanh"] and isinstance(ml[-1], nn.Tanh)
    assert len(ml[1:]) == 2 and len(ml + ml) == 6


def test_shared_modules_and_parameters_with_remove_duplicate():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]
    assert [n for n, _ in seq.named_parameters(remove_duplicate=False)] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert len(list(seq.named_modules(remove_duplicate=False))) == 4
    seq.register_module("extra", nn.Tanh())
    assert isinstance(seq.extra, nn.Tanh)


def test_flatten_and_unflatten():
    x = rand(2, 12, 3)
    y = nn.Unflatten(1, (3, -1))(x)
    assert y.shape == (2, 3, 4, 3)
    assert nn.Flatten()(y).shape == (2, 36) and nn.Flatten(1, 2)(y).shape == (2, 12, 3)
    assert nn.Unflatten(-1, (1, 3))(x).shape == (2, 12, 1, 3)


def test_nn_utils_clipping_and_vectors():
    p = Tensor(np.zeros(2), requires_grad=True)
    q = Tensor(np.zeros(1), requires_grad=True)
    p.grad, q.grad = Tensor(np.array([3.0, 0.0])), Tensor(np.array([4.0]))
    total = nn.utils.clip_grad_norm_([p, q], max_norm=1.0)
    assert isinstance(total, Tensor) and total.shape == () and total.item() == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([p.grad.data, q.grad.data]), np.array([3, 0, 4]) / (5 + 1e-6))
    p.grad = Tensor(np.array([3.0, -4.0]))
    assert nn.utils.clip_grad_norm_(p, 10.0, norm_type=1).item() == pytest.approx(7.0)
    p.grad = Tensor(np.array([np.inf, 1.0]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(p, 1.0, error_if_nonfinite=True)
    p.grad = Tensor(np.array([3.0, -0.2]))
    nn.utils.clip_grad_value_(p, 0.5)
    np.testing.assert_allclose(p.grad.data, [0.5, -0.2])
    assert nn.utils.clip_grad_norm_([Tensor(np.zeros(1), requires_grad=True)], 1.0).item() == 0.0
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(vec * 0 + 1, lin.parameters())
    assert (lin.weight.data == 1).all() and (lin.bias.data == 1).all()


# -- against PyTorch, where it is installed ----------------------------------------------------

def _torch():
    return pytest.importorskip("torch")


def _same(ours, theirs, rtol=1e-10):
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=rtol, atol=1e-12)


def test_losses_against_torch():
    torch = _torch()
    TF = torch.nn.functional
    rng = np.random.default_rng(0)
    x4, t4 = rng.standard_normal((2, 4, 3, 2)), rng.integers(0, 4, (2, 3, 2))
    t4[0, 1, 1] = 1
    t4[1, 0, 0] = -5
    soft = rng.dirichlet(np.ones(4), (2, 3, 2)).transpose(0, 3, 1, 2).copy()
    w = rng.uniform(0.5, 2, 4)
    for reduction in ("mean", "sum", "none"):
        for s in (0.0, 0.25):
            for target in (t4, soft):
                kw = dict(weight=w, reduction=reduction, label_smoothing=s)
                if target is t4:
                    kw["ignore_index"] = -5
                ours = tensor(x4, requires_grad=True)
                theirs = torch.tensor(x4, requires_grad=True)
                a = F.cross_entropy(ours, tensor(target), **dict(kw, weight=tensor(w)))
                b = TF.cross_entropy(theirs, torch.tensor(target), **dict(kw, weight=torch.tensor(w)))
                _same(a, b)
                g = rng.standard_normal(a.shape)
                a.backward(g)
                b.backward(torch.tensor(g))
                _same(ours.grad, theirs.grad, rtol=1e-9)


def test_pools_pad_and_conv_against_torch():
    torch = _torch()
    TF = torch.nn.functional
    x = distinct(2, 3, 7, 6).data
    for args in [(3, 2, 1), (2, 2, 0), ((3, 2), (2, 3), (1, 1))]:
        _same(F.max_pool2d(tensor(x), *args, ceil_mode=True), TF.max_pool2d(torch.tensor(x), *args, ceil_mode=True))
        for cip in (True, False):
            _same(F.avg_pool2d(tensor(x), *args, ceil_mode=True, count_include_pad=cip),
                  TF.avg_pool2d(torch.tensor(x), *args, ceil_mode=True, count_include_pad=cip))
    for out in (1, (3, 4), (5, None), (9, 8)):
        _same(F.adaptive_avg_pool2d(tensor(x), out), TF.adaptive_avg_pool2d(torch.tensor(x), out))
        y, i = F.adaptive_max_pool2d(tensor(x), out, return_indices=True)
        ty, ti = TF.adaptive_max_pool2d(torch.tensor(x), out, return_indices=True)
        _same(y, ty)
        np.testing.assert_array_equal(i.data, ti.numpy())
    for pad, mode in [((1, 2, -1, 3), "constant"), ((2, 1, 3, 0), "reflect"), ((3, 1, 2, 2), "replicate"),
                      ((4, 1, 2, 5), "circular")]:
        _same(F.pad(tensor(x), pad, mode=mode), TF.pad(torch.tensor(x), pad, mode=mode))
    w, b = np.random.default_rng(1).standard_normal((6, 1, 3, 3)), np.zeros(6)
    _same(F.conv2d(tensor(x), tensor(w), tensor(b), stride=2, padding=1, groups=3),
          TF.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), stride=2, padding=1, groups=3))
    t = np.array([3, 0, 1])
    np.testing.assert_array_equal(F.one_hot(tensor(t), 5).data, TF.one_hot(torch.tensor(t), 5).numpy())
