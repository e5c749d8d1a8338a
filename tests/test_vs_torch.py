"""The same tensor expressions run on PyTorch and on pyconv: values, dtypes and gradients agree.

Each case is an expression in `m` (the module: torch or pyconv) and `t` (inputs made by that
module from the same float64 data). When the result holds float tensors that require grad, the
test also runs backward with fixed weights and compares the inputs' gradients.
Skipped when PyTorch is not installed.
"""
import types

import numpy as np
import pytest

import pyconv

torch = pytest.importorskip("torch")

# PyTorch's own advice about .item() of a tensor that requires grad
pytestmark = pytest.mark.filterwarnings("ignore:Converting a tensor with requires_grad=True:UserWarning")

RNG = np.random.default_rng(0)
DATA = dict(
    x=RNG.standard_normal((3, 4)), y=RNG.standard_normal((3, 4)), v=RNG.standard_normal(4),
    v2=RNG.standard_normal(4), z=RNG.standard_normal((2, 3, 4)), zb=RNG.standard_normal((2, 4, 3)),
    p=RNG.uniform(0.5, 2.0, (3, 4)), mat=RNG.standard_normal((4, 5)),
    xz=np.array([[1.5, 0.0, -2.0], [0.5, 3.0, 0.0], [1.0, -1.0, 2.0]]),
)
INTS = dict(
    i=np.array([[3, -1, 4], [1, -5, 9]]), lab=np.array([2, 0, 1]), lab2=np.array([2, 1, 1]),
    gi=np.array([[0, 3], [1, 1], [3, 2]]), gi0=np.array([[2, 0, 0, 1], [0, 2, 1, 1]]),
    sel=np.array([2, 0, 2]),
)
MASK = RNG.standard_normal((3, 4)) > 0


def inputs(m):
    """The inputs of every case, made by module m: float64 leaves that require grad, integer
    and bool tensors, and plain float tensors for in-place ops."""
    t = types.SimpleNamespace()
    for name, array in DATA.items():
        setattr(t, name, m.tensor(array.copy(), requires_grad=True))
    for name, array in INTS.items():
        setattr(t, name, m.tensor(array.copy()))
    t.mask = m.tensor(MASK.copy())
    t.w = m.tensor(DATA["x"].copy())
    t.wi = m.tensor(INTS["i"].copy())
    t.zeros34 = m.zeros(3, 4, dtype=m.float64)
    return t


def iadd(a, b):
    a += b
    return a


def isub(a, b):
    a -= b
    return a


def imul(a, b):
    a *= b
    return a


def idiv(a, b):
    a /= b
    return a


def setitem(a, index, value):
    a[index] = value
    return a


ELEMENTWISE = [
    "t.x + t.y", "t.x - t.y", "t.x * t.y", "t.x / t.p", "t.x ** 2", "t.p ** t.y", "2 ** t.x",
    "t.p ** 0.5", "-t.x", "abs(t.x)", "t.x + 1", "1 - t.x", "t.x * 2.5", "3 / t.p", "t.x / 2",
    "m.add(t.x, t.y, alpha=2)", "t.x.add(t.y, alpha=-0.5)", "m.sub(t.x, t.y, alpha=3)", "t.x.sub(2)",
    "m.mul(t.x, t.y)", "t.x.mul(3)", "m.div(t.x, t.p)", "t.x.div(t.p)", "m.true_divide(t.x, t.p)",
    "m.pow(t.p, 3)", "t.p.pow(t.y)", "m.pow(2.0, t.x)", "m.exp(t.x)", "t.x.exp()", "m.log(t.p)",
    "t.p.log()", "m.log2(t.p)", "m.log10(t.p)", "m.log1p(t.p)", "m.expm1(t.x)", "m.sqrt(t.p)",
    "t.p.sqrt()", "m.rsqrt(t.p)", "m.square(t.x)", "m.reciprocal(t.p)", "m.abs(t.x)", "t.x.abs()",
    "m.sign(t.x)", "m.sin(t.x)", "m.cos(t.x)", "m.floor(t.x * 3)", "m.ceil(t.x * 3)",
    "m.round(t.x * 3)", "m.trunc(t.x * 3)", "t.x.neg()", "m.neg(t.x)", "m.negative(t.x)",
    "m.maximum(t.x, t.y)", "m.minimum(t.x, t.y)", "m.max(t.x, t.y)", "m.min(t.x, t.y)",
    "m.clamp(t.x, -0.5, 0.5)", "t.x.clamp(min=0)", "t.x.clamp(max=0.2)", "m.clip(t.x, -1, 1)",
    "t.x.clip(-0.3, 0.3)", "m.clamp(t.x, min=t.y)", "m.where(t.mask, t.x, t.y)",
    "m.where(t.x > 0, t.x, 0.0)", "t.x.where(t.mask, t.y)", "t.x.masked_fill(t.mask, 0.5)",
    "m.remainder(t.x, 0.7)", "t.x % 0.7", "t.x.detach() // 0.5", "m.floor_divide(t.x.detach(), 0.5)",
    "m.div(t.x, 0.3, rounding_mode='floor')", "m.div(t.x, 0.3, rounding_mode='trunc')",
    "t.x + t.v", "t.x * t.v", "t.z - t.v", "t.z * t.x", "t.x / (t.v.abs() + 1)",
    "t.x.square().sum().sqrt()", "(t.x * t.y).exp().mean()",
]

