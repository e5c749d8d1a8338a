"""Module machinery: registration, traversal, modes, state_dict, devices/dtypes, repr, summary."""
import numpy as np
import pytest

import pyconv
from pyconv import nn
from pyconv.tensor import Tensor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
        self.scale = nn.Parameter(np.ones(1, np.float32))
        self.register_buffer("counter", np.zeros(1, np.float32))
        self.not_registered = 5

    def forward(self, x):
        return self.head(nn.functional.relu(self.bn(self.conv(x)))) * self.scale


def x_batch(n=4):
    return pyconv.tensor(np.random.default_rng(0).normal(size=(n, 1, 4, 4)).astype(np.float32))


def test_parameter_is_a_tensor_that_requires_grad():
    p = nn.Parameter(np.zeros(3, np.float32))
    assert isinstance(p, Tensor) and p.requires_grad and "Parameter containing" in repr(p)
    assert not nn.Parameter(np.zeros(2), requires_grad=False).requires_grad


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "conv.weight", "conv.bias", "bn.weight", "bn.bias", "head.1.weight", "head.1.bias"]
    assert len(list(net.parameters())) == 7
    assert [type(c).__name__ for c in net.children()] == ["Conv2d", "BatchNorm2d", "Sequential"]
    assert [n for n, _ in net.named_modules()] == ["", "conv", "bn", "head", "head.0", "head.1"]
    assert [n for n, _ in net.named_buffers()] == ["counter", "bn.running_mean", "bn.running_var",
                                                   "bn.num_batches_tracked"]
    assert net.num_parameters() == 2 * 9 + 2 + 2 + 2 + 32 * 3 + 3 + 1
    assert net.not_registered == 5
    with pytest.raises(AttributeError):
        net.missing


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2


def test_reassigning_and_deleting():
    net = Net()
    net.head = nn.Identity()
    assert "head.1.weight" not in dict(net.named_parameters())
    del net.scale
    assert "scale" not in dict(net.named_parameters())


def test_train_eval_propagates():
    net = Net()
    assert all(m.training for m in net.modules())
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_forward_backward_and_zero_grad():
    net = Net()
    net(x_batch()).sum().backward()
    assert all(p.grad is not None and p.grad.shape == p.shape for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_state_dict_round_trip_with_buffers():
    pyconv.nn.init.manual_seed(0)
    a = Net()
    a(x_batch())  # training step updates the BatchNorm running statistics
    sd = a.state_dict()
    assert "bn.running_mean" in sd and "bn.num_batches_tracked" in sd and int(sd["bn.num_batches_tracked"]) == 1
    assert not np.allclose(sd["bn.running_mean"], 0)
    pyconv.nn.init.manual_seed(1)
    b = Net()
    b.load_state_dict(sd)
    for k, v in b.state_dict().items():
        np.testing.assert_array_equal(v, sd[k])
    a.eval(), b.eval()
    np.testing.assert_array_equal(a(x_batch()).numpy(), b(x_batch()).numpy())
    sd["conv.weight"][...] = 7  # the state dict holds copies
    assert not np.any(a.conv.weight.data == 7)


def test_load_state_dict_errors():
    net = Net()
    sd = net.state_dict()
    extra = dict(sd, bogus=np.zeros(1))
    with pytest.raises(KeyError, match="bogus"):
        net.load_state_dict(extra)
    missing, unexpected = net.load_state_dict(extra, strict=False)
    assert unexpected == ["bogus"] and missing == []
    bad = dict(sd)
    bad["conv.weight"] = np.zeros((1, 1, 1, 1))
    with pytest.raises(ValueError, match="shape"):
        net.load_state_dict(bad)


def test_to_dtype_and_device():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.bn.running_var.dtype == np.float64
    assert net.bn.num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    assert net.to("cpu") is net
    assert net(x_batch().double()).dtype == np.float64


def test_repr_shows_parameter_counts():
    text = repr(Net())
    assert "(conv): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))  # 20 params" in text
    assert "(1): Linear(in_features=32, out_features=3, bias=True)  # 99 params" in text
    assert text.rstrip().endswith(f"# {Net().num_parameters():,} params")


def test_sequential_container():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU) and isinstance(seq[-1], nn.Linear)
    assert isinstance(seq[:2], nn.Sequential) and len(seq[:2]) == 2
    seq.append(nn.Sigmoid())
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear", "Sigmoid"]
    assert seq(pyconv.tensor(np.ones((5, 2), np.float32))).shape == (5, 1)
    from collections import OrderedDict
    named = nn.Sequential(OrderedDict(fc=nn.Linear(2, 2)))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]


def test_module_without_super_init_is_a_clear_error():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)
    with pytest.raises(AttributeError, match="super"):
        Broken()


def test_forward_hook_and_summary():
    net = Net()
    seen = []
    handle = net.conv.register_forward_hook(lambda m, i, o: seen.append(o.shape))
    net(x_batch(3))
    handle.remove()
    net(x_batch(3))
    assert seen == [(3, 2, 4, 4)]
    net.train()
    before = net.bn.running_mean.numpy().copy()
    text = nn.summary(net, (1, 4, 4), print_fn=None)
    assert "conv (Conv2d)" in text and "[2, 2, 4, 4]" in text and "head.1 (Linear)" in text
    assert f"Total params: {net.num_parameters():,}" in text
    assert net.training and int(net.bn.num_batches_tracked.item()) == 2  # eval pass, mode restored
    np.testing.assert_array_equal(net.bn.running_mean.numpy(), before)
