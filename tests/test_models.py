"""The model zoo: output shapes, parameter counts, a backward pass, the registry."""
import numpy as np
import pytest

import pyconv
from pyconv import nn
from pyconv.models import MODELS, BasicBlock, get_model


@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_backward_shapes(name):
    nn.init.manual_seed(0)
    model = get_model(name, num_classes=7, in_channels=1)
    x = pyconv.tensor(np.random.default_rng(0).normal(size=(3, 1, 28, 28)).astype(np.float32))
    y = model(x)
    assert y.shape == (3, 7) and y.dtype == np.float32
    nn.functional.cross_entropy(y, pyconv.tensor(np.array([0, 3, 6]))).backward()
    assert all(p.grad is not None and np.all(np.isfinite(p.grad.numpy())) for p in model.parameters())
    model.eval()
    assert model(x).shape == (3, 7)


def test_lenet5_architecture():
    model = get_model("lenet5")
    assert model.num_parameters() == 61706  # 156 + 2416 + 48120 + 10164 + 850
    text = nn.summary(model, (1, 28, 28), print_fn=None)
    for shape in ("[2, 6, 28, 28]", "[2, 6, 14, 14]", "[2, 16, 10, 10]", "[2, 16, 5, 5]", "[2, 120]", "[2, 84]"):
        assert shape in text
    assert isinstance(get_model("lenet5-tanh").features[1], nn.Tanh)


def test_three_channel_input():
    model = get_model("resnet", num_classes=4, in_channels=3)
    assert model(pyconv.tensor(np.zeros((2, 3, 28, 28), np.float32))).shape == (2, 4)


def test_basic_block_shortcuts():
    identity = BasicBlock(8, 8)
    assert isinstance(identity.shortcut, nn.Identity)
    projection = BasicBlock(8, 16, stride=2)
    assert isinstance(projection.shortcut, nn.Sequential)
    x = pyconv.tensor(np.random.default_rng(1).normal(size=(2, 8, 6, 6)).astype(np.float32))
    assert identity(x).shape == (2, 8, 6, 6) and projection(x).shape == (2, 16, 3, 3)


def test_inception_concatenates_branches():
    model = get_model("inception")
    module = model.blocks[0]
    x = pyconv.tensor(np.zeros((2, 32, 14, 14), np.float32))
    assert module(x).shape == (2, module.out_channels, 14, 14) and module.out_channels == 64


def test_registry_aliases_and_errors():
    assert type(get_model("LeNet")).__name__ == "LeNet5"
    assert type(get_model("vgg_small")).__name__ == "VGG"
    with pytest.raises(ValueError, match="unknown model"):
        get_model("alexnet")