DTYPES = [
    "t.i + 1", "t.i * 2.5", "t.i / 2", "t.i / t.i", "t.i // 2", "t.i % 3", "t.i * t.i", "-t.i",
    "t.x * t.lab.view(3, 1)", "t.x + (t.x > 0)", "t.mask.sum()", "t.mask.float().mean()",
    "(t.lab == t.lab2).sum() / 3", "(t.lab == t.lab2).sum() / len(t.lab)",
    "(t.lab == t.lab2).sum().item()", "(t.lab == t.lab2).float().mean().item()", "t.i.sum()",
    "t.i.sum(1)", "t.i.float()", "t.x.long()", "t.x.int()", "t.mask.int()", "t.mask.long()",
    "t.x.bool()", "t.x.double()", "t.x.float()", "t.x.float() * 2", "t.x.float() + t.x.float()",
    "t.x.to(m.float32)", "t.x.to(m.int64)", "t.x.to(dtype=m.float32)", "t.x.type_as(t.i)",
    "t.i.to(t.x)", "t.x.to('cpu')", "t.x.to('cpu', m.float32)", "t.x.cpu()", "m.exp(t.i)",
    "m.sqrt(t.i.abs())", "t.i.abs()", "m.maximum(t.i, t.lab.view(3, 1)[:2])", "t.i.clamp(0, 3)",
    "t.i.max()", "t.i.max(1)", "t.i.argmax(1)", "t.i.prod()", "t.i.cumsum(1)", "t.mask.cumsum(1)",
    "t.i.float().mean(1)", "m.where(t.mask, 1.0, 0.0)", "m.where(t.mask, t.x, 0)",
    "t.x.dtype == m.float64", "t.i.dtype == m.long", "t.i.dtype == m.int64", "t.mask.dtype == m.bool",
    "t.x.float().dtype == m.float", "t.x.double().dtype == m.double", "t.x.int().dtype == m.int",
    "t.x.to(m.int32).dtype == m.int32", "t.x.to(m.uint8)", "t.i.to(m.int16)",
    "t.x.is_floating_point()", "t.i.is_floating_point()", "m.is_floating_point(t.x)",
    "m.get_default_dtype() == m.float32", "m.tensor([1, 2, 3]).dtype == m.int64",
]

COMPARISONS = [
    "t.x > t.y", "t.x >= 0", "t.x < t.y", "t.x <= 0.1", "t.x == t.x", "t.x != t.y", "t.x.eq(t.y)",
    "t.x.gt(0)", "t.x.lt(t.y)", "t.x.ge(t.y)", "t.x.le(t.y)", "t.x.ne(0)", "m.eq(t.x, t.y)",
    "m.gt(t.x, 0)", "m.lt(t.x, t.y)", "m.ge(t.x, 0)", "m.le(t.x, t.y)", "m.ne(t.x, t.y)", "~t.mask",
    "t.mask & (t.x > 0)", "t.mask | (t.x > 0)", "t.mask ^ (t.x > 0)", "m.logical_and(t.mask, t.x > 0)",
    "m.logical_or(t.mask, t.x > 0)", "m.logical_not(t.mask)", "m.logical_xor(t.mask, t.x > 0)",
    "t.mask.logical_not()", "m.isnan(t.x)", "m.isfinite(t.x)", "m.isinf(t.x)",
    "m.isclose(t.x, t.x + 1e-9)", "m.allclose(t.x, t.x + 1e-9)", "t.x.allclose(t.y)",
    "m.equal(t.x, t.x)", "t.x.equal(t.y)", "t.lab == 1", "(t.x > 0).sum(1)", "t.x == None",
]

