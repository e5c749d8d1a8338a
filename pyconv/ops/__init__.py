"""Differentiable ops on Tensors: one Function class per op (forward and backward side by side),
followed by the lowercase function users call.

basic    device/dtype moves, elementwise arithmetic, comparisons, where
reduce   sum, mean, max, min, var, std, argmax, argmin
shape    reshape, permute/transpose, flatten, (un)squeeze, broadcast_to, indexing, concat, stack, pad
matmul   matrix products on the backend's primitives
"""
from . import basic, matmul as _matmul_module, reduce, shape
from .basic import *  # noqa: F401,F403
from .matmul import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403

__all__ = basic.__all__ + reduce.__all__ + shape.__all__ + _matmul_module.__all__
