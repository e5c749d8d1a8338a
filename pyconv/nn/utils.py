"""torch.nn.utils's helpers: gradient clipping and parameters as one flat vector."""
import numpy as np

from .. import ops
from ..optim.clip import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters"]


def parameters_to_vector(parameters):
    """All parameters flattened and joined into one 1-D tensor (differentiable)."""
    return ops.concat([ops.reshape(p, -1) for p in parameters])


def vector_to_parameters(vec, parameters):
    """Copy consecutive slices of the 1-D tensor `vec` into the parameters' values (in place,
    without gradient), the inverse of parameters_to_vector."""
    if vec.ndim != 1:
        raise TypeError(f"vector_to_parameters expects a 1-D tensor, got shape {tuple(vec.shape)}")
    parameters = list(parameters)
    needed = sum(int(np.prod(p.shape)) for p in parameters)
    if vec.shape[0] != needed:
        raise ValueError(f"vector_to_parameters: the vector has {vec.shape[0]} elements, the "
                         f"parameters {needed}")
    start = 0
    for p in parameters:
        n = int(np.prod(p.shape))
        p.data[...] = vec.data[start:start + n].reshape(p.shape).astype(p.dtype, copy=False)
        start += n
