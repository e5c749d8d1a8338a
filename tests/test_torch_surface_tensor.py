"""PyTorch's tensor surface on pyconv, checked against values computed by hand with numpy:
dtypes, dim/keepdim, max(dim) as (values, indices), Tensor methods, in-place updates and their
version counters, creation functions, and float64 gradient checks of every op with a gradient."""
import numpy as np
import pytest

import pyconv as pc
from pyconv.gradcheck import gradcheck


def rand(*shape, seed=0):
    return pc.tensor(np.random.default_rng(seed).standard_normal(shape), requires_grad=True)


def distinct(*shape, seed=0):
    """float64 values without ties (for max, sort and topk)."""
    n = int(np.prod(shape))
    values = np.random.default_rng(seed).permutation(n).reshape(shape) * 0.1 - 0.3
    return pc.tensor(values, requires_grad=True)


def same(t, expected, dtype=None):
    np.testing.assert_allclose(t.numpy(), expected, rtol=1e-12, atol=1e-12)
    if dtype is not None:
        assert t.dtype == dtype, (t.dtype, dtype)


# -- dtypes ---------------------------------------------------------------------------------------
def test_dtype_names_are_numpy_dtypes():
    assert pc.float32 == np.float32 and pc.float64 == np.float64 and pc.int64 == np.int64
    assert pc.float is pc.float32 and pc.double is pc.float64 and pc.long is pc.int64
    assert pc.int is pc.int32 and pc.half is pc.float16 and pc.bool == np.bool_
    assert pc.tensor([1.0]).dtype == pc.float32 and pc.tensor([1]).dtype == pc.long
    assert pc.tensor([True]).dtype == pc.bool and pc.tensor([1.0]).dtype is pc.float32
    assert np.zeros(2, dtype=pc.float16).dtype == np.float16
    assert pc.zeros(2, dtype=pc.int32).dtype == np.int32
    assert pc.get_default_dtype() == pc.float32
    assert pc.is_tensor(pc.zeros(1)) and not pc.is_tensor(np.zeros(1))
    assert pc.zeros(1).is_floating_point() and not pc.tensor([1]).is_floating_point()
    assert pc.is_floating_point(pc.zeros(1, dtype=pc.double))


def test_conversions():
    x = pc.tensor([[1.7, -2.2]])
    assert x.long().dtype == pc.int64 and x.long().tolist() == [[1, -2]]
    assert x.int().dtype == pc.int32 and x.double().dtype == pc.float64
    assert x.bool().tolist() == [[True, True]] and x.half().dtype == pc.float16
    assert x.float() is x and x.to(pc.float32) is x and x.to("cpu") is x
    assert x.to(pc.float64).dtype == pc.float64 and x.to(dtype=pc.int64).dtype == pc.int64
    assert x.to("cpu", pc.float64).dtype == pc.float64
    assert x.to(pc.tensor([1])).dtype == pc.int64
    assert x.type_as(pc.tensor([1.0], dtype=pc.double)).dtype == pc.double
    assert x.to(pc.float32, copy=True) is not x
    assert x.type() == "pyconv.FloatTensor" and pc.tensor([1]).type() == "pyconv.LongTensor"
    assert x.type(pc.float64).dtype == pc.float64


