"""Differentiable ops on Tensors: one Function class per op (forward and backward side by side),
followed by the lowercase function users call.

basic    device/dtype moves, elementwise arithmetic and functions, comparisons, logic, where
reduce   sum, mean, prod, var, std, max, min, amax, amin, argmax, argmin, all, any, norm,
         logsumexp, cumsum, sort, topk
shape    reshape/view, permute/transpose, flatten, (un)squeeze, expand, repeat, indexing,
         gather, cat, stack, split, chunk, flip, tril/triu, pad, clone
matmul   matrix products on the backend's primitives (matmul, mm, bmm, mv, dot, outer)
inplace  add_, mul_, zero_, copy_, t[i] = v, w -= lr * w.grad, ... (Tensor methods)

Also exported from here (and so from `pyconv`, as from torch): relu, sigmoid, tanh, softmax and
log_softmax of activation.py, the dtype names of pyconv/dtypes.py, `Size`, and the grad-mode
switches `set_grad_enabled` and `inference_mode`.
"""
from .. import dtypes
from ..dtypes import *  # noqa: F401,F403  (names such as `float` and `bool`, as PyTorch's)
from ..tensor import Size, inference_mode, set_grad_enabled
from . import basic, inplace, matmul as _matmul_module, reduce, shape
from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .basic import *  # noqa: F401,F403
from .matmul import *  # noqa: F401,F403
from .reduce import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403

__all__ = (basic.__all__ + reduce.__all__ + shape.__all__ + _matmul_module.__all__ + dtypes.__all__
           + ["relu", "sigmoid", "tanh", "softmax", "log_softmax", "Size", "set_grad_enabled",
              "inference_mode"])
