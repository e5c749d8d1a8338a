"""Neural-network layers shaped like torch.nn: Module, Parameter, containers, layers, losses,
`init` (weight initialisation), `functional` (the stateless ops), `utils` (gradient clipping)
and `summary`."""
from . import functional
from . import init
from . import utils
from .activation import ELU, LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear, Unflatten
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module, ModuleDict, ModuleList, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d
from .pool import (AdaptiveAvgPool2d, AdaptiveMaxPool2d, AvgPool2d, GlobalAvgPool2d, MaxPool2d,
                   MinPool2d)
from .summary import summary

__all__ = ["functional", "init", "utils", "summary", "Module", "Parameter", "Sequential",
           "ModuleList", "ModuleDict", "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "MinPool2d",
           "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "GlobalAvgPool2d", "Flatten", "Unflatten",
           "Identity", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "Maxout", "Dropout", "BatchNorm1d", "BatchNorm2d", "CrossEntropyLoss", "NLLLoss",
           "MSELoss", "L1Loss", "BCELoss", "BCEWithLogitsLoss"]
