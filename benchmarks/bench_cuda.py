"""pytest-benchmark suite of the cuda backend on the shapes of benchmarks/cuda_torch.py.

    python -m pytest benchmarks/bench_cuda.py --benchmark-group-by=param:case
    python -m pytest benchmarks/bench_cuda.py -k "naive" --benchmark-compare   # after --benchmark-save

Each GEMM-based primitive runs on one rung of its kernel ladder: "naive" (variant 1) or one of the
GEMM cores of csrc/cuda/common.cuh ("shared", "async", "async64": cp.async on 64-row tiles),
chosen through pyconv.kernels.
Every case is checked against another rung (or numpy_ref for small ones) before it is timed;
each timed call ends with a device synchronize, so the time is the kernels' and not the launch's.
(`python benchmarks/cuda_torch.py` gives CUDA-event medians against cuDNN/cuBLAS.) Skipped
without CuPy or a GPU.
"""
import contextlib
import importlib.util
import os

import numpy as np
import pytest

import pyconv.kernels
from pyconv.backends import cuda_cupy as cu

_spec = importlib.util.spec_from_file_location(
    "pyconv_cuda_torch", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda_torch.py"))
cuda_torch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cuda_torch)

_ok, _reason = cu.available()
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not _ok, reason=f"cuda backend unavailable: {_reason}")]


@contextlib.contextmanager
def _on(core, primitives):
    """Run each of `primitives` on `core` ("naive" or one of cu.GEMM_CORES) inside the block."""
    with contextlib.ExitStack() as stack:
        for p in primitives:
            v = 1 if core == "naive" else cu.GEMM_VARIANTS[p][core]
            stack.enter_context(pyconv.kernels.use(p, v, backend="cuda"))
        yield


def _synced(fn):
    def run():
        out = fn()
        cu.xp.cuda.get_current_stream().synchronize()
        return out
    return run


CONV = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")


@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("phase", ["fwd", "bwd"])
@pytest.mark.parametrize("case", cuda_torch.CONV_CASES, ids=cuda_torch.conv_label)
def test_conv2d(benchmark, case, phase, core):
    if core == "naive" and cuda_torch.conv_flops(case) > 2e10:
        pytest.skip("the naive kernels take seconds on this shape")
    cp = cu.xp
    x, w, b, args = cuda_torch.conv_inputs(cp, case, np.float32)
    y = cu.conv2d_forward(x, w, b, *args)
    dy = cp.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
    with _on(core, CONV):
        fwd, bwd = cuda_torch.ours_conv(cu, x, w, b, dy, args)
        other = "naive" if core == "shared" else "shared"
        if cuda_torch.conv_flops(case) <= 2e10:     # validate against another rung
            with _on(other, CONV):
                ref_fwd, ref_bwd = cuda_torch.ours_conv(cu, x, w, b, dy, args)
                expected = ref_fwd() if phase == "fwd" else ref_bwd()
            got = fwd() if phase == "fwd" else bwd()
            for g, e in zip(got if phase == "bwd" else [got], expected if phase == "bwd" else [expected]):
                assert cuda_torch.rel_err(cp, g, e) <= 1e-4
        flops = cuda_torch.conv_flops(case) * (1 if phase == "fwd" else 2)
        benchmark.extra_info["gflop"] = flops / 1e9
        benchmark(_synced(fwd if phase == "fwd" else bwd))


@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("primitive", ["matmul", "matmul_backward_a", "matmul_backward_b"])
def test_matmul(benchmark, primitive, core):
    cp = cu.xp
    n = 1024 if core == "naive" else 4096
    rng = cp.random.default_rng(2)
    a, b = (rng.standard_normal((1, n, n), dtype=np.float32) for _ in range(2))
    fn = getattr(cu, primitive)
    with _on(core, [primitive]):
        got = fn(a, b)
    with _on("naive" if core == "shared" else "shared", [primitive]):
        assert cuda_torch.rel_err(cp, got, fn(a, b)) <= 1e-4
    benchmark.extra_info["gflop"] = 2 * n ** 3 / 1e9
    with _on(core, [primitive]):
        benchmark(_synced(lambda: fn(a, b)))
