"""The CUDA wrapper refuses what would make a kernel touch memory it must not.

* An array held by another GPU than the current one: the kernels run on the current device,
  with a pointer into the other GPU's memory. Checked here with a stand-in for CuPy (numpy
  arrays that say which GPU holds them, a settable current device, a kernel launcher that fails
  the test if reached), and on a machine with two GPUs.
* The argmax `idx` given to max/min_pool2d_backward: its dtype and shape against dy and x_shape
  before launching, and values outside [0, H*W), which the backward kernels skip and count
  (run here on the CPU through tests/cuda_emu, and on a GPU).
"""
import importlib.util
import os
import types

import numpy as np
import pytest

import pyconv.kernels
from pyconv.backends import cuda_cupy as cu
from pyconv.backends import numpy_ref as ref

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("pyconv_cuda_emu", os.path.join(HERE, "cuda_emu", "__init__.py"))
emu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(emu)

_ok, _reason = cu.available()
needs_gpu = pytest.mark.skipif(not _ok, reason=f"cuda backend unavailable: {_reason}")
needs_emulation = pytest.mark.skipif(emu.compiler() is None, reason="no C++ compiler for the CUDA emulation")

CONV = ((1, 1), (0, 0, 0, 0), (1, 1))
POOL = ((2, 2), (2, 2), (0, 0))
X, W = (1, 2, 5, 5), (3, 2, 3, 3)


# -- a stand-in for CuPy with several GPUs ----------------------------------------------------

class _Device:
    def __init__(self, id):
        self.id = id


class _GpuArray(np.ndarray):
    """A numpy array that, like a cupy.ndarray, knows the GPU that holds it."""
    device = _Device(0)


def _on_gpu(a, gpu):
    a = np.ascontiguousarray(a).view(_GpuArray)
    a.device = _Device(gpu)
    return a


class _FakeCupy:
    """numpy, with cupy's ndarray type and a current device, as cuda_cupy sees CuPy."""
    __name__ = "cupy"
    ndarray = _GpuArray

    def __init__(self, current):
        runtime = types.SimpleNamespace(getDevice=lambda: current)
        self.cuda = types.SimpleNamespace(runtime=runtime, Device=lambda: _Device(current))

    def __getattr__(self, name):
        return getattr(np, name)


class _Launched(Exception):
    """Raised by the stand-in launcher: the call got through every check to a kernel."""


def _no_launch(file, name, dtype):
    raise AssertionError(f"{name} was launched")


def _reach_launch(file, name, dtype):
    raise _Launched(name)


@pytest.fixture
def gpus(monkeypatch):
    """cuda_cupy on the CuPy stand-in with GPU 0 current; no kernel may launch."""
    monkeypatch.setattr(cu, "xp", _FakeCupy(current=0))
    monkeypatch.setattr(cu, "_function", _no_launch)
    return monkeypatch


def _f32(*shape):
    return np.ones(shape, np.float32)


