"""Neural-network layers shaped like torch.nn: Module, Parameter, containers, layers, losses,
`init` (weight initialisation), `functional` (the stateless ops) and `summary`."""
from . import functional
from . import init
from .activation import ELU, LeakyReLU, LogSoftmax, Maxout, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2d
from .dropout import Dropout
from .linear import Flatten, Identity, Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .module import Module, ModuleList, Parameter, Sequential
from .norm import BatchNorm1d, BatchNorm2d
from .pool import AvgPool2d, GlobalAvgPool2d, MaxPool2d, MinPool2d
from .summary import summary

__all__ = ["functional", "init", "summary", "Module", "Parameter", "Sequential", "ModuleList",
           "Linear", "Conv2d", "MaxPool2d", "AvgPool2d", "MinPool2d", "GlobalAvgPool2d", "Flatten",
           "Identity", "ReLU", "LeakyReLU", "ELU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
           "Maxout", "Dropout", "BatchNorm1d", "BatchNorm2d", "CrossEntropyLoss", "NLLLoss", "MSELoss"]
