"""TensorMethods: the Tensor methods that only forward to a function of pyconv.ops.

`t.sum(1)` is `pyconv.sum(t, 1)` and `t.add_(u)` is `pyconv.ops.inplace.add_(t, u)`: each op,
its forward and its backward, lives in pyconv/ops/. `Tensor` (pyconv/tensor.py) inherits this
class, so that tensor.py holds what a Tensor is and does, and this long flat list, which only
names PyTorch's methods, stays out of its way.
"""


class TensorMethods:
    """Tensor's methods named as PyTorch's, each a call to the pyconv.ops function it names."""

    def add(self, other, alpha=1): return ops.add(self, other, alpha=alpha)
    def sub(self, other, alpha=1): return ops.sub(self, other, alpha=alpha)
    def mul(self, other): return ops.mul(self, other)
    def div(self, other, rounding_mode=None): return ops.div(self, other, rounding_mode=rounding_mode)
    def true_divide(self, other): return ops.div(self, other)
    def floor_divide(self, other): return ops.floor_divide(self, other)
    def remainder(self, other): return ops.remainder(self, other)
    def pow(self, exponent): return ops.pow(self, exponent)
    def neg(self): return ops.neg(self)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def log2(self): return ops.log2(self)
    def log10(self): return ops.log10(self)
    def log1p(self): return ops.log1p(self)
    def expm1(self): return ops.expm1(self)
    def sqrt(self): return ops.sqrt(self)
    def rsqrt(self): return ops.rsqrt(self)
    def square(self): return ops.square(self)
    def reciprocal(self): return ops.reciprocal(self)
    def abs(self): return ops.abs(self)
    def sign(self): return ops.sign(self)
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def floor(self): return ops.floor(self)
    def ceil(self): return ops.ceil(self)
    def round(self, decimals=0): return ops.round(self, decimals=decimals)
    def trunc(self): return ops.trunc(self)
    def clamp(self, min=None, max=None): return ops.clamp(self, min, max)
    clip = clamp
    def maximum(self, other): return ops.maximum(self, other)
    def minimum(self, other): return ops.minimum(self, other)
    def where(self, condition, other): return ops.where(condition, self, other)
    def masked_fill(self, mask, value): return ops.masked_fill(self, mask, value)
    def eq(self, other): return ops.eq(self, other)
    def ne(self, other): return ops.ne(self, other)
    def lt(self, other): return ops.lt(self, other)
    def le(self, other): return ops.le(self, other)
    def gt(self, other): return ops.gt(self, other)
    def ge(self, other): return ops.ge(self, other)
    def logical_and(self, other): return ops.logical_and(self, other)
    def logical_or(self, other): return ops.logical_or(self, other)
    def logical_xor(self, other): return ops.logical_xor(self, other)
    def logical_not(self): return ops.logical_not(self)
    def isnan(self): return ops.isnan(self)
    def isinf(self): return ops.isinf(self)
    def isfinite(self): return ops.isfinite(self)
    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.allclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return ops.isclose(self, other, rtol=rtol, atol=atol, equal_nan=equal_nan)
    def equal(self, other): return ops.equal(self, other)
    def clone(self): return ops.clone(self)
    def contiguous(self): return ops.contiguous(self)

    # reductions: dim= and keepdim= (axis= and keepdims= also work), as the functions
    def sum(self, *args, **kwargs): return ops.sum(self, *args, **kwargs)
    def mean(self, *args, **kwargs): return ops.mean(self, *args, **kwargs)
    def prod(self, *args, **kwargs): return ops.prod(self, *args, **kwargs)
    def var(self, *args, **kwargs): return ops.var(self, *args, **kwargs)
    def std(self, *args, **kwargs): return ops.std(self, *args, **kwargs)
    def max(self, *args, **kwargs): return ops.max(self, *args, **kwargs)
    def min(self, *args, **kwargs): return ops.min(self, *args, **kwargs)
    def amax(self, *args, **kwargs): return ops.amax(self, *args, **kwargs)
    def amin(self, *args, **kwargs): return ops.amin(self, *args, **kwargs)
    def argmax(self, *args, **kwargs): return ops.argmax(self, *args, **kwargs)
    def argmin(self, *args, **kwargs): return ops.argmin(self, *args, **kwargs)
    def all(self, *args, **kwargs): return ops.all(self, *args, **kwargs)
    def any(self, *args, **kwargs): return ops.any(self, *args, **kwargs)
    def norm(self, *args, **kwargs): return ops.norm(self, *args, **kwargs)
    def logsumexp(self, *args, **kwargs): return ops.logsumexp(self, *args, **kwargs)
    def cumsum(self, *args, **kwargs): return ops.cumsum(self, *args, **kwargs)
    def topk(self, *args, **kwargs): return ops.topk(self, *args, **kwargs)
    def sort(self, *args, **kwargs): return ops.sort(self, *args, **kwargs)
    def argsort(self, *args, **kwargs): return ops.argsort(self, *args, **kwargs)
    def nonzero(self, as_tuple=False): return ops.nonzero(self, as_tuple=as_tuple)
    def count_nonzero(self, *args, **kwargs): return ops.count_nonzero(self, *args, **kwargs)
    def bincount(self, weights=None, minlength=0): return ops.bincount(self, weights, minlength)

    # shapes
    def reshape(self, *shape): return ops.reshape(self, *shape)
    def view(self, *shape): return ops.reshape(self, *shape)
    def view_as(self, other): return ops.reshape(self, other.shape)
    def reshape_as(self, other): return ops.reshape(self, other.shape)
    def permute(self, *dims): return ops.permute(self, *dims)
    def transpose(self, dim0=None, dim1=None): return ops.transpose(self, dim0, dim1)
    swapaxes = swapdims = transpose
    def t(self): return ops.t(self)
    def flatten(self, start_dim=0, end_dim=-1): return ops.flatten(self, start_dim, end_dim)
    def unflatten(self, dim, sizes): return ops.unflatten(self, dim, sizes)
    def squeeze(self, *args, **kwargs): return ops.squeeze(self, *args, **kwargs)
    def unsqueeze(self, *args, **kwargs): return ops.unsqueeze(self, *args, **kwargs)
    def broadcast_to(self, *shape): return ops.broadcast_to(self, *shape)
    def expand(self, *sizes): return ops.expand(self, *sizes)
    def expand_as(self, other): return ops.expand(self, other.shape)
    def repeat(self, *sizes): return ops.repeat(self, *sizes)
    def split(self, split_size_or_sections, dim=0): return ops.split(self, split_size_or_sections, dim)
    def chunk(self, chunks, dim=0): return ops.chunk(self, chunks, dim)
    def unbind(self, dim=0): return ops.unbind(self, dim)
    def narrow(self, dim, start, length): return ops.narrow(self, dim, start, length)
    def flip(self, *args, dims=None):
        return ops.flip(self, dims if dims is not None else args[0] if len(args) == 1 else args)
    def gather(self, dim, index): return ops.gather(self, dim, index)
    def scatter(self, dim, index, src=None, value=None):
        return ops.scatter(self, dim, index, src, value=value)
    def scatter_add(self, dim, index, src): return ops.scatter_add(self, dim, index, src)
    def index_select(self, dim, index): return ops.index_select(self, dim, index)
    def masked_select(self, mask): return ops.masked_select(self, mask)
    def tril(self, diagonal=0): return ops.tril(self, diagonal)
    def diagonal(self, offset=0, dim1=0, dim2=1): return ops.diagonal(self, offset, dim1, dim2)
    def diag(self, diagonal=0): return ops.diag(self, diagonal)
    def trace(self): return ops.trace(self)
    def triu(self, diagonal=0): return ops.triu(self, diagonal)
    def matmul(self, other): return ops.matmul(self, other)
    def mm(self, other): return ops.mm(self, other)
    def bmm(self, other): return ops.bmm(self, other)
    def mv(self, other): return ops.mv(self, other)
    def dot(self, other): return ops.dot(self, other)
    def outer(self, other): return ops.outer(self, other)

    @property
    def T(self):
        """All axes reversed (the transpose of a matrix)."""
        return ops.permute(self, *reversed(range(self.ndim)))

    @property
    def mT(self):
        """The last two axes swapped (a batch of matrices transposed)."""
        return ops.transpose(self, -2, -1)

    # activations live in pyconv/ops/activation.py (pyconv.nn.functional), imported on first use
    def relu(self): return _activation().relu(self)
    def sigmoid(self): return _activation().sigmoid(self)
    def tanh(self): return _activation().tanh(self)
    def softmax(self, dim=-1, dtype=None): return _activation().softmax(self, dim, dtype=dtype)
    def log_softmax(self, dim=-1, dtype=None): return _activation().log_softmax(self, dim, dtype=dtype)

    # in place: the same Python object and, outside a graph, the same array (see inplace.py)
    def add_(self, other, alpha=1): return ops.inplace.add_(self, other, alpha=alpha)
    def sub_(self, other, alpha=1): return ops.inplace.sub_(self, other, alpha=alpha)
    def mul_(self, other): return ops.inplace.mul_(self, other)
    def div_(self, other, rounding_mode=None):
        return ops.inplace.div_(self, other, rounding_mode=rounding_mode)
    def pow_(self, exponent): return ops.inplace.pow_(self, exponent)
    def neg_(self): return ops.inplace.neg_(self)
    def abs_(self): return ops.inplace.abs_(self)
    def exp_(self): return ops.inplace.exp_(self)
    def log_(self): return ops.inplace.log_(self)
    def sqrt_(self): return ops.inplace.sqrt_(self)
    def clamp_(self, min=None, max=None): return ops.inplace.clamp_(self, min, max)
    clip_ = clamp_
    def relu_(self): return ops.inplace.relu_(self)
    def sigmoid_(self): return ops.inplace.sigmoid_(self)
    def tanh_(self): return ops.inplace.tanh_(self)
    def masked_fill_(self, mask, value): return ops.inplace.masked_fill_(self, mask, value)
    def scatter_(self, dim, index, src=None, value=None):
        return ops.inplace.scatter_(self, dim, index, src, value)
    def scatter_add_(self, dim, index, src): return ops.inplace.scatter_add_(self, dim, index, src)
    def zero_(self): return ops.inplace.zero_(self)
    def fill_(self, value): return ops.inplace.fill_(self, value)
    def copy_(self, src, non_blocking=False): return ops.inplace.copy_(self, src)
    def normal_(self, mean=0.0, std=1.0, generator=None):
        return ops.inplace.normal_(self, mean, std, generator)
    def uniform_(self, a=0.0, b=1.0, generator=None): return ops.inplace.uniform_(self, a, b, generator)


def _activation():
    from .ops import activation
    return activation


# pyconv/__init__.py imports pyconv.ops first; the ops import Tensor from pyconv.tensor, which
# imports this module: `ops` here is that half-imported package, complete before any method runs.
from . import ops  # noqa: E402