REDUCTIONS = [
    "t.x.sum()", "m.sum(t.x)", "t.x.sum(0)", "t.x.sum(1)", "t.x.sum(dim=1)",
    "t.x.sum(-1, keepdim=True)", "m.sum(t.z, dim=(0, 2))", "t.z.sum(dim=[0, 1])",
    "t.z.sum((1, 2), True)", "t.x.sum(axis=1)", "m.sum(t.x, 1, keepdim=True)", "t.x.mean()",
    "m.mean(t.x)", "t.x.mean(0)", "t.x.mean(dim=1, keepdim=True)", "m.mean(t.z, (0, 2))",
    "t.z.mean(dim=-1)", "t.x.prod()", "t.x.prod(1)", "m.prod(t.x, 0, keepdim=True)", "t.xz.prod()",
    "t.xz.prod(1)", "t.xz.prod(0)", "t.x.var()", "t.x.var(1)", "t.x.var(0, unbiased=False)",
    "t.x.var(dim=1, keepdim=True)", "t.x.var(1, correction=0)", "m.var(t.z, (0, 2))",
    "t.x.var(False)", "t.x.std()", "t.x.std(1)", "m.std(t.x, dim=0, unbiased=False)",
    "t.x.std(1, True)", "t.z.std(dim=(1, 2), keepdim=True)", "t.x.max()", "m.max(t.x)",
    "t.x.max(1)", "t.x.max(dim=0)", "t.x.max(1, keepdim=True)", "m.max(t.x, 1)",
    "m.max(t.x, dim=-1)", "t.x.max(1)[0]", "t.x.max(1)[1]", "t.x.max(1).values",
    "t.x.max(1).indices", "t.x.min()", "t.x.min(0)", "m.min(t.x, dim=1, keepdim=True)",
    "t.z.max(2)", "t.z.min(-2)", "t.x.amax(1)", "m.amax(t.z, dim=(0, 2))",
    "t.x.amin(0, keepdim=True)", "m.amin(t.x, 1)", "t.x.argmax()", "t.x.argmax(1)",
    "m.argmax(t.x, dim=1)", "t.x.argmax(dim=0, keepdim=True)", "t.x.argmin()", "m.argmin(t.z, 2)",
    "t.x.argmin(1, keepdim=True)", "(t.x > 0).all()", "(t.x > 0).any()", "(t.x > -5).all(dim=1)",
    "m.any(t.mask, 0)", "m.all(t.mask, dim=1, keepdim=True)", "t.mask.any(dim=(0, 1))", "t.x.norm()",
    "t.x.norm(2)", "t.x.norm(1)", "t.x.norm(p=2, dim=1)", "t.x.norm(dim=0, keepdim=True)",
    "m.norm(t.x)", "m.norm(t.x, p='fro')", "m.norm(t.x, 1, dim=1)", "t.x.norm(float('inf'))",
    "t.x.norm(float('inf'), dim=1)", "t.x.norm(3, dim=1)", "t.p.norm(0.5)", "t.z.norm(dim=(1, 2))",
    "t.x.norm(0)", "m.logsumexp(t.x, 1)", "t.x.logsumexp(dim=0, keepdim=True)",
    "t.z.logsumexp((0, 2))", "t.x.cumsum(1)", "m.cumsum(t.x, dim=0)", "t.x.sort()", "t.x.sort(0)",
    "t.x.sort(dim=1, descending=True)", "m.sort(t.x, 1)[0]", "t.x.topk(2)", "t.x.topk(2, dim=0)",
    "m.topk(t.x, 3, largest=False)", "t.x.argsort(1)", "m.argsort(t.x, dim=0, descending=True)",
    "t.mask.nonzero()", "m.nonzero(t.mask, as_tuple=True)", "m.where(t.mask)", "t.x.count_nonzero()",
    "m.count_nonzero(t.mask, dim=1)", "(t.x - t.x.mean(1, keepdim=True)) / t.x.std(1, keepdim=True)",
    "t.x.softmax(1).max(1)[0].sum()",
]

