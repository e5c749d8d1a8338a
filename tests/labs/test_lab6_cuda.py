"""Lab 6: CUDA conv2d (csrc/cuda/conv2d.cu): the naive forward kernel (variant 1), the body of the
shared-memory implicit GEMM (variant 2, on gemm_core_shared of common.cuh) and the naive
input-gradient gather (variant 1 of conv2d_backward_input).

No GPU needed: tests/cuda_emu compiles the .cu files with g++ for the CPU (one OS thread per
CUDA thread, __syncthreads a barrier) and the cuda backend's Python wrapper runs on numpy
arrays. Outputs are allocated filled with NaN, so an element a kernel forgets to write fails.
Expected values: numpy_ref, which this lab does not touch. On a machine with a GPU and CuPy,
the same kernels run for real through `pyconv.kernels.use(..., backend="cuda")`.
"""
import importlib.util
import os

import numpy as np
import pytest

import pyconv
from pyconv.backends import cuda_cupy as cu
from pyconv.backends import numpy_ref as ref

pytestmark = pytest.mark.lab6

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


emu = _load("pyconv_cuda_emu_lab6", os.path.join(HERE, "..", "cuda_emu", "__init__.py"))
if emu.compiler() is None:
    pytest.skip("no C++ compiler for the CUDA emulation", allow_module_level=True)

# (x shape, w shape, stride, padding (top, bottom, left, right), dilation)
CASES = [
    ((1, 1, 5, 7), (1, 1, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),       # one channel
    ((2, 3, 9, 11), (4, 3, 3, 2), (2, 3), (1, 0, 2, 1), (1, 1)),      # uneven stride and padding
    ((2, 2, 10, 9), (3, 2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),      # dilation 2
]
TILES = ((3, 2, 8, 9), (130, 2, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1))  # 2 row tiles, 2 column tiles
IDS = ["one-channel", "stride-padding", "dilation"]


class NanNumpy:
    """numpy, except that `empty` returns NaN: an output element no thread writes stays NaN."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(shape, dtype=float, **kwargs):
        return np.full(shape, np.nan, dtype=dtype)


@pytest.fixture
def emulated(monkeypatch):
    monkeypatch.setattr(cu, "xp", NanNumpy())
    monkeypatch.setattr(cu, "_function", emu.function)
    monkeypatch.setattr(cu, "_sm_count", lambda: 4)
    return cu


def data(case, dtype, seed=0):
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    return x, w, b, (stride, padding, dilation)


def close(ours, theirs, dtype):
    assert ours.shape == theirs.shape and ours.dtype == dtype
    assert not np.isnan(ours).any(), "some outputs were never written"
    scale = max(float(np.abs(theirs).max()), 1e-30)
    err = float(np.abs(ours.astype(np.float64) - theirs).max()) / scale
    assert err <= (1e-4 if dtype == np.float32 else 1e-10), f"relative error {err:.3g}"


def forward(case, variant, dtype):
    x, w, b, params = data(case, dtype)
    with pyconv.kernels.use("conv2d_forward", variant, backend="cuda"):
        y = cu.conv2d_forward(x, w, b, *params)
        y_nobias = cu.conv2d_forward(x, w, None, *params)
    assert pyconv.kernels.ran("conv2d_forward", backend="cuda") == variant
    close(y, ref.conv2d_forward(x, w, b, *params), dtype)
    close(y_nobias, ref.conv2d_forward(x, w, None, *params), dtype)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_variant1_naive(emulated, case):
    forward(case, 1, np.float32)


def test_forward_variant1_naive_float64(emulated):
    forward(CASES[1], 1, np.float64)


@pytest.mark.parametrize("case", CASES + [TILES], ids=IDS + ["two-tiles"])
def test_forward_variant2_shared_tiles(emulated, case):
    forward(case, 2, np.float32)


def test_forward_variant2_shared_tiles_float64(emulated):
    forward(CASES[2], 2, np.float64)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_backward_input_variant1_gather(emulated, case):
    x, w, _, params = data(case, np.float32)
    dy = np.random.default_rng(1).standard_normal(ref.conv2d_forward(x, w, None, *params).shape).astype(np.float32)
    with pyconv.kernels.use("conv2d_backward_input", 1, backend="cuda"):
        dx = cu.conv2d_backward_input(dy, w, x.shape, *params)
    close(dx, ref.conv2d_backward_input(dy, w, x.shape, *params), np.float32)
