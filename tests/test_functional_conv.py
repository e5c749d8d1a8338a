"""conv2d and linear: gradients, forward values against a direct loop, "same" padding."""
import numpy as np
import pytest

import pyconv.nn.functional as F
from pyconv import backends
from pyconv.backends import geometry
from pyconv.gradcheck import gradcheck
from pyconv.tensor import tensor

CPU_BACKENDS = [name for name, status in backends.available_backends().items()
                if status == "enabled" and backends.module(name).DEVICE == "cpu"]


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    with backends.backend(request.param):
        yield request.param


def rand(*shape, seed=0, requires_grad=True, dtype=np.float64):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return tensor(data, requires_grad=requires_grad)


def conv_loop(x, w, b, stride, padding, dilation):
    """y[n,k,p,q] = b[k] + sum_{c,r,s} x[n,c,p*sh-pt+r*dh, q*sw-pl+s*dw] w[k,c,r,s], by loops."""
    (sh, sw), (pt, _, pl, _), (dh, dw) = stride, padding, dilation
    N, C, H, W = x.shape
    K, _, R, S = w.shape
    P, Q = geometry.conv_output_size(H, W, R, S, stride, padding, dilation)
    y = np.zeros((N, K, P, Q))
    for p in range(P):
        for q in range(Q):
            for r in range(R):
                for s in range(S):
                    h, v = p * sh - pt + r * dh, q * sw - pl + s * dw
                    if 0 <= h < H and 0 <= v < W:
                        y[:, :, p, q] += x[:, :, h, v] @ w[:, :, r, s].T
    return y + (0 if b is None else b.reshape(1, K, 1, 1))


# (x shape, w shape, stride, padding, dilation, resolved (top, bottom, left, right))
CASES = [
    ((2, 3, 5, 6), (4, 3, 3, 3), 1, 1, 1, (1, 1, 1, 1)),
    ((2, 2, 7, 6), (3, 2, 3, 3), 2, "same", 1, (1, 1, 0, 1)),       # asymmetric "same"
    ((1, 2, 6, 5), (2, 2, 2, 3), (2, 1), "same", 1, (0, 0, 1, 1)),   # even kernel, non-square
    ((2, 2, 7, 7), (2, 2, 3, 2), 1, (2, 1), (2, 3), (2, 2, 1, 1)),   # dilation
    ((1, 1, 6, 6), (1, 1, 2, 2), 3, 0, 1, (0, 0, 0, 0)),             # batch 1, one channel
    ((1, 2, 5, 4), (3, 2, 3, 1), (1, 2), (0, 1, 2, 0), 1, (0, 1, 2, 0)),  # explicit 4-tuple
    ((2, 1, 6, 6), (2, 1, 3, 3), 2, "valid", 2, (0, 0, 0, 0)),
]


def as_pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


@pytest.mark.parametrize("xs,ws,stride,padding,dilation,pads", CASES)
def test_conv2d_forward_matches_loops(backend, xs, ws, stride, padding, dilation, pads):
    x, w, b = rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2)
    y = F.conv2d(x, w, b, stride=stride, padding=padding, dilation=dilation)
    expected = conv_loop(x.data, w.data, b.data, as_pair(stride), pads, as_pair(dilation))
    np.testing.assert_allclose(y.data, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("xs,ws,stride,padding,dilation,pads", CASES)
def test_conv2d_gradcheck(backend, xs, ws, stride, padding, dilation, pads):
    x, w, b = rand(*xs), rand(*ws, seed=1), rand(ws[0], seed=2)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=stride, padding=padding,
                                              dilation=dilation), x, w, b)


def test_conv2d_gradcheck_without_bias(backend):
    x, w = rand(2, 3, 5, 5), rand(2, 3, 3, 3, seed=1)
    assert gradcheck(lambda x, w: F.conv2d(x, w, stride=2, padding="same"), x, w)


def test_conv2d_computes_only_needed_gradients(backend, monkeypatch):
    be = backends.module(backend)
    x, w, b = rand(1, 2, 4, 4, requires_grad=False), rand(3, 2, 3, 3, seed=1), rand(3, seed=2, requires_grad=False)

    def forbidden(*args):
        raise AssertionError("computed a gradient nobody needs")
    monkeypatch.setattr(be, "conv2d_backward_input", forbidden)
    monkeypatch.setattr(be, "conv2d_backward_bias", forbidden)
    F.conv2d(x, w, b, padding=1).backward(np.ones((1, 3, 4, 4)))
    assert w.grad.shape == w.shape and x.grad is None and b.grad is None


def test_conv2d_backend_is_fixed_at_forward(backend):
    y = F.conv2d(rand(1, 1, 3, 3), rand(1, 1, 2, 2, seed=1))
    assert y._ctx.backend.NAME == backend


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv2d_keeps_dtype_and_accepts_non_contiguous(backend, dtype):
    x = rand(2, 3, 6, 5, dtype=dtype)
    xt = tensor(np.ascontiguousarray(x.data.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2))  # same values, F order
    w = rand(2, 3, 3, 3, seed=1, dtype=dtype)
    y = F.conv2d(xt, w, padding="same")
    assert y.dtype == dtype and y.shape == (2, 2, 6, 5)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, F.conv2d(x, w, padding=1).data, rtol=tol, atol=tol)