SHAPES = [
    "t.x.view(12)", "t.x.view(-1)", "t.x.view(2, 6)", "t.x.view((6, 2))", "t.x.view(4, -1)",
    "t.x.reshape(2, 2, 3)", "t.x.reshape(-1)", "m.reshape(t.x, (4, 3))", "t.x.view_as(t.x.t())",
    "t.x.reshape_as(t.y)", "t.x.t()", "t.x.T", "t.z.mT", "t.v.t()", "m.t(t.x)", "t.x.transpose(0, 1)",
    "m.transpose(t.z, 0, 2)", "t.z.transpose(-1, -2)", "t.z.permute(2, 0, 1)",
    "t.z.permute((1, 2, 0))", "m.permute(t.z, (2, 1, 0))", "t.x.flatten()", "m.flatten(t.z, 1)",
    "t.z.flatten(0, 1)", "t.z.flatten(start_dim=1, end_dim=-1)", "t.z.unflatten(2, (2, 2))",
    "t.x.unsqueeze(0)", "t.x.unsqueeze(-1)", "m.unsqueeze(t.x, 1)", "t.x.unsqueeze(0).squeeze()",
    "t.x.unsqueeze(1).squeeze(1)", "t.x.squeeze(0)", "m.squeeze(t.x.view(3, 1, 4), 1)",
    "t.x.view(1, 3, 1, 4).squeeze((0, 2))", "t.x.unsqueeze(dim=2)", "t.v.expand(3, 4)",
    "t.v.expand(2, 3, 4)", "t.x[:, :1].expand(-1, 4)", "t.v.expand_as(t.x)", "t.v.expand((3, 4))",
    "t.x.repeat(2, 1)", "t.x.repeat(1, 2, 3)", "t.v.repeat(3)", "t.v.repeat(2, 2)",
    "m.tile(t.x, (2,))", "t.x.contiguous()", "t.x.t().contiguous()", "t.x.clone()", "m.clone(t.x)",
    "t.x.flip(0)", "m.flip(t.x, (0, 1))", "t.x.flip(dims=[1])", "t.x.split(2)",
    "t.x.split([1, 3], dim=1)", "m.split(t.x, 2, dim=1)", "t.x.chunk(2)", "t.x.chunk(3, dim=1)",
    "m.chunk(t.x, 2, 1)", "t.x.unbind()", "m.unbind(t.x, 1)", "t.x.narrow(1, 1, 2)",
    "m.cat([t.x, t.y])", "m.cat([t.x, t.y], dim=1)", "m.cat((t.x, t.y), 1)", "m.cat([t.x, t.y], -1)",
    "m.concat([t.x, t.y])", "m.concatenate([t.x, t.y], 1)", "m.stack([t.x, t.y])",
    "m.stack([t.x, t.y], dim=1)", "m.stack((t.x, t.y), -1)", "m.tril(t.x)", "t.x.triu(1)",
    "m.triu(t.x, -1)", "t.x.gather(1, t.gi)", "m.gather(t.x, 0, t.gi0)", "t.x.index_select(0, t.sel)",
    "m.index_select(t.x, 1, t.sel)", "m.zeros(3, 4, dtype=m.float64).scatter(1, t.gi, t.x[:, :2])",
    "t.x.scatter(0, t.gi0[:1], t.y[:1])", "m.scatter(t.x, 0, t.gi0, t.y[1:])", "t.x.scatter(1, t.gi, 0.5)",
    "m.scatter_add(t.x, 1, t.gi, t.y[:, 1:3])", "m.scatter_add(t.x, 0, t.gi0, t.y[1:])",
    "t.x.masked_select(t.mask)", "m.masked_select(t.x, t.mask)",
    "t.x[0]", "t.x[1:, ::2]", "t.x[:, -1]", "t.x[..., 1]", "t.x[None]", "t.x[t.mask]", "t.x[t.lab]",
    "t.x[[0, 0, 2]]", "t.x[t.lab, t.lab2]", "t.x[:, [1, 3]]", "t.x[t.x > 0]", "t.z[1, :, 2:]",
    "t.z[:, 0]", "t.x[t.lab[0]]", "[r for r in t.x]", "list(t.z)",
]