# (primitive, its array arguments, a call taking them by name)
CALLS = [
    ("conv2d_forward", dict(x=_f32(*X), w=_f32(*W), b=_f32(3)),
     lambda x, w, b: cu.conv2d_forward(x, w, b, *CONV)),
    ("conv2d_backward_input", dict(dy=_f32(1, 3, 3, 3), w=_f32(*W)),
     lambda dy, w: cu.conv2d_backward_input(dy, w, X, *CONV)),
    ("conv2d_backward_weight", dict(dy=_f32(1, 3, 3, 3), x=_f32(*X)),
     lambda dy, x: cu.conv2d_backward_weight(dy, x, W, *CONV)),
    ("conv2d_backward_bias", dict(dy=_f32(1, 3, 3, 3)), lambda dy: cu.conv2d_backward_bias(dy)),
    ("max_pool2d_forward", dict(x=_f32(*X)), lambda x: cu.max_pool2d_forward(x, *POOL)),
    ("min_pool2d_forward", dict(x=_f32(*X)), lambda x: cu.min_pool2d_forward(x, *POOL)),
    ("avg_pool2d_forward", dict(x=_f32(*X)), lambda x: cu.avg_pool2d_forward(x, *POOL)),
    ("max_pool2d_backward", dict(dy=_f32(1, 2, 2, 2), idx=np.zeros((1, 2, 2, 2), np.int64)),
     lambda dy, idx: cu.max_pool2d_backward(dy, idx, X)),
    ("min_pool2d_backward", dict(dy=_f32(1, 2, 2, 2), idx=np.zeros((1, 2, 2, 2), np.int64)),
     lambda dy, idx: cu.min_pool2d_backward(dy, idx, X)),
    ("avg_pool2d_backward", dict(dy=_f32(1, 2, 2, 2)), lambda dy: cu.avg_pool2d_backward(dy, X, *POOL)),
    ("matmul", dict(a=_f32(2, 3, 4), b=_f32(2, 4, 5)), lambda a, b: cu.matmul(a, b)),
    ("matmul_backward_a", dict(dc=_f32(2, 3, 5), b=_f32(2, 4, 5)), lambda dc, b: cu.matmul_backward_a(dc, b)),
    ("matmul_backward_b", dict(a=_f32(2, 3, 4), dc=_f32(2, 3, 5)), lambda a, dc: cu.matmul_backward_b(a, dc)),
]
EACH_ARGUMENT = [pytest.param(call, name, id=f"{call[0]}-{name}") for call in CALLS for name in call[1]]


def test_check_device_names_the_array_both_gpus_and_the_way_out(gpus):
    with pytest.raises(ValueError) as caught:
        cu._check_device("w", _on_gpu(_f32(2), 1))
    message = str(caught.value)
    assert "w is on GPU 1 but the current device is GPU 0" in message
    assert "with cupy.cuda.Device(1):" in message and "cupy.copy(w)" in message
    cu._check_device("w", _on_gpu(_f32(2), 0))
    cu._check_device("w", _f32(2))   # a plain numpy array (the CPU emulation) holds no GPU


@pytest.mark.parametrize("call,moved", EACH_ARGUMENT)
def test_every_primitive_refuses_an_array_on_another_gpu_before_launching(gpus, call, moved):
    _, arrays, run = call
    args = {name: _on_gpu(a, 1 if name == moved else 0) for name, a in arrays.items()}
    with pytest.raises(ValueError, match=f"^{moved} is on GPU 1 but the current device is GPU 0"):
        run(**args)


@pytest.mark.parametrize("call", CALLS, ids=[c[0] for c in CALLS])
def test_arrays_on_the_current_gpu_reach_the_kernel(gpus, call):
    """The check compares with the current device (here GPU 1), not with GPU 0."""
    gpus.setattr(cu, "xp", _FakeCupy(current=1))
    gpus.setattr(cu, "_function", _reach_launch)
    _, arrays, run = call
    with pytest.raises(_Launched):
        run(**{name: _on_gpu(a, 1) for name, a in arrays.items()})


# -- kernel lookup: once per (file, name, dtype) -----------------------------------------------

class _CountingModule:
    """A stand-in for cupy.RawModule: counts modules built and get_function calls; its kernels
    record their launches and do nothing."""
    built, lookups, launches = [], [], []

    def __init__(self, code, options):
        assert "extern \"C\" __global__" in code
        self.options = options
        _CountingModule.built.append(options)

    def get_function(self, name):
        _CountingModule.lookups.append((name, self.options))
        return lambda grid, block, args: _CountingModule.launches.append(name)


_REAL_FUNCTION = cu._function


@pytest.fixture
def counting(gpus):
    """cuda_cupy's own _function, on the CuPy stand-in with _CountingModule as RawModule."""
    gpus.setattr(_FakeCupy, "RawModule", _CountingModule, raising=False)
    gpus.setattr(cu, "_function", _REAL_FUNCTION)
    gpus.setattr(cu, "_modules", {})
    gpus.setattr(cu, "_kernels", {})
    for log in (_CountingModule.built, _CountingModule.lookups, _CountingModule.launches):
        log.clear()
    return _CountingModule


