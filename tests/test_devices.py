"""Devices: moves between CPU and GPU, dtype moves, errors; CUDA tests skip without a GPU."""
import numpy as np
import pytest

from pyconv import backends, ops
from pyconv import device as pdevice
from pyconv.gradcheck import gradcheck
from pyconv.tensor import Tensor, tensor


def _cuda_or_skip():
    pytest.importorskip("cupy")
    if not pdevice.cuda_available():
        pytest.skip("CuPy imports but sees no GPU")


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.cuda)]


@pytest.fixture(params=DEVICES)
def dev(request):
    if request.param == "cuda":
        _cuda_or_skip()
    return request.param


class _OnOtherDevice(Tensor):
    """A CPU tensor that claims to live on the GPU: tests the device check without one."""
    device = property(lambda self: "cuda")


# -- CPU-only checks ----------------------------------------------------------------------
def test_to_same_device_and_dtype_is_a_no_op():
    x = tensor([1.0, 2.0], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(dtype=np.float32) is x


def test_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device"):
        tensor([1.0], device="tpu")


def test_mixing_devices_names_both_tensors():
    a = tensor([1.0, 2.0])
    b = _OnOtherDevice(np.ones(2, np.float32))
    with pytest.raises(RuntimeError, match=r"one device.*\(2,\) on cpu, \(2,\) on cuda"):
        ops.add(a, b)


def test_cuda_without_cupy_or_gpu_is_a_clear_error():
    if pdevice.cuda_available():
        pytest.skip("a GPU is available here")
    with pytest.raises(RuntimeError, match="device 'cuda' needs"):
        tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="device 'cuda' needs"):
        tensor([1.0]).to("cuda")


# -- both devices -------------------------------------------------------------------------
def test_dtype_move_is_differentiable(dev):
    x = tensor([1.0, 2.0], device=dev, requires_grad=True)
    y = x.to(dtype=np.float64)
    assert y.dtype == np.float64 and y.device == dev
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.device == dev
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    assert x.double().dtype == np.float64 and x.double().float().dtype == np.float32


def test_elementwise_reductions_and_shapes_on_device(dev):
    rng = np.random.default_rng(0)
    a_np, b_np = rng.standard_normal((3, 4)), rng.uniform(0.5, 2, (4,))
    a = tensor(a_np, device=dev, requires_grad=True)
    b = tensor(b_np, device=dev, requires_grad=True)
    out = ((a * b + 1).exp() / b).sum(axis=0) + a[[0, 0, 2]].amax(axis=0) + ops.pad(a, 1)[1:-1, 1:-1].var(axis=0)
    assert out.device == dev and (a * 2.0).device == dev
    expected = (np.exp(a_np * b_np + 1) / b_np).sum(0) + a_np[[0, 0, 2]].max(0) + a_np.var(0, ddof=1)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    assert gradcheck(lambda a, b: ((a * b + 1).exp() / b).sum(axis=0) + ops.where(a > 0, a, b)
                     + ops.concat([a, a]).mean(axis=0), a, b)
    assert (a > 0).device == dev


def test_matmul_on_device(dev):
    if dev == "cuda" and backends.available_backends()["cuda"] != "enabled":
        pytest.skip(f"cuda backend: {backends.available_backends()['cuda']}")
    rng = np.random.default_rng(1)
    a = tensor(rng.standard_normal((2, 3, 4)), device=dev, requires_grad=True)
    b = tensor(rng.standard_normal((4, 5)), device=dev, requires_grad=True)
    assert (a @ b).device == dev
    assert gradcheck(lambda a, b: a @ b, a, b)


# -- CUDA only ----------------------------------------------------------------------------
@pytest.mark.cuda
def test_to_cuda_and_back_moves_the_gradient_back():
    _cuda_or_skip()
    x = tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])
    z = tensor([1.0], device="cuda")
    assert z.cpu().device == "cpu" and isinstance(z.cpu().data, np.ndarray)
    assert tensor(z.data).device == "cuda"  # data on the GPU stays there


@pytest.mark.cuda
def test_cuda_device_mix_raises():
    _cuda_or_skip()
    with pytest.raises(RuntimeError, match="one device"):
        tensor([1.0], device="cuda") + tensor([1.0])
    with pytest.raises(RuntimeError):
        tensor([1.0], device="cuda") + np.ones(1, np.float32)