MATMUL = [
    "t.x @ t.mat", "t.x.mm(t.mat)", "m.mm(t.x, t.mat)", "m.matmul(t.x, t.mat)", "t.x.matmul(t.v)",
    "m.mv(t.x, t.v)", "t.v.dot(t.v2)", "m.dot(t.v, t.v2)", "m.outer(t.v, t.v2)", "m.bmm(t.z, t.zb)",
    "t.z @ t.mat", "t.v @ t.mat", "t.z.bmm(t.zb)", "t.x.mv(t.v)", "t.v.outer(t.v2)",
]

METHODS = [
    "t.x.relu()", "t.x.sigmoid()", "t.x.tanh()", "t.x.softmax(1)", "t.x.softmax(dim=0)",
    "t.x.log_softmax(1)", "t.x.log_softmax(dim=-1)", "t.x.size()", "t.x.size(0)", "t.x.size(-1)",
    "t.z.size(1)", "t.x.shape", "t.z.shape[1:]", "t.z.size()[1:]", "t.x.numel()", "t.x.nelement()",
    "t.x.dim()", "t.x.ndim", "len(t.x)", "t.x.tolist()", "t.x.sum().item()", "t.x.is_leaf",
    "t.x.requires_grad", "(t.x * 2).is_leaf", "(t.x * 2).requires_grad", "t.mask.is_leaf",
    "m.is_tensor(t.x)", "m.is_tensor(3)", "m.numel(t.x)", "[r.shape for r in t.x]",
    "t.x.detach().requires_grad", "t.x.detach().is_leaf", "t.x.grad_fn is None",
    "(t.x * 2).grad_fn is None", "t.x.element_size()", "t.i.element_size()", "t.lab[0].item() in t.lab",
    "t.x.size() == t.x.shape", "t.x.shape == (3, 4)", "t.x.size(1) * t.x.size(0)",
    "float(t.x[0, 0])", "int(t.lab[1])", "bool(t.lab[0] > 1)", "t.x.new_zeros(2, 3)",
    "t.x.new_ones((2,))", "t.x.new_full((2,), 3.0)", "t.x.new_tensor([1, 2])", "t.i.new_zeros(2)",
    "f'{t.x.sum():.3f}'", "t.x.detach().numpy().shape", "t.x.data.shape", "t.x.T.shape",
    "t.lab.bincount()", "m.bincount(t.lab2, minlength=4)", "m.sigmoid(t.x)", "m.tanh(t.x)",
    "m.relu(t.x)", "m.softmax(t.x, 1)", "m.log_softmax(t.x, dim=1)", "t.x.is_cuda",
    "t.x.type().split('.')[-1]", "t.i.type().split('.')[-1]",
    "t.mask.type().split('.')[-1]",
]

CREATION = [
    "m.zeros(2, 3)", "m.zeros((2, 3))", "m.zeros([2, 3])", "m.zeros(2, 3, dtype=m.float64)",
    "m.zeros(size=(2, 3))", "m.ones(3)", "m.ones(2, 2, dtype=m.long)", "m.full((2, 2), 7)",
    "m.full((2,), 1.5)", "m.full((2,), True)", "m.full((2, 2), 3, dtype=m.float32)", "m.eye(3)",
    "m.eye(2, 3)", "m.arange(5)", "m.arange(1, 7, 2)", "m.arange(0, 1, 0.25)", "m.arange(5.0)",
    "m.arange(0, 5, dtype=m.float32)", "m.linspace(0, 1, 5)", "m.linspace(-1, 1, steps=4)",
    "m.logspace(0, 2, 3)", "m.logspace(0, 3, 4, base=2)", "m.zeros_like(t.x)", "m.ones_like(t.i)",
    "m.full_like(t.x, 3)", "m.zeros_like(t.x, dtype=m.float32)", "m.empty(2, 3).shape",
    "m.empty_like(t.x).shape", "m.tensor([1, 2, 3])", "m.tensor([1.5, 2])", "m.tensor([True, False])",
    "m.tensor([[1, 2], [3, 4]], dtype=m.float32)", "m.tensor(3.5)", "m.tensor(3)",
    "m.tensor([1, 2], dtype=m.float64)", "m.Tensor([1, 2, 3])", "m.Tensor([[1.5, 2]])",
    "m.Tensor(2, 3).shape", "m.Tensor(2, 3).dtype", "m.as_tensor([1, 2])", "m.as_tensor([1.0, 2])",
    "m.as_tensor(np.arange(3.0))", "m.from_numpy(np.arange(3))", "m.from_numpy(np.ones((2, 2)))",
    "m.rand(2, 3).shape", "m.rand(2, 3).dtype", "m.randn(2, 3).dtype", "m.randn((4,)).shape",
    "m.randint(0, 10, (3,)).dtype", "m.randint(5, (2, 2)).shape", "m.randperm(5).sort().values",
    "m.randperm(5).dtype", "m.rand_like(t.x).dtype", "m.randn_like(t.x).shape",
    "m.zeros(3).uniform_(-1, 1).shape", "m.zeros(3).normal_().dtype",
    "m.empty(2, 2).fill_(0.5)", "m.ones(2, 3).sum(0)", "m.arange(6).view(2, 3).sum(1)",
    "m.arange(6).view(2, 3).float().mean()", "m.arange(4) / 4", "m.arange(4) * 0.5",
]