def test_kernels_are_looked_up_once_per_file_name_and_dtype(counting):
    x, w = _on_gpu(_f32(*X), 0), _on_gpu(_f32(*W), 0)
    a, b = _on_gpu(_f32(2, 3, 4), 0), _on_gpu(_f32(2, 4, 5), 0)
    for _ in range(3):
        cu.conv2d_forward(x, w, None, *CONV)
        cu.matmul(a, b)
        cu.matmul(_on_gpu(np.ones((2, 3, 4)), 0), _on_gpu(np.ones((2, 4, 5)), 0))
    assert len(counting.launches) == 9
    assert len(counting.lookups) == len(set(counting.lookups)) == 3   # none looked up twice:
    # a 3-row matmul runs on the 64-row tile (rule 4 of variant), in 2 dtypes
    assert {name for name, _ in counting.lookups} == {"conv2d_forward_1", "matmul_5"}
    assert len(counting.built) == 3        # conv2d.cu f32, matmul.cu f32, matmul.cu f64
    assert sum("-DPYCONV_DOUBLE" in o for o in counting.built) == 1


# -- GPU generations: the oldest supported, and TF32 ------------------------------------------

def _gpu_of_capability(monkeypatch, cc):
    fake = _FakeCupy(current=0)
    fake.cuda.Device = lambda: types.SimpleNamespace(id=0, compute_capability=cc)
    fake.cuda.runtime.getDeviceCount = lambda: 1
    monkeypatch.setattr(cu, "xp", fake)


def test_gpus_older_than_turing_are_refused_with_the_reason(gpus):
    _gpu_of_capability(gpus, "70")
    assert cu.compute_capability() == (7, 0)
    ok, reason = cu.available()
    assert not ok and "compute capability 7.0" in reason and "7.5 (Turing" in reason
    for cc in ("75", "80", "90", "100", "120"):
        _gpu_of_capability(gpus, cc)
        assert cu.available() == (True, ""), cc


def test_tf32_is_unavailable_below_ampere(gpus):
    _gpu_of_capability(gpus, "75")
    ok, reason = cu.tf32_available()
    assert not ok and "8.0 (Ampere)" in reason and "7.5" in reason
    try:
        cu.set_tf32(True)
        for primitive in cu.GEMM_PRIMITIVES:            # set_tf32 has no effect on Turing
            assert cu.variant(primitive) == cu.DEFAULTS[primitive] == cu.default_step(primitive)
    finally:
        cu.set_tf32(False)
    for primitive, v in cu.TF32_VARIANT.items():
        with pytest.raises(ValueError, match=rf"cuda {primitive} step {v} \(TF32 tensor cores\) "
                                             r"cannot run here: TF32 .* 8\.0"):
            with pyconv.kernels.use(primitive, v, backend="cuda"):
                pass
    with pyconv.kernels.use("matmul", 3, backend="cuda"):    # cp.async variants stay choosable
        assert cu.variant("matmul") == 3
    _gpu_of_capability(gpus, "80")
    assert cu.tf32_available() == (True, "")
    with pyconv.kernels.use("matmul", 4, backend="cuda"):
        assert cu.variant("matmul") == 4


def test_without_a_gpu_the_capability_is_unknown_and_tf32_stays_choosable(monkeypatch):
    monkeypatch.setattr(cu, "xp", np)                   # the CPU emulation's view
    assert cu.compute_capability() is None
    assert cu.tf32_available() == (True, "")


# -- pooling backward: idx against dy and x_shape ---------------------------------------------

