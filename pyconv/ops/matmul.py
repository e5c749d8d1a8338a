"""Matrix product with numpy's (and PyTorch's) rules, on the backend's matmul primitives.

Sizes: a (..., M, K) @ b (..., K, N) -> (..., M, N). A 1-D `a` is a row (1, K) and a 1-D `b`
a column (K, 1); the added axis is dropped from the result. Batch axes broadcast.

The backends only multiply 3-D stacks: `matmul(a (B,M,K), b (B,K,N)) -> (B,M,N)` and its two
gradients (see pyconv/backends/CONTRACT.md). This op broadcasts the operands and reshapes them
to that form. When `b` is a plain matrix, the batch of `a` is folded into M instead, so a
linear layer on (batch, features) or (N, T, features) is one large product with `b` read once.

A product with a size of 0 (batch, M, K or N) never reaches a backend: its result and both
gradients are zeros (an empty sum is 0), and kernels need not handle empty launches.
"""
import math

import numpy as np

from .. import backends
from .. import device as _device
from ..tensor import Function, Tensor, _as_array
from ._util import unbroadcast, xp_of

__all__ = ["matmul", "mm", "bmm", "mv", "dot", "inner", "outer"]


class MatMul(Function):
    def forward(self, a, b):
        # kept for backward: a 0-d gradient may arrive as a numpy scalar, whose module xp_of
        # cannot tell (a * b of two 0-d arrays is one)
        self.xp = xp = xp_of(a)
        self.a_shape, self.b_shape = a.shape, b.shape
        a2 = a.reshape(1, -1) if a.ndim == 1 else a  # (.., M, K)
        b2 = b.reshape(-1, 1) if b.ndim == 1 else b  # (.., K, N)
        (M, K), N = a2.shape[-2:], b2.shape[-1]
        self.shapes2 = (a2.shape, b2.shape)
        if b2.ndim == 2:  # fold a's batch into its rows: (1, batch*M, K) @ (1, K, N)
            batch = a2.shape[:-2]
            self.full = (a2.shape, b2.shape)
            # explicit sizes: reshape cannot infer a -1 next to a 0
            a3 = xp.ascontiguousarray(a2).reshape(1, math.prod(batch) * M, K)
            b3 = xp.ascontiguousarray(b2).reshape(1, K, N)
        else:  # broadcast the batch axes of both: (B, M, K) @ (B, K, N)
            batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
            self.full = (batch + (M, K), batch + (K, N))
            B = math.prod(batch)
            a3 = xp.ascontiguousarray(xp.broadcast_to(a2, self.full[0])).reshape(B, M, K)
            b3 = xp.ascontiguousarray(xp.broadcast_to(b2, self.full[1])).reshape(B, K, N)
        self.backend = backends.for_device(_device.device_of(a))
        self.bmn = (a3.shape[0], a3.shape[1], N)
        self.empty = 0 in self.bmn or K == 0
        self.a3 = a3 if self.needs_grad[1] else None  # each gradient needs the other operand
        self.b3 = b3 if self.needs_grad[0] else None
        out_shape = batch + ((M,) if a.ndim > 1 else ()) + ((N,) if b.ndim > 1 else ())
        out = xp.zeros(self.bmn, dtype=a.dtype) if self.empty else self.backend.matmul(a3, b3)
        return out.reshape(out_shape)

    def backward(self, grad):
        xp = self.xp
        dc = xp.ascontiguousarray(grad).reshape(self.bmn)
        da = db = None
        if self.needs_grad[0]:
            da = xp.zeros(self.full[0], dtype=grad.dtype) if self.empty else \
                self.backend.matmul_backward_a(dc, self.b3).reshape(self.full[0])
            da = unbroadcast(da, self.shapes2[0]).reshape(self.a_shape)
        if self.needs_grad[1]:
            db = xp.zeros(self.full[1], dtype=grad.dtype) if self.empty else \
                self.backend.matmul_backward_b(self.a3, dc).reshape(self.full[1])
            db = unbroadcast(db, self.shapes2[1]).reshape(self.b_shape)
        return da, db


def matmul(a, b):
    """a @ b (numpy/PyTorch semantics; see the module docstring)."""
    a, b = _tensors(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes "
                         f"{a.shape} and {b.shape} (use * for a scalar)")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape} ({k_a} != {k_b})")
    try:
        np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dimensions do not broadcast: {a.shape} @ {b.shape}") from None
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        if a.dtype.kind == "f" or b.dtype.kind == "f":
            raise TypeError(f"matmul: cannot multiply {a.dtype} by {b.dtype}; convert with .to(dtype=...)")
        if a.device != b.device:
            raise RuntimeError(f"matmul: all tensors must be on one device, got {a.shape} on "
                               f"{a.device}, {b.shape} on {b.device}")
        return Tensor(a.xp.matmul(a.data, b.data))  # integers: no gradient, no backend kernel
    if a.dtype != b.dtype:  # the primitives take one float dtype
        common = np.promote_types(a.dtype, b.dtype)
        a, b = a.to(dtype=common), b.to(dtype=common)
    return MatMul.apply(a, b)


def _tensors(*xs):
    return tuple(x if isinstance(x, Tensor) else Tensor(_as_array(x)) for x in xs)


def _check_dims(op, expected, *tensors):
    for x, n in zip(tensors, expected):
        if x.ndim != n:
            shapes = " and ".join(str(tuple(t.shape)) for t in tensors)
            raise ValueError(f"{op} expects tensors of {' and '.join(map(str, expected))} "
                             f"dimensions, got shapes {shapes}")


def mm(input, mat2):
    """Matrix product of two matrices: (M, K) @ (K, N)."""
    input, mat2 = _tensors(input, mat2)
    _check_dims("mm", (2, 2), input, mat2)
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched matrix product: (B, M, K) @ (B, K, N)."""
    input, mat2 = _tensors(input, mat2)
    _check_dims("bmm", (3, 3), input, mat2)
    return matmul(input, mat2)


def mv(input, vec):
    """Matrix times vector: (M, K) @ (K,)."""
    input, vec = _tensors(input, vec)
    _check_dims("mv", (2, 1), input, vec)
    return matmul(input, vec)


def dot(input, other):
    """Inner product of two vectors (a 0-d tensor)."""
    input, other = _tensors(input, other)
    _check_dims("dot", (1, 1), input, other)
    return matmul(input, other)


inner = dot


def outer(input, vec2):
    """Outer product of two vectors: out[i, j] = input[i] * vec2[j]."""
    input, vec2 = _tensors(input, vec2)
    _check_dims("outer", (1, 1), input, vec2)
    return input.reshape(-1, 1) * vec2.reshape(1, -1)