INPLACE = [
    "t.w.add_(t.y)", "t.w.add_(t.y, alpha=2)", "t.w.sub_(1)", "t.w.mul_(t.v)", "t.w.div_(2)",
    "t.w.zero_()", "t.w.fill_(3)", "t.w.copy_(t.v)", "t.w.clamp_(-0.1, 0.1)", "t.w.clamp_(min=0)",
    "t.w.masked_fill_(t.mask, 1)", "t.w.neg_()", "t.w.abs_()", "t.w.pow_(2)", "t.w.exp_()",
    "t.w.relu_()", "t.w.sigmoid_()", "t.w.tanh_()", "t.wi.add_(1)", "t.wi.mul_(3)", "iadd(t.w, t.y)",
    "isub(t.w, t.v)", "imul(t.w, 2)", "idiv(t.w, t.p)", "iadd(t.wi, 2)", "setitem(t.w, 0, 1.0)",
    "setitem(t.w, (slice(None), 1), t.v[:3])", "setitem(t.w, t.mask, 0.0)",
    "setitem(t.w, t.lab, 5.0)", "setitem(t.wi, (0, 0), 7)", "setitem(t.w, t.w > 0, t.w[t.w > 0] * 2)",
    "t.w.sub_(t.w.mean(1, keepdim=True))", "t.w.add_(t.x.detach())",
    "[t.w.add_(1), t.w.mul_(2)][1]", "t.w.add_(1)._version - t.w._version",
    # inside a graph: the result and the gradients match PyTorch's autograd through in-place ops
    "iadd(t.x * 1, t.y)", "imul(t.x * 1, t.y)", "isub(t.x.sin(), t.v)", "idiv(t.x * 1, t.p)",
    "setitem(t.x * 1, 0, t.y[0])", "(t.x * 1).add_(t.y, alpha=2)", "(t.x * 2).mul_(t.y)",
    "(t.x * 1).masked_fill_(t.mask, 0)", "(t.x * 1).clamp_(-0.5, 0.5)", "(t.x * 1).relu_()",
    "(t.x * 1).copy_(t.y)", "setitem(t.zeros34, t.mask, t.x[t.mask])", "iadd(t.zeros34, t.x)",
    "setitem(t.x * 1, (slice(None), 0), 0.0)", "setitem(t.x.clone(), t.lab, t.y[0])",
    "iadd(m.zeros(4, dtype=m.float64), t.v) * t.v2", "m.zeros(3, 4).scatter_(1, t.lab.view(3, 1), 1.0)",
    "t.zeros34.scatter_add_(1, t.gi, t.y[:, :2])", "(t.x * 1).scatter_(1, t.gi, t.y[:, :2])",
]
LINALG_AND_LEGACY = [
    't.x.diagonal()',
    't.x.diagonal(1)',
    'm.diagonal(t.x, -1)',
    'm.diagonal(t.z, 0, 1, 2)',
    't.z.diagonal(offset=1, dim1=0, dim2=2)',
    'm.diag(t.v)',
    'm.diag(t.v, 1)',
    't.v.diag(-2)',
    'm.diag(t.x)',
    't.x.diag(1)',
    'm.trace(t.x)',
    't.x[:3, :3].trace()',
    "m.meshgrid(t.v, t.v2[:3], indexing='ij')",
    "m.meshgrid(t.v, t.v2[:3], indexing='xy')",
    "m.meshgrid(t.v, t.v2[:2], t.v[:3], indexing='ij')",
    't.x.type(m.FloatTensor)',
    'm.LongTensor([1, 2])',
    'm.FloatTensor([[1, 2]])',
    'isinstance(t.x, m.DoubleTensor)',
    'isinstance(t.x.float(), m.FloatTensor)',
    'isinstance(t.lab, m.LongTensor)',
    'm.FloatTensor(2, 3).shape',
    "m.bernoulli(m.full((3,), 0.5)).shape", "m.rand(2, 2).bernoulli().dtype",
    "m.multinomial(m.tensor([0.2, 0.8]), 3, replacement=True).shape",
    "m.tensor([[0.5, 0.5, 0.0]]).multinomial(2).dtype",
]


