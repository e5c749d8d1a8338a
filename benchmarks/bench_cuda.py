"""pytest-benchmark suite of the cuda backend on the shapes of benchmarks/cuda_torch.py.

    python -m pytest benchmarks/bench_cuda.py --benchmark-group-by=param:case
    python -m pytest benchmarks/bench_cuda.py -k "v1" --benchmark-compare   # after --benchmark-save

Every case is checked against a second variant (or numpy_ref for small ones) before it is timed;
each timed call ends with a device synchronize, so the time is the kernels' and not the launch's.
(`python benchmarks/cuda_torch.py` gives CUDA-event medians against cuDNN/cuBLAS.) Skipped
without CuPy or a GPU.
"""
import importlib.util
import os

import numpy as np
import pytest

from pyconv.backends import cuda_cupy as cu

_spec = importlib.util.spec_from_file_location(
    "pyconv_cuda_torch", os.path.join(os.path.dirname(os.path.abspath(__file__)), "cuda_torch.py"))
cuda_torch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cuda_torch)

_ok, _reason = cu.available()
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not _ok, reason=f"cuda backend unavailable: {_reason}")]


def _synced(fn):
    def run():
        out = fn()
        cu.xp.cuda.get_current_stream().synchronize()
        return out
    return run


@pytest.mark.parametrize("v", [1, 2, 3], ids=["v1", "v2", "v3"])
@pytest.mark.parametrize("phase", ["fwd", "bwd"])
@pytest.mark.parametrize("case", cuda_torch.CONV_CASES, ids=cuda_torch.conv_label)
def test_conv2d(benchmark, case, phase, v):
    if v == 1 and cuda_torch.conv_flops(case) > 2e10:
        pytest.skip("the naive kernels take seconds on this shape")
    cp = cu.xp
    x, w, b, args = cuda_torch.conv_inputs(cp, case, np.float32)
    y = cu.conv2d_forward(x, w, b, *args)
    dy = cp.random.default_rng(1).standard_normal(y.shape, dtype=np.float32)
    chosen = dict(conv2d_forward=v, conv2d_backward_input=v, conv2d_backward_weight=v)
    with cu.use_variants(**chosen):
        fwd, bwd = cuda_torch.ours_conv(cu, x, w, b, dy, args)
        other = 1 if v == 2 else 2
        if cuda_torch.conv_flops(case) <= 2e10:     # validate against the other variant
            with cu.use_variants(**{k: other for k in chosen}):
                ref_fwd, ref_bwd = cuda_torch.ours_conv(cu, x, w, b, dy, args)
                expected = ref_fwd() if phase == "fwd" else ref_bwd()
            got = fwd() if phase == "fwd" else bwd()
            for g, e in zip(got if phase == "bwd" else [got], expected if phase == "bwd" else [expected]):
                assert cuda_torch.rel_err(cp, g, e) <= 1e-4
        flops = cuda_torch.conv_flops(case) * (1 if phase == "fwd" else 2)
        benchmark.extra_info["gflop"] = flops / 1e9
        benchmark(_synced(fwd if phase == "fwd" else bwd))


@pytest.mark.parametrize("v", [1, 2, 3], ids=["v1", "v2", "v3"])
@pytest.mark.parametrize("primitive", ["matmul", "matmul_backward_a", "matmul_backward_b"])
def test_matmul(benchmark, primitive, v):
    cp = cu.xp
    n = 1024 if v == 1 else 4096
    rng = cp.random.default_rng(2)
    a, b = (rng.standard_normal((1, n, n), dtype=np.float32) for _ in range(2))
    fn = getattr(cu, primitive)
    with cu.use_variants(**{primitive: v}):
        got = fn(a, b)
    with cu.use_variants(**{primitive: 1 if v == 2 else 2}):
        assert cuda_torch.rel_err(cp, got, fn(a, b)) <= 1e-4
    benchmark.extra_info["gflop"] = 2 * n ** 3 / 1e9
    with cu.use_variants(**{primitive: v}):
        benchmark(_synced(lambda: fn(a, b)))
