"""Optimizers, learning-rate schedules, gradient clipping and weight penalties (torch.optim-shaped)."""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .clip import clip_grad_norm_, clip_grad_value_
from .lr_scheduler import (CosineAnnealingLR, ExponentialLR, LambdaLR, LRScheduler, MultiStepLR,
                           OneCycleLR, ReduceLROnPlateau, StepLR)
from .optimizer import Optimizer
from .penalty import l1_penalty, l2_penalty
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "lr_scheduler",
           "LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LambdaLR",
           "OneCycleLR", "ReduceLROnPlateau", "clip_grad_norm_", "clip_grad_value_", "l1_penalty",
           "l2_penalty"]