CASES = (ELEMENTWISE + DTYPES + COMPARISONS + REDUCTIONS + SHAPES + MATMUL + METHODS + CREATION + INPLACE
         + LINALG_AND_LEGACY)


def run(m, expr):
    """Evaluate `expr` with module m on fresh inputs; returns (result, inputs)."""
    if m is torch:
        torch.manual_seed(0)
    t = inputs(m)
    scope = dict(m=m, t=t, np=np, iadd=iadd, isub=isub, imul=imul, idiv=idiv, setitem=setitem)
    return eval(expr, scope), t


def plain(value, m):
    """Results as comparable Python values: tensors as (dtype name, array)."""
    if isinstance(value, m.Tensor):
        dtype = str(value.dtype).replace("torch.", "") if m is torch else value.dtype.name
        array = value.detach().numpy() if m is torch else value.numpy()
        return ("tensor", dtype, array)
    if m is torch and isinstance(value, torch.dtype):
        return ("dtype", str(value).replace("torch.", ""))
    if isinstance(value, np.dtype):
        return ("dtype", value.name)
    if isinstance(value, (tuple, list)):
        return [plain(v, m) for v in value]
    return value


def assert_same(ours, theirs, where, rtol):
    if isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), f"{where}: {ours!r} vs {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_same(a, b, f"{where}[{i}]", rtol)
    elif isinstance(theirs, tuple) and theirs[0] == "tensor":
        assert isinstance(ours, tuple) and ours[0] == "tensor", f"{where}: {ours!r} is not a tensor"
        assert ours[1] == theirs[1], f"{where}: dtype {ours[1]}, PyTorch's {theirs[1]}"
        assert ours[2].shape == theirs[2].shape, \
            f"{where}: shape {ours[2].shape}, PyTorch's {theirs[2].shape}"
        if theirs[2].dtype.kind == "f":
            tol = max(rtol, float(np.finfo(theirs[2].dtype).eps) * 8)  # float32: a few ulps
            np.testing.assert_allclose(ours[2], theirs[2], rtol=tol, atol=tol, err_msg=where)
        else:
            np.testing.assert_array_equal(ours[2], theirs[2], err_msg=where)
    elif isinstance(theirs, float):
        assert ours == pytest.approx(theirs, rel=rtol, abs=rtol), where
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{where}: {ours!r}, PyTorch's {theirs!r}"


def tensors_with_grad(value, m):
    if isinstance(value, m.Tensor):
        is_float = value.dtype.is_floating_point if m is torch else value.dtype.kind == "f"
        return [value] if value.requires_grad and is_float else []
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in tensors_with_grad(v, m)]
    return []


def backward(value, m):
    """Backward of sum(out * weights) over the float outputs that require grad."""
    outs = tensors_with_grad(value, m)
    if not outs:
        return False
    rng = np.random.default_rng(1)
    total = None
    for out in outs:
        weights = rng.standard_normal(tuple(out.shape))
        term = (out * m.tensor(weights, dtype=out.dtype)).sum()
        total = term if total is None else total + term
    total.backward()
    return True