def test_integer_division_and_reductions_give_pytorch_dtypes():
    pred, target = pc.tensor([1, 2, 0, 2]), pc.tensor([1, 0, 0, 2])
    accuracy = (pred == target).sum() / len(target)
    assert accuracy.dtype == pc.float32 and accuracy.item() == 0.75
    assert (pred == target).sum().dtype == pc.int64 and (pred == target).sum().item() == 3
    assert (pc.tensor([3, 4]) / pc.tensor([2, 8])).dtype == pc.float32
    assert (pc.tensor([3]) / 2).tolist() == [1.5] and (pc.tensor([3]) // 2).tolist() == [1]
    assert (pc.tensor([1, 2]) * 2.5).dtype == pc.float32
    assert (pc.tensor([1, 2]) + pc.tensor([0.5], dtype=pc.float64)).dtype == pc.float64
    assert pc.tensor([1, 2]).mean().dtype == pc.float32 and pc.tensor([1, 2]).mean().item() == 1.5
    assert pc.tensor([True, True, False]).sum().dtype == pc.int64
    assert pc.exp(pc.tensor([0])).dtype == pc.float32


# -- dim / keepdim --------------------------------------------------------------------------------
REDUCTIONS = {
    "sum": np.sum, "mean": np.mean, "prod": np.prod, "amax": np.amax, "amin": np.amin,
    "var": lambda a, axis, keepdims: np.var(a, axis=axis, keepdims=keepdims, ddof=1),
    "std": lambda a, axis, keepdims: np.std(a, axis=axis, keepdims=keepdims, ddof=1),
    "logsumexp": lambda a, axis, keepdims: np.log(np.exp(a).sum(axis=axis, keepdims=keepdims)),
    "norm": lambda a, axis, keepdims: np.sqrt((a * a).sum(axis=axis, keepdims=keepdims)),
}


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
@pytest.mark.parametrize("dim", [1, -1, (0, 2)], ids=str)
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions_take_dim_keepdim_and_numpys_aliases(name, dim, keepdim):
    x = rand(2, 3, 4)
    expected = REDUCTIONS[name](x.numpy(), axis=dim, keepdims=keepdim)
    fn = getattr(pc, name)
    if name not in ("var", "std", "norm"):  # their second positional is unbiased or p
        same(fn(x, dim, keepdim), expected)
        same(getattr(x, name)(dim, keepdim), expected)
    same(fn(x, dim=dim, keepdim=keepdim), expected)
    same(fn(x, axis=dim, keepdims=keepdim), expected)
    same(getattr(x, name)(dim=dim, keepdim=keepdim), expected)
    assert gradcheck(lambda x: fn(x, dim=dim, keepdim=keepdim), x)


def test_dim_and_axis_together_are_refused():
    with pytest.raises(TypeError, match="dim or axis"):
        pc.sum(rand(2, 3), dim=0, axis=0)


def test_positional_and_list_dims():
    x = rand(2, 3, 4)
    same(x.sum(1), x.numpy().sum(1))
    same(x.sum(dim=[0, 2]), x.numpy().sum((0, 2)))
    same(x.mean((0, 1), True), x.numpy().mean((0, 1), keepdims=True))
    same(pc.cat([x, x], 2), np.concatenate([x.numpy()] * 2, 2))
    same(pc.cat([x, x], dim=-1), np.concatenate([x.numpy()] * 2, -1))
    same(pc.cat([x, x], axis=1), np.concatenate([x.numpy()] * 2, 1))
    same(pc.stack([x, x], dim=1), np.stack([x.numpy()] * 2, 1))
    same(pc.flatten(x, 1), x.numpy().reshape(2, 12))
    same(x.flatten(start_dim=0, end_dim=1), x.numpy().reshape(6, 4))
    same(x[:, :1].squeeze(dim=1), x.numpy()[:, 0])
    same(x.unsqueeze(dim=0), x.numpy()[None])
    assert pc.argmax(x, dim=1).shape == (2, 4) and x.argmax(1, keepdim=True).shape == (2, 1, 4)
    assert (x > 0).all(dim=1).shape == (2, 4) and pc.any(x > 0, dim=(0, 1), keepdim=True).shape == (1, 1, 4)


def test_var_keeps_pytorchs_unbiased_overload():
    x = rand(3, 4)
    same(x.var(False), x.numpy().var())
    same(x.var(1, False), x.numpy().var(1))
    same(x.std(1, True, True), x.numpy().std(1, ddof=1, keepdims=True))
    same(x.var(dim=0, correction=0), x.numpy().var(0))


# -- max / min --------------------------------------------------------------------------------------
def test_max_with_dim_is_values_and_indices():
    x = pc.tensor([[1.0, 5.0, 3.0], [4.0, 2.0, 6.0]], requires_grad=True)
    result = x.max(1)
    assert type(result).__name__ == "max" and isinstance(result, tuple) and len(result) == 2
    values, indices = result
    same(values, [5.0, 6.0]) and same(result.values, [5.0, 6.0])
    assert indices.tolist() == [1, 2] and result.indices.dtype == pc.int64
    _, predicted = x.max(1)  # the classic accuracy idiom
    assert predicted.tolist() == [1, 2]
    assert x.max(dim=0).indices.tolist() == [1, 0, 1] and pc.max(x, 1)[0].tolist() == [5.0, 6.0]
    assert x.max(1, keepdim=True).values.shape == (2, 1) and x.max(1, True)[1].shape == (2, 1)
    low = x.min(dim=1)
    assert type(low).__name__ == "min" and low.values.tolist() == [1.0, 2.0]
    assert low.indices.tolist() == [0, 1]
    assert x.max().item() == 6.0 and pc.min(x).item() == 1.0
    values.sum().backward()
    same(x.grad, [[0, 1, 0], [0, 0, 1]])


def test_max_of_three_rows_unpacks_as_a_pair():
    values, indices = pc.tensor(np.arange(12.0).reshape(3, 4)).max(1)
    assert values.tolist() == [3.0, 7.0, 11.0] and indices.tolist() == [3, 3, 3]


def test_max_of_two_tensors_is_elementwise():
    a, b = pc.tensor([1.0, 5.0]), pc.tensor([3.0, 2.0])
    assert pc.max(a, b).tolist() == [3.0, 5.0] and pc.min(a, b).tolist() == [1.0, 2.0]


def test_max_dim_gives_the_gradient_to_one_index_amax_splits_it():
    x = pc.tensor([[1.0, 3.0, 3.0]], requires_grad=True)
    x.max(1).values.sum().backward()
    same(x.grad, [[0, 1, 0]])
    x.grad = None
    x.amax(1).sum().backward()
    same(x.grad, [[0, 0.5, 0.5]])


def test_sort_topk_gather():
    x = distinct(3, 4)
    a = x.numpy()
    order = np.argsort(a, 1)
    s = x.sort(1)
    same(s.values, np.sort(a, 1)) and np.testing.assert_array_equal(s.indices.numpy(), order)
    top = x.topk(2, dim=1)
    np.testing.assert_array_equal(top.indices.numpy(), order[:, ::-1][:, :2])
    same(top.values, np.take_along_axis(a, order[:, ::-1][:, :2], 1))
    index = pc.tensor([[0, 0], [3, 1], [2, 2]])
    same(x.gather(1, index), np.take_along_axis(a, index.numpy(), 1))
    assert gradcheck(lambda x: x.gather(1, index), x)
    assert gradcheck(lambda x: x.sort(0, descending=True).values, x)
    assert gradcheck(lambda x: x.topk(3, dim=1, largest=False).values, x)
    assert gradcheck(lambda x: x.max(0).values * x.min(1, keepdim=True).values, x)


# -- Tensor methods -------------------------------------------------------------------------------
def test_size_is_a_method():
    x = pc.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and isinstance(x.size(), pc.Size) and isinstance(x.shape, tuple)
    assert x.size(0) == 2 and x.size(-1) == 4 and x.size(-3) == 2
    assert x.size()[1:] == (3, 4) and isinstance(x.size()[1:], pc.Size) and x.size().numel() == 24
    assert x.numel() == 24 and x.dim() == 3 and x.ndim == 3 and len(x) == 2
    with pytest.raises(IndexError):
        x.size(3)


def test_shape_methods():
    x = rand(2, 3)
    a = x.numpy()
    same(x.view(3, 2), a.reshape(3, 2)) and same(x.view(-1), a.ravel()) and same(x.view((6,)), a.ravel())
    same(x.view_as(pc.zeros(3, 2)), a.reshape(3, 2)) and same(x.reshape(1, 6), a.reshape(1, 6))
    same(x.t(), a.T) and same(x.T, a.T) and same(pc.zeros(2, 3, 4).mT, np.zeros((2, 4, 3)))
    same(x[:, :1].expand(2, 5), np.broadcast_to(a[:, :1], (2, 5)))
    same(x[:, :1].expand(4, -1, 3), np.broadcast_to(a[:, :1], (4, 2, 3)))
    same(x.expand_as(pc.zeros(5, 2, 3)), np.broadcast_to(a, (5, 2, 3)))
    same(x.repeat(2, 3), np.tile(a, (2, 3))) and same(x.repeat(2, 1, 1), np.tile(a, (2, 1, 1)))
    same(x.permute(1, 0), a.T) and same(x.transpose(0, 1), a.T) and same(x.flip(1), a[:, ::-1])
    assert [p.shape for p in x.split(2, dim=1)] == [(2, 2), (2, 1)]
    assert [p.shape for p in x.chunk(3, 1)] == [(2, 1)] * 3 and len(x.unbind(1)) == 3
    same(pc.tril(x), np.tril(a)) and same(x.triu(1), np.triu(a, 1))
    clone = x.clone()
    assert clone.data is not x.data and clone.requires_grad and not clone.is_leaf
    assert x.contiguous() is x and x.t().contiguous().data.flags.c_contiguous
    for fn in (lambda x: x.view(3, 2).t(), lambda x: x.repeat(2, 3), lambda x: x[:, :1].expand(2, 5),
               lambda x: x.clone() * 2, lambda x: x.t().contiguous(), lambda x: x.flip(0),
               lambda x: pc.cat(x.split(1, 1)[::-1], 1), lambda x: x.triu(), lambda x: x.tril(-1),
               lambda x: x.index_select(1, pc.tensor([2, 2, 0])), lambda x: x.masked_select(x > 0),
               lambda x: x.narrow(1, 1, 2), lambda x: pc.stack(x.unbind(0), 1)):
        assert gradcheck(fn, x)


def test_elementwise_methods_and_functions():
    x = rand(3, 4)
    a = x.numpy()
    p = pc.tensor(np.abs(a) + 0.5, requires_grad=True)
    b = p.numpy()
    same(x.add(x, alpha=2), 3 * a) and same(x.sub(1, alpha=2), a - 2) and same(x.mul(x), a * a)
    same(x.div(p), a / b) and same(x.pow(2), a ** 2) and same(x.neg(), -a) and same(x.sign(), np.sign(a))
    same(p.log2(), np.log2(b)) and same(p.log10(), np.log10(b)) and same(p.log1p(), np.log1p(b))
    same(x.expm1(), np.expm1(a)) and same(p.rsqrt(), 1 / np.sqrt(b)) and same(p.reciprocal(), 1 / b)
    same(x.sin(), np.sin(a)) and same(x.cos(), np.cos(a)) and same(x.square(), a * a)
    same(x.clamp(min=-0.2, max=0.3), np.clip(a, -0.2, 0.3)) and same(x % 0.7, np.remainder(a, 0.7))
    same(x.masked_fill(x > 0, 0.0), np.where(a > 0, 0, a))
    same(x.where(x > 0, 1.0), np.where(a > 0, a, 1))
    same(x.floor(), np.floor(a)) and same(x.round(), np.round(a)) and same(x // 0.5, np.floor_divide(a, 0.5))
    assert x.eq(x).all().item() and not x.ne(x).any().item() and x.gt(-10).all().item()
    assert x.allclose(x + 1e-12) and pc.allclose(x, x) and not x.equal(x + 1) and pc.equal(x, x.clone())
    for fn in (lambda x, p: x.add(p, alpha=-2), lambda x, p: p.log2() + p.log10() + p.log1p(),
               lambda x, p: x.expm1() * p.rsqrt(), lambda x, p: p.reciprocal() + x.sin() * x.cos(),
               lambda x, p: x.square() + x % 0.7, lambda x, p: x.masked_fill(x > 0, 2.0) * p,
               lambda x, p: x.clamp(min=p - 1), lambda x, p: pc.remainder(x, p),
               lambda x, p: x.floor() + x.round() + x.sign() + x // 0.5 + x):
        assert gradcheck(fn, x, p)


def test_new_reductions_have_gradients():
    x = rand(3, 4)
    with_zero = pc.tensor([[1.5, 0.0, -2.0], [0.5, 3.0, 0.0]], requires_grad=True)
    same(with_zero.prod(1), [0.0, 0.0])
    with_zero.prod(1).sum().backward()
    same(with_zero.grad, [[0, -3, 0], [0, 0, 1.5]])  # the product of the others, also at zeros
    same(x.cumsum(1), np.cumsum(x.numpy(), 1))
    same(x.norm(1, dim=1), np.abs(x.numpy()).sum(1))
    same(x.norm(float("inf")), np.abs(x.numpy()).max())
    same(x.norm(3, dim=0), (np.abs(x.numpy()) ** 3).sum(0) ** (1 / 3))
    same(pc.zeros(3, requires_grad=True).norm(), 0.0)
    for fn in (lambda x: x.prod(), lambda x: x.prod(dim=(0, 1)), lambda x: with_zero.prod(0) * x.sum(),
               lambda x: x.cumsum(0), lambda x: x.norm(1, 1), lambda x: x.norm(3), lambda x: x.norm(0.5, 0),
               lambda x: x.norm(float("inf"), dim=1), lambda x: x.logsumexp(dim=(0, 1))):
        assert gradcheck(fn, x)
    z = pc.zeros(3, requires_grad=True)
    z.norm().backward()
    same(z.grad, [0, 0, 0])  # PyTorch's subgradient at 0, not nan


def test_diagonals_and_grids():
    x, v = rand(3, 4), rand(3, seed=1)
    same(x.diagonal(1), np.diagonal(x.numpy(), 1)) and same(pc.trace(x), np.trace(x.numpy()))
    same(pc.diag(v, -1), np.diag(v.numpy(), -1)) and same(x.diag(), np.diag(x.numpy()))
    gx, gy = pc.meshgrid(v, x[0], indexing="ij")
    ex, ey = np.meshgrid(v.numpy(), x.numpy()[0], indexing="ij")
    same(gx, ex) and same(gy, ey)
    batch = rand(2, 3, 4, seed=2)
    for fn in (lambda x, v: x.diagonal(-1) * v[:2], lambda x, v: x @ pc.diag(v, 1), lambda x, v: x.trace(),
               lambda x, v: batch.diagonal(0, 1, 2) * x.diagonal(),
               lambda x, v: pc.meshgrid(v, x[1], indexing="xy")[1] * pc.meshgrid(v, x[1])[0].t()):
        assert gradcheck(fn, x, v)
    assert gradcheck(lambda b: b.diagonal(1, 2, 0), batch)


def test_legacy_typed_constructors_and_sampling():
    assert pc.FloatTensor([1, 2]).dtype == pc.float32 and pc.LongTensor(2, 3).shape == (2, 3)
    assert isinstance(pc.zeros(2), pc.FloatTensor) and not isinstance(pc.zeros(2), pc.LongTensor)
    assert pc.zeros(2).type(pc.LongTensor).dtype == pc.int64 and pc.ByteTensor([1]).dtype == pc.uint8
    pc.manual_seed(0)
    draws = pc.bernoulli(pc.full((10000,), 0.3))
    assert draws.dtype == pc.float32 and abs(draws.mean().item() - 0.3) < 0.02
    picks = pc.multinomial(pc.tensor([[0.5, 0.0, 0.5], [0.2, 0.0, 0.8]]), 2)
    assert picks.dtype == pc.int64 and [sorted(row) for row in picks.tolist()] == [[0, 2], [0, 2]]
    assert pc.multinomial(pc.tensor([0.0, 1.0]), 3, replacement=True).tolist() == [1, 1, 1]


def test_matrix_products():
    a, b, v = rand(3, 4), rand(4, 2, seed=1), rand(4, seed=2)
    same(a.mm(b), a.numpy() @ b.numpy()) and same(pc.mv(a, v), a.numpy() @ v.numpy())
    same(v.dot(v), v.numpy() @ v.numpy()) and same(pc.outer(v, v), np.outer(v.numpy(), v.numpy()))
    same(pc.bmm(a[None], b[None]), (a.numpy() @ b.numpy())[None])
    with pytest.raises(ValueError, match="mm expects"):
        pc.mm(v, b)
    assert gradcheck(lambda a, b, v: a.mm(b).sum() + pc.mv(a, v).sum() + pc.outer(v, v).sum(), a, b, v)


def test_attributes_and_conversions_to_python():
    x = pc.tensor([[1.5, 2.0]], requires_grad=True)
    assert x.is_leaf and x.grad_fn is None and x.requires_grad
    y = x * 2
    assert not y.is_leaf and y.grad_fn.name() == "MulBackward" and "grad_fn=<MulBackward>" in repr(y)
    assert y.grad_fn.next_functions == ((None, 0), (None, 0))  # leaves: x and the number 2
    assert x.tolist() == [[1.5, 2.0]] and x.sum().item() == 3.5 and f"{x.sum():.2f}" == "3.50"
    assert [row.tolist() for row in x] == [[1.5, 2.0]] and 2.0 in x and x.is_cuda is False
    assert x.numpy().shape == (1, 2) and x.cpu() is x and x.data.dtype == np.float32
    assert x.device == "cpu" and x.device.type == "cpu" and x.to(x.device) is x
    x.data = pc.tensor([[0.0, 1.0]])  # assigning a tensor stores its array
    assert isinstance(x.data, np.ndarray) and x.tolist() == [[0.0, 1.0]]
    with pytest.raises(TypeError, match="0-d"):
        iter(pc.tensor(1.0))


def test_backward_arguments():
    x = pc.tensor([1.0, 2.0], requires_grad=True)
    (x * 3).backward(gradient=pc.tensor([1.0, 0.0]))
    same(x.grad, [3, 0])
    (x * 3).backward(grad=np.array([0.0, 1.0]), retain_graph=True)  # the old keyword still works
    same(x.grad, [3, 3])
    with pytest.raises(NotImplementedError, match="create_graph"):
        (x * 3).sum().backward(create_graph=True)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        (x * 3).backward()
    loss = (x * x).sum()
    loss.backward()
    loss.backward()  # the graph is kept: retain_graph is never needed
    same(x.grad, [3 + 4, 3 + 8])


def test_detach_retain_grad_requires_grad_():
    x = pc.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    h.retain_grad()
    (h * 3).sum().backward()
    same(h.grad, [3, 3]) and same(x.grad, [6, 12])
    d = h.detach()
    assert d.data is h.data and not d.requires_grad and d._version == h._version
    h2 = x * 2
    assert h2.detach_() is h2 and h2.is_leaf and not h2.requires_grad
    assert pc.tensor([1.0]).requires_grad_().requires_grad


def test_grad_mode_switches():
    x = pc.tensor([1.0], requires_grad=True)

    @pc.no_grad()
    def with_parentheses(t):
        return t * 2

    @pc.no_grad
    def without(t):
        return t * 2

    assert not with_parentheses(x).requires_grad and not without(x).requires_grad
    with pc.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    pc.set_grad_enabled(False)
    assert not pc.is_grad_enabled()
    pc.set_grad_enabled(True)
    with pc.inference_mode():
        assert not (x * 2).requires_grad
    with pc.no_grad(), pc.enable_grad():
        assert (x * 2).requires_grad


# -- in-place updates -------------------------------------------------------------------------------
def test_sgd_by_hand_updates_the_same_leaf():
    rng = np.random.default_rng(0)
    x, y = pc.tensor(rng.standard_normal((32, 3))), pc.tensor(rng.standard_normal((32, 1)))
    w = pc.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    b = pc.zeros(1, dtype=pc.float64, requires_grad=True)
    array, losses = w.data, []
    for step in range(10):
        loss = ((x @ w + b - y) ** 2).mean()
        losses.append(loss.item())
        loss.backward()
        with pc.no_grad():
            w -= 0.1 * w.grad
            b.sub_(b.grad, alpha=0.1)
            w.grad.zero_()
            b.grad = None
        assert w.data is array and w.is_leaf and w.requires_grad and w._version == step + 1
    assert all(later < earlier for earlier, later in zip(losses, losses[1:]))


def test_in_place_ops_write_into_the_same_array():
    w = pc.tensor([[1.0, -2.0], [3.0, 4.0]])
    array = w.data
    steps = [(lambda: w.add_(1), [[2, -1], [4, 5]]), (lambda: w.mul_(2), [[4, -2], [8, 10]]),
             (lambda: w.div_(pc.tensor([2.0, 1.0])), [[2, -2], [4, 10]]),
             (lambda: w.sub_(1, alpha=2), [[0, -4], [2, 8]]), (lambda: w.clamp_(-1, 3), [[0, -1], [2, 3]]),
             (lambda: w.masked_fill_(w < 0, 9), [[0, 9], [2, 3]]), (lambda: w.neg_(), [[0, -9], [-2, -3]]),
             (lambda: w.abs_(), [[0, 9], [2, 3]]), (lambda: w.pow_(2), [[0, 81], [4, 9]]),
             (lambda: w.copy_(pc.tensor([1.0, 2.0])), [[1, 2], [1, 2]]),
             (lambda: w.fill_(5), [[5, 5], [5, 5]]), (lambda: w.zero_(), [[0, 0], [0, 0]])]
    for op, expected in steps:
        assert op() is w
        same(w, expected)
    assert w.data is array and w._version == 12
    w += 1
    w *= pc.tensor([[2.0], [3.0]])
    w /= 2
    w -= np.float64(0.5)
    same(w, [[0.5, 0.5], [1.0, 1.0]], dtype=pc.float32)
    assert w.data is array and w._version == 16


def test_in_place_keeps_dtype_and_shape():
    w = pc.zeros(2)
    w -= np.array([1.0, 2.0], dtype=np.float64)  # cast, as PyTorch
    assert w.dtype == pc.float32 and w.tolist() == [-1.0, -2.0]
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        w.add_(pc.zeros(3, 2))
    counts = pc.tensor([1, 2])
    counts += 1
    assert counts.tolist() == [2, 3] and counts.dtype == pc.int64
    with pytest.raises(RuntimeError, match="can't be cast"):
        counts += 0.5


def test_setitem():
    x = pc.zeros(2, 3)
    array = x.data
    x[0] = 1.0
    x[:, 2] = pc.tensor([5.0, 6.0])
    x[x == 0] = -1.0
    x[pc.tensor([1]), pc.tensor([0])] = 7.0
    same(x, [[1, 1, 5], [7, -1, 6]])
    assert x.data is array and x._version == 4


def test_random_fills_use_the_default_generator():
    pc.manual_seed(3)
    a = pc.zeros(1000).normal_(2.0, 0.5)
    b = pc.zeros(4).uniform_(-1, 1)
    pc.manual_seed(3)
    same(pc.zeros(1000).normal_(2.0, 0.5), a.numpy())
    same(pc.zeros(4).uniform_(-1, 1), b.numpy())
    assert abs(a.mean().item() - 2.0) < 0.1 and abs(a.std().item() - 0.5) < 0.05
    assert b.min().item() >= -1 and b.max().item() < 1


def test_in_place_on_a_leaf_that_requires_grad_is_refused():
    w = pc.ones(2, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.zero_(), lambda: w.__isub__(1), lambda: w.__setitem__(0, 2.0),
               lambda: w.normal_()):
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place"):
            op()
    assert w.tolist() == [1.0, 1.0] and w._version == 0


def test_changed_saved_input_is_refused_by_backward():
    w = pc.tensor([1.0, 2.0], requires_grad=True)
    x = pc.tensor([3.0, 4.0])
    loss = (w * x).sum()  # Mul saved x and w
    x.mul_(2)
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation: \[float32 tensor of "
                                           r"shape \(2,\)\], saved by MulBackward, is at version 1; "
                                           r"expected version 0 instead"):
        loss.backward()
    loss = (w * w).sum()
    with pc.no_grad():
        w.add_(1)  # an optimizer step between forward and backward
    with pytest.raises(RuntimeError, match="is at version 1; expected version 0"):
        loss.backward()
    w.grad = None
    loss = (w * pc.tensor([3.0, 4.0])).sum()  # Mul kept only the constant, for w's gradient
    with pc.no_grad():
        w.add_(1)
    loss.backward()
    same(w.grad, [3, 4])


def test_ops_that_saved_nothing_allow_later_changes():
    w, x = pc.tensor([1.0, 2.0], requires_grad=True), pc.tensor([3.0, 4.0])
    loss = (w + x).sum()  # Add saves only shapes
    x.add_(1)
    loss.backward()
    same(w.grad, [1, 1])


def test_views_share_the_version_counter():
    x = pc.tensor([[1.0, 2.0], [3.0, 4.0]])
    row, flat, detached = x[0], x.view(-1), x.detach()
    row.add_(10)
    assert x.tolist() == [[11.0, 12.0], [3.0, 4.0]] and x._version == 1 and flat._version == 1
    detached.zero_()
    assert x._version == 2 and x.sum().item() == 0
    w = pc.tensor([1.0, 2.0], requires_grad=True)
    loss = (w.view(2, 1) * w.view(2, 1)).sum()
    with pc.no_grad():
        w.view(-1).mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_in_place_inside_a_graph_differentiates_like_pytorch():
    x = pc.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    z = h * h  # uses h before the in-place change: 4x^2
    h += x  # h = 3x, a new grad_fn
    h.mul_(x)  # h = 3x^2
    assert not h.is_leaf and h.grad_fn.name() == "MulBackward" and h._version == 2
    (z.sum() + h.sum()).backward()
    same(x.grad, 8 * x.numpy() + 6 * x.numpy())
    out = pc.zeros(3)
    out[1] = x[0] * 5  # a plain tensor takes the gradient of what is written into it
    out.sum().backward()
    assert out.requires_grad and not out.is_leaf
    same(x.grad, 14 * x.numpy() + [5, 0, 0])
    for fn in (lambda x: _iadd(x * 1, x.exp()), lambda x: (x * 1).clamp_(-0.5, 0.5) * x,
               lambda x: _setitem(x * 1, (0, slice(1, 3)), x[1, :2] * 3),
               lambda x: (x * 1).masked_fill_(x > 0, 1.0),
               lambda x: pc.zeros(2, 3, dtype=pc.float64).copy_(x.t()[:2]) * x[:2],
               lambda x: (x * 2).scatter_(1, pc.tensor([[2], [0], [1]]), x[:, :1]),
               lambda x: pc.zeros(3, 2, dtype=pc.float64).scatter_add(0, pc.tensor([[1, 1], [0, 1]]),
                                                                       x[:2, :2])):
        assert gradcheck(fn, rand(3, 3))


def _iadd(a, b):
    a += b
    return a


def _setitem(a, index, value):
    a[index] = value
    return a


# -- creation ----------------------------------------------------------------------------------------
def test_legacy_tensor_constructor():
    assert pc.Tensor([1, 2, 3]).dtype == pc.float32 and pc.Tensor([1, 2, 3]).tolist() == [1.0, 2.0, 3.0]
    assert pc.Tensor([[True]]).dtype == pc.float32 and pc.Tensor(2.5).item() == 2.5
    zeros = pc.Tensor(2, 3)
    assert zeros.shape == (2, 3) and zeros.dtype == pc.float32 and not zeros.numpy().any()
    assert pc.Tensor(pc.Size([4])).shape == (4,) and pc.Tensor().shape == (0,)
    labels = np.array([1, 2])
    assert pc.Tensor(labels).dtype == pc.int64 and pc.Tensor(labels).data is labels  # arrays are wrapped
    with pytest.raises(TypeError):
        pc.Tensor(2, "a")


def test_creation_functions():
    same(pc.linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1], dtype=pc.float32)
    same(pc.logspace(0, 2, 3), [1, 10, 100], dtype=pc.float32)
    same(pc.logspace(0, 3, 4, base=2), [1, 2, 4, 8])
    assert pc.zeros(2, 3).shape == pc.zeros((2, 3)).shape == pc.zeros([2, 3]).shape
    assert pc.zeros(size=(2, 3)).shape == (2, 3)
    assert pc.ones(2, dtype=pc.long).dtype == pc.int64 and pc.zeros(2, dtype=None).dtype == pc.float32
    assert pc.empty(3, 2).shape == (3, 2) and pc.empty_like(pc.zeros(2, dtype=pc.int32)).dtype == pc.int32
    assert pc.full((2,), 7).dtype == pc.int64 and pc.full((2,), 7.0).dtype == pc.float32
    assert pc.full_like(pc.zeros(2), 3).tolist() == [3.0, 3.0]
    assert pc.zeros_like(pc.zeros(2), dtype=pc.float64).dtype == pc.float64
    assert pc.arange(5).dtype == pc.int64 and pc.arange(0, 1, 0.5).dtype == pc.float32
    pc.manual_seed(0)
    r = pc.randint(3, 7, (1000,))
    assert r.dtype == pc.int64 and r.min().item() == 3 and r.max().item() == 6
    assert pc.randint(5, (2, 2)).shape == (2, 2) and pc.randint(0, 2, size=(3,)).shape == (3,)
    assert sorted(pc.randperm(6).tolist()) == list(range(6)) and pc.randperm(3).dtype == pc.int64
    assert pc.rand_like(pc.zeros(2, dtype=pc.float64)).dtype == pc.float64
    assert pc.randn_like(pc.zeros(2, 3)).shape == (2, 3) and pc.normal(0.0, 1.0, (4,)).shape == (4,)


def test_from_numpy_shares_and_as_tensor_does_not_copy():
    a = np.zeros(3)
    t = pc.from_numpy(a)
    assert t.data is a and t.dtype == pc.float64
    t.add_(1)
    a[0] = 5
    assert t.tolist() == [5.0, 1.0, 1.0]
    assert pc.as_tensor(a).data is a and pc.as_tensor(a, dtype=pc.float32).data is not a
    assert pc.as_tensor(t) is t and pc.as_tensor([1, 2]).dtype == pc.int64
    with pytest.raises(TypeError):
        pc.from_numpy([1, 2])


def test_new_methods_follow_the_tensor():
    x = pc.zeros(2, dtype=pc.float64)
    assert x.new_zeros(3).dtype == pc.float64 and x.new_ones((2, 2)).shape == (2, 2)
    assert x.new_full((2,), 4).tolist() == [4.0, 4.0] and x.new_tensor([1, 2]).dtype == pc.float64
    assert x.new_empty(1).shape == (1,)