@pytest.mark.parametrize("kind", ["max", "min"])
def test_pool_backward_refuses_a_wrong_idx_before_launching(gpus, kind):
    backward = getattr(cu, f"{kind}_pool2d_backward")
    dy = _on_gpu(_f32(1, 2, 2, 2), 0)

    def idx(shape, dtype=np.int64):
        return _on_gpu(np.zeros(shape, dtype), 0)

    with pytest.raises(TypeError, match="idx must be int64"):
        backward(dy, idx((1, 2, 2, 2), np.int32), X)
    with pytest.raises(ValueError, match="idx must have 4 dimensions"):
        backward(dy, idx((2, 2, 2)), X)
    with pytest.raises(ValueError, match=r"idx \(1, 2, 2, 3\) must be"):
        backward(dy, idx((1, 2, 2, 3)), X)
    with pytest.raises(ValueError, match=r"N,C of x \(1, 3, 5, 5\)"):
        backward(dy, idx((1, 2, 2, 2)), (1, 3, 5, 5))
    with pytest.raises(ValueError, match="x_shape must be four ints"):
        backward(dy, idx((1, 2, 2, 2)), (1, 2, 25))


def test_pool_backward_refuses_an_x_too_large_for_32_bit_indexing(gpus):
    """dx is x-shaped and the kernels index it with ints: past INT_MAX elements they would
    wrap around into memory before dx. Here every kernel argument (N*C, H*W, P*Q) still fits
    an int; only plane * H*W + index does not."""
    x_shape = (4, 1, 2 ** 15, 2 ** 14)
    dy, idx = _on_gpu(_f32(4, 1, 1, 1), 0), _on_gpu(np.zeros((4, 1, 1, 1), np.int64), 0)
    with pytest.raises(ValueError, match=r"x \(4, 1, 32768, 16384\) has 2147483648 elements; .* 32-bit"):
        cu.max_pool2d_backward(dy, idx, x_shape)
    with pytest.raises(ValueError, match="32-bit"):
        cu.avg_pool2d_backward(dy, x_shape, x_shape[2:], (1, 1), (0, 0))


@pytest.fixture
def emulated(monkeypatch):
    """cuda_cupy on numpy arrays, its kernels run on CPU threads (tests/cuda_emu)."""
    monkeypatch.setattr(cu, "xp", np)
    monkeypatch.setattr(cu, "_function", emu.function)
    return cu


def _argmax_of_larger_x(kind):
    """dy and the argmax of pooling an 8x8 x 2x2/2: a 4x4 output, the shape of a 4x4 x's
    pooling output with 1x1 windows, but with indices up to 63 where such an x has 16 pixels."""
    x = np.random.default_rng(0).standard_normal((1, 2, 8, 8))
    _, idx = getattr(ref, f"{kind}_pool2d_forward")(x, (2, 2), (2, 2), (0, 0))
    return np.ones(idx.shape, np.float64), idx


@needs_emulation
@pytest.mark.parametrize("v", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "min"])
def test_pool_backward_refuses_indices_outside_the_plane(emulated, kind, v):
    dy, idx = _argmax_of_larger_x(kind)
    idx[0, 1, 0, 0] = -1
    outside = int(((idx < 0) | (idx >= 16)).sum())
    assert 1 < outside < idx.size
    with pyconv.kernels.use(f"{kind}_pool2d_backward", v, backend="cuda"):
        with pytest.raises(ValueError, match=rf"idx holds {outside} indices outside \[0, H\*W\) = \[0, 16\)"):
            getattr(cu, f"{kind}_pool2d_backward")(dy, idx, (1, 2, 4, 4))