@pytest.mark.parametrize("expr", CASES)
def test_same_as_pytorch(expr):
    theirs, their_inputs = run(torch, expr)
    ours, our_inputs = run(pyconv, expr)
    float32 = "float()" in expr or "float32" in expr or "m.float)" in expr
    rtol = 1e-5 if float32 else 1e-9
    assert_same(plain(ours, pyconv), plain(theirs, torch), expr, rtol)
    if backward(theirs, torch):
        assert backward(ours, pyconv), f"{expr}: PyTorch's result requires grad, pyconv's does not"
        for name in list(DATA) + ["w", "zeros34"]:
            if not getattr(their_inputs, name).is_leaf:  # changed in place inside the graph
                continue
            g_theirs = getattr(their_inputs, name).grad
            g_ours = getattr(our_inputs, name).grad
            if g_theirs is None or g_ours is None:  # None and zeros mean the same
                other = g_ours if g_theirs is None else g_theirs
                assert other is None or not other.numpy().any(), f"{expr}: gradient of {name}"
                continue
            np.testing.assert_allclose(g_ours.numpy(), g_theirs.numpy(), rtol=rtol, atol=rtol,
                                       err_msg=f"{expr}: gradient of {name}")
    else:
        assert not tensors_with_grad(ours, pyconv), f"{expr}: pyconv's result requires grad, PyTorch's not"


ERRORS = [
    # (expression, the error both raise)
    ("t.x.add_(1)", RuntimeError),  # a leaf that requires grad, in grad mode
    ("iadd(t.x, 1)", RuntimeError),
    ("t.wi.add_(0.5)", RuntimeError),  # a float result into an integer tensor
    ("t.w[:1].add_(t.x.detach())", RuntimeError),  # broadcasting may not grow the tensor
    ("(t.x * 2).backward()", RuntimeError),  # no implicit gradient for many elements
    ("t.x.view(5, -1)", RuntimeError),
    ("t.x.mm(t.x)", RuntimeError),
    ("t.x.gather(1, t.gi.float())", RuntimeError),
]


@pytest.mark.parametrize("expr, error", ERRORS, ids=[e for e, _ in ERRORS])
def test_same_errors_as_pytorch(expr, error):
    with pytest.raises(error):
        run(torch, expr)
    with pytest.raises(Exception):
        run(pyconv, expr)


def test_modified_saved_tensor_is_refused_by_both():
    for m in (torch, pyconv):
        a = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        b = a * 2
        loss = (b * b).sum()
        with m.no_grad():
            b.mul_(3)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()


@pytest.mark.parametrize("expr", ["t.x * t.w", "t.x / t.w", "t.x + t.w", "t.x.exp()", "t.x @ t.w.t()",
                                  "t.x * 2", "t.x.sum() * t.w"])
def test_changing_an_input_backward_does_not_need_is_allowed_by_both(expr):
    """Only the arrays an op keeps for backward are checked: here t.x's values are not needed
    (t.w requires no grad, exp keeps its output), so changing t.x in place is allowed."""
    grads = {}
    for m in (torch, pyconv):
        out, t = run(m, expr)
        with m.no_grad():
            t.x.mul_(2)
        out.sum().backward()
        grads[m] = t.x.grad.numpy()
    np.testing.assert_allclose(grads[pyconv], grads[torch], rtol=1e-9)


def test_sgd_loop_matches_pytorch():
    """A hand-written training loop, as in PyTorch's tutorials, gives the same losses."""
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 5)), rng.standard_normal((16, 1))
    w1, w2 = rng.standard_normal((5, 8)) * 0.3, rng.standard_normal((8, 1)) * 0.3
    losses = {}
    for m in (torch, pyconv):
        X, Y = m.tensor(x), m.tensor(y)
        W1, W2 = m.tensor(w1, requires_grad=True), m.tensor(w2, requires_grad=True)
        history = []
        for _ in range(20):
            loss = (X.mm(W1).clamp(min=0).mm(W2) - Y).pow(2).sum()
            history.append(loss.item())
            loss.backward()
            with m.no_grad():
                W1 -= 1e-2 * W1.grad
                W2 -= 1e-2 * W2.grad
                W1.grad.zero_()
                W2.grad.zero_()
        losses[m] = history
    np.testing.assert_allclose(losses[pyconv], losses[torch], rtol=1e-9)
    assert losses[pyconv][-1] < losses[pyconv][0]


def test_case_count():
    assert len(CASES) >= 300 and len(set(CASES)) == len(CASES)