@pytest.mark.parametrize("size", [5, 6, 7, 8])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel", [2, 3, 4])
def test_same_padding_output_shape(backend, size, stride, kernel):
    x, w = rand(1, 1, size, size + 1), rand(1, 1, kernel, kernel, seed=1)
    y = F.conv2d(x, w, stride=stride, padding="same")
    assert y.shape == (1, 1, -(-size // stride), -(-(size + 1) // stride))


def test_same_padding_puts_the_extra_pixel_bottom_right(backend):
    # H = 6, stride 2, R = 3: out 3, total padding (3-1)*2 + 3 - 6 = 1 -> (top 0, bottom 1)
    x, w = rand(1, 2, 6, 6), rand(1, 2, 3, 3, seed=1)
    same = F.conv2d(x, w, stride=2, padding="same").data
    explicit = F.conv2d(x, w, stride=2, padding=(0, 1, 0, 1)).data
    np.testing.assert_array_equal(same, explicit)
    # stride 1, even kernel 4: total 3 -> (1, 2), as PyTorch's padding="same"
    w4 = rand(1, 2, 4, 4, seed=2)
    np.testing.assert_array_equal(F.conv2d(x, w4, padding="same").data,
                                  F.conv2d(x, w4, padding=(1, 2, 1, 2)).data)


def test_linear_forward_and_gradcheck(backend):
    x, w, b = rand(4, 3), rand(5, 3, seed=1), rand(5, seed=2)
    np.testing.assert_allclose(F.linear(x, w, b).data, x.data @ w.data.T + b.data, rtol=1e-12)
    assert gradcheck(F.linear, x, w, b)
    assert gradcheck(F.linear, rand(2, 3, 3, seed=3), w)          # extra leading axes, no bias
    assert gradcheck(F.linear, rand(3, seed=4), w, b)             # one sample


def test_linear_float32(backend):
    x, w = rand(4, 3, dtype=np.float32), rand(2, 3, seed=1, dtype=np.float32)
    y = F.linear(x, w)
    assert y.dtype == np.float32 and y.shape == (4, 2)


# -- the same ops on CUDA tensors agree with the CPU (skipped where the cuda backend is disabled)

CUDA_ENABLED = backends.available_backends().get("cuda") == "enabled"


def _labels(dev):
    return tensor(np.array([0, 2, 1, 2]), device=dev)


# name, fn(device, *inputs), input shapes
DEVICE_CASES = [
    ("conv2d", lambda d, x, w, b: F.conv2d(x, w, b, stride=2, padding="same", dilation=1),
     [(2, 3, 7, 6), (4, 3, 3, 3), (4,)]),
    ("conv2d_dilated", lambda d, x, w: F.conv2d(x, w, padding=(1, 2), dilation=2), [(1, 2, 6, 6), (3, 2, 2, 3)]),
    ("linear", lambda d, x, w, b: F.linear(x, w, b), [(4, 3), (5, 3), (5,)]),
    ("max_pool2d", lambda d, x: F.max_pool2d(x, 3, stride=2, padding=1), [(2, 3, 7, 7)]),
    ("min_pool2d", lambda d, x: F.min_pool2d(x, 2), [(2, 3, 6, 6)]),
    ("avg_pool2d", lambda d, x: F.avg_pool2d(x, 3, stride=2, padding=1), [(2, 3, 7, 7)]),
    ("relu", lambda d, x: F.relu(x), [(3, 4)]),
    ("elu", lambda d, x: F.elu(x), [(3, 4)]),
    ("sigmoid", lambda d, x: F.sigmoid(x), [(3, 4)]),
    ("log_softmax", lambda d, x: F.log_softmax(x, dim=1), [(3, 4)]),
    ("maxout", lambda d, x: F.maxout(x, 2), [(3, 4)]),
    ("batch_norm", lambda d, x, g, b: F.batch_norm(x, None, None, g, b, training=True), [(4, 3, 2, 2), (3,), (3,)]),
    ("cross_entropy", lambda d, x: F.cross_entropy(x, _labels(d)), [(4, 3)]),
    ("hinge_loss", lambda d, x: F.hinge_loss(x, _labels(d)), [(4, 3)]),
    ("bce_with_logits", lambda d, x, t: F.binary_cross_entropy_with_logits(x, t), [(4, 3), (4, 3)]),
]


@pytest.mark.skipif(not CUDA_ENABLED, reason="the cuda backend is not enabled here")
@pytest.mark.parametrize("name,fn,shapes", DEVICE_CASES, ids=[c[0] for c in DEVICE_CASES])
def test_cuda_matches_cpu(name, fn, shapes):
    cpu = [rand(*s, seed=i) for i, s in enumerate(shapes)]
    gpu = [tensor(t.data, requires_grad=True, device="cuda") for t in cpu]
    y_cpu, y_gpu = fn("cpu", *cpu), fn("cuda", *gpu)
    assert y_gpu.device == "cuda"
    np.testing.assert_allclose(y_gpu.numpy(), y_cpu.data, rtol=1e-9, atol=1e-9)
    dy = np.random.default_rng(9).standard_normal(y_cpu.shape)
    y_cpu.backward(dy)
    y_gpu.backward(tensor(dy, device="cuda"))
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.data, rtol=1e-9, atol=1e-9)