@needs_emulation
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("v", [1, 2])
def test_pool_backward_kernels_write_only_inside_their_plane(v, dtype):
    """The kernels themselves: dx sits between two guard bands; indices just outside each plane
    (-1, H*W) and far outside are counted in *bad and written nowhere, the others land."""
    NC, HW, PQ, pad = 3, 6, 4, 8
    idx = np.array([[0, -1, 5, 6], [2, 2, 1 << 40, -(1 << 33)], [HW - 1, 0, HW, 3]], np.int64)
    dy = np.arange(1, NC * PQ + 1, dtype=dtype).reshape(NC, PQ)
    memory = np.full(NC * HW + 2 * pad, -7, dtype)
    dx = memory[pad:-pad]
    dx[...] = 0
    bad = np.zeros(1, np.int32)
    launch = emu.function("pool2d.cu", f"pool2d_backward_argmax_{v}", dtype)
    grid, block = ((cu.blocks(NC * PQ),), (cu.THREADS,)) if v == 1 else ((1,), (128,))
    launch(grid, block, (dx, dy.ravel(), idx.ravel(), bad, np.int32(NC), np.int32(HW), np.int32(PQ)))
    want = np.zeros((NC, HW), dtype)
    inside = (idx >= 0) & (idx < HW)
    for plane, j in zip(*np.nonzero(inside)):
        want[plane, idx[plane, j]] += dy[plane, j]
    np.testing.assert_array_equal(dx.reshape(NC, HW), want)
    assert (memory[:pad] == -7).all() and (memory[-pad:] == -7).all()
    assert bad[0] == (~inside).sum() == 5


@needs_emulation
def test_pool_backward_right_idx_still_matches_the_reference(emulated):
    x = np.random.default_rng(1).standard_normal((2, 3, 7, 8))
    for v in (1, 2, 3):
        with pyconv.kernels.use("max_pool2d_backward", v, backend="cuda"):
            _, idx = cu.max_pool2d_forward(x, (3, 3), (2, 2), (1, 1))
            dy = np.random.default_rng(2).standard_normal(idx.shape)
            np.testing.assert_allclose(cu.max_pool2d_backward(dy, idx, x.shape),
                                       ref.max_pool2d_backward(dy, idx, x.shape), rtol=1e-12)


# -- on GPUs ----------------------------------------------------------------------------------

@pytest.mark.cuda
@needs_gpu
@pytest.mark.parametrize("v", [1, 2, 3])
def test_gpu_pool_backward_refuses_a_wrong_idx_and_stays_usable(v):
    cp = cu.xp
    dy, idx = _argmax_of_larger_x("max")
    with pyconv.kernels.use("max_pool2d_backward", v, backend="cuda"):
        with pytest.raises(ValueError, match="indices outside"):
            cu.max_pool2d_backward(cp.asarray(dy), cp.asarray(idx), (1, 2, 4, 4))
        with pytest.raises(ValueError, match="must be"):
            cu.max_pool2d_backward(cp.asarray(dy), cp.asarray(idx[:, :, :3]), (1, 2, 8, 8))
        with pytest.raises(TypeError, match="int64"):
            cu.max_pool2d_backward(cp.asarray(dy), cp.asarray(idx.astype(np.int32)), (1, 2, 8, 8))
        dx = cu.max_pool2d_backward(cp.asarray(dy), cp.asarray(idx), (1, 2, 8, 8))
    cp.cuda.runtime.deviceSynchronize()   # an out-of-bounds write would surface here
    np.testing.assert_array_equal(cp.asnumpy(dx), ref.max_pool2d_backward(dy, idx, (1, 2, 8, 8)))


@pytest.mark.cuda
@needs_gpu
def test_gpu_array_on_a_second_gpu_is_refused_and_works_under_its_device():
    cp = cu.xp
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    x0 = np.random.default_rng(3).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with cp.cuda.Device(1):
        x1, w1 = cp.asarray(x0), cp.ones((4, 3, 3, 3), cp.float32)
    with cp.cuda.Device(0):
        with pytest.raises(ValueError, match="^x is on GPU 1 but the current device is GPU 0"):
            cu.max_pool2d_forward(x1, *POOL)
        with pytest.raises(ValueError, match="^w is on GPU 1 but the current device is GPU 0"):
            cu.conv2d_forward(cp.asarray(x0), w1, None, *CONV)
        y0, _ = cu.max_pool2d_forward(cp.copy(x1), *POOL)   # the way out the error names
        cp.cuda.runtime.deviceSynchronize()
    with cp.cuda.Device(1):
        y1, _ = cu.max_pool2d_forward(x1, *POOL)
        assert y1.device.id == 1
        np.testing.assert_array_equal(cp.asnumpy(y1), cp.asnumpy(y0))
