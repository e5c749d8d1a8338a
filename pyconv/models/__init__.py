"""Model zoo for 28x28 images: LeNet-5 and small VGG-, ResNet- and Inception-style nets.

    model = get_model("lenet5", num_classes=10, in_channels=1)
"""
from .inception import InceptionModule, InceptionNet, inception_small
from .lenet import LeNet5, lenet5
from .resnet import BasicBlock, ResNet, resnet_small
from .vgg import VGG, vgg_small

MODELS = {
    "lenet5": lenet5,
    "lenet5-tanh": lambda num_classes=10, in_channels=1: lenet5(num_classes, in_channels, activation="tanh"),
    "vgg": vgg_small,
    "resnet": resnet_small,
    "inception": inception_small,
}
ALIASES = {"lenet": "lenet5", "vgg_small": "vgg", "vgg-small": "vgg", "resnet_small": "resnet",
           "resnet-small": "resnet", "inception_small": "inception", "inception-small": "inception"}


def get_model(name, num_classes=10, in_channels=1, **kwargs):
    """Build a model by name: one of MODELS (or an alias such as "lenet", "vgg_small")."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return MODELS[key](num_classes=num_classes, in_channels=in_channels, **kwargs)


__all__ = ["get_model", "MODELS", "LeNet5", "lenet5", "VGG", "vgg_small", "ResNet", "BasicBlock",
           "resnet_small", "InceptionNet", "InceptionModule", "inception_small"]
