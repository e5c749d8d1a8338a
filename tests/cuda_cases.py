"""Shapes and checks shared by the CUDA backend tests (on a GPU) and their CPU-emulated twin.

Each check runs one primitive family of `cuda_cupy` and of `numpy_ref` on the same random data
and compares them: max |ours - ref| / max |ref| <= TOL[dtype]. `to_dev` / `to_host` move arrays
(cupy.asarray / cupy.asnumpy on a GPU, the identity under emulation). `use_core` and
`use_step` choose the kernels a block of a test runs, through pyconv.kernels.
"""
import contextlib

import numpy as np

from pyconv import kernels
from pyconv.backends import numpy_ref as ref

CONV = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")
MATMUL = ("matmul", "matmul_backward_a", "matmul_backward_b")
ARGMAX_BACKWARD = ("max_pool2d_backward", "min_pool2d_backward")   # pool2d_backward_argmax

TOL = {np.float32: 1e-4, np.float64: 1e-10}
TF32_TOL = 5e-3   # float32 through TF32 tensor cores (10-bit mantissa operands)

# (x shape, w shape, stride, padding (top, bottom, left, right), dilation)
CONV_ODD = [
    ((1, 1, 5, 7), (1, 1, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),       # batch 1, one channel
    ((2, 3, 9, 11), (4, 3, 3, 2), (2, 3), (1, 0, 2, 1), (1, 1)),      # non-square, uneven stride
    ((2, 2, 10, 9), (3, 2, 3, 3), (1, 1), (2, 2, 2, 2), (2, 2)),      # dilation 2
    ((1, 3, 8, 8), (2, 3, 3, 3), (2, 2), (0, 1, 0, 1), (1, 1)),       # "same" with stride 2
    ((3, 2, 8, 9), (130, 2, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),     # 2 row tiles, 2 column tiles
    ((1, 131, 3, 4), (3, 131, 1, 2), (2, 1), (1, 1, 0, 1), (1, 2)),   # 131 channels: 2 tiles of dx
    ((2, 5, 7, 6), (6, 5, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),       # 5x5, C*R*S = 125 (not /8)
    ((2, 3, 11, 10), (4, 3, 3, 3), (2, 2), (2, 1, 2, 2), (2, 2)),     # stride 2 with dilation 2
    ((1, 2, 3, 3), (2, 2, 1, 1), (4, 4), (0, 0, 0, 0), (1, 1)),       # stride > input: 1x1 output
]
CONV_LARGE = [
    ((128, 64, 16, 16), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((32, 256, 8, 8), (256, 256, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((8, 256, 14, 14), (64, 256, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),
]
# (x shape, kernel, stride, padding)
POOL_ODD = [
    ((1, 1, 5, 7), (2, 2), (2, 2), (0, 0)),
    ((2, 3, 7, 8), (3, 3), (2, 2), (1, 1)),        # overlapping windows, padding
    ((2, 2, 9, 6), (3, 2), (1, 2), (1, 0)),        # non-square window, stride 1 rows
    ((1, 2, 6, 6), (4, 4), (3, 3), (2, 2)),        # padding = half the window
]
POOL_LARGE = [((128, 64, 32, 32), (2, 2), (2, 2), (0, 0)), ((64, 256, 14, 14), (3, 3), (2, 2), (1, 1))]
# (B, M, K, N)
MATMUL_ODD = [(1, 1, 1, 1), (2, 70, 33, 130), (3, 5, 129, 7), (1, 257, 9, 131)]
MATMUL_LARGE = [(1, 512, 1024, 768), (4, 256, 256, 256)]


def rel_err(ours, theirs):
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    return float(np.max(np.abs(ours - theirs), initial=0.0) / max(np.max(np.abs(theirs), initial=0.0), 1e-30))


def _close(name, ours, theirs, dtype, tol=None):
    tol = TOL[dtype] if tol is None else tol
    err = rel_err(ours, theirs)
    assert err <= tol, f"{name}: relative error {err:.3g} > {tol}"


def check_conv(cu, to_dev, to_host, case, dtype, seed=0, tol=None):
    x_shape, w_shape, stride, padding, dilation = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    args = (stride, padding, dilation)
    y_ref = ref.conv2d_forward(x, w, b, *args)
    y = cu.conv2d_forward(to_dev(x), to_dev(w), to_dev(b), *args)
    assert y.dtype == dtype and y.flags.c_contiguous
    _close("conv2d_forward", to_host(y), y_ref, dtype, tol)
    _close("conv2d_forward without bias", to_host(cu.conv2d_forward(to_dev(x), to_dev(w), None, *args)),
           ref.conv2d_forward(x, w, None, *args), dtype, tol)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    _close("conv2d_backward_input", to_host(cu.conv2d_backward_input(to_dev(dy), to_dev(w), x.shape, *args)),
           ref.conv2d_backward_input(dy, w, x.shape, *args), dtype, tol)
    _close("conv2d_backward_weight", to_host(cu.conv2d_backward_weight(to_dev(dy), to_dev(x), w.shape, *args)),
           ref.conv2d_backward_weight(dy, x, w.shape, *args), dtype, tol)
    _close("conv2d_backward_bias", to_host(cu.conv2d_backward_bias(to_dev(dy))),
           ref.conv2d_backward_bias(dy), dtype)


def _pool_input(x_shape, dtype, rng):
    """A permutation, so no window holds a tie (max/min are then unique)."""
    return rng.permutation(int(np.prod(x_shape))).reshape(x_shape).astype(dtype) / 7


def check_pool(cu, to_dev, to_host, case, dtype, seed=0):
    x_shape, kernel, stride, padding = case
    rng = np.random.default_rng(seed)
    x = _pool_input(x_shape, dtype, rng)
    for kind in ("max", "min"):
        y_ref, idx_ref = getattr(ref, f"{kind}_pool2d_forward")(x, kernel, stride, padding)
        y, idx = getattr(cu, f"{kind}_pool2d_forward")(to_dev(x), kernel, stride, padding)
        assert idx.dtype == np.int64
        np.testing.assert_array_equal(to_host(y), y_ref)
        np.testing.assert_array_equal(to_host(idx), idx_ref)
        dy = rng.standard_normal(y_ref.shape).astype(dtype)
        _close(f"{kind}_pool2d_backward", to_host(getattr(cu, f"{kind}_pool2d_backward")(to_dev(dy), idx, x.shape)),
               getattr(ref, f"{kind}_pool2d_backward")(dy, idx_ref, x.shape), dtype)
    y_ref = ref.avg_pool2d_forward(x, kernel, stride, padding)
    _close("avg_pool2d_forward", to_host(cu.avg_pool2d_forward(to_dev(x), kernel, stride, padding)), y_ref, dtype)
    dy = rng.standard_normal(y_ref.shape).astype(dtype)
    _close("avg_pool2d_backward",
           to_host(cu.avg_pool2d_backward(to_dev(dy), x.shape, kernel, stride, padding)),
           ref.avg_pool2d_backward(dy, x.shape, kernel, stride, padding), dtype)


def check_pool_nan(cu, to_dev, to_host, dtype):
    """The first NaN of a window wins; -inf and +inf are ordinary values."""
    x = np.arange(2 * 6 * 6, dtype=dtype).reshape(1, 2, 6, 6)
    x[0, 0, 1, 1] = np.nan
    x[0, 0, 1, 0] = np.nan
    x[0, 1, 0, 0] = -np.inf
    x[0, 1, 4, 5] = np.inf
    for kind in ("max", "min"):
        y_ref, idx_ref = getattr(ref, f"{kind}_pool2d_forward")(x, (3, 3), (2, 2), (1, 1))
        y, idx = getattr(cu, f"{kind}_pool2d_forward")(to_dev(x), (3, 3), (2, 2), (1, 1))
        np.testing.assert_array_equal(to_host(y), y_ref)
        np.testing.assert_array_equal(to_host(idx), idx_ref)


def check_matmul(cu, to_dev, to_host, case, dtype, seed=0, tol=None):
    B, M, K, N = case
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    dc = rng.standard_normal((B, M, N)).astype(dtype)
    c = cu.matmul(to_dev(a), to_dev(b))
    assert c.dtype == dtype and c.flags.c_contiguous
    _close("matmul", to_host(c), ref.matmul(a, b), dtype, tol)
    _close("matmul_backward_a", to_host(cu.matmul_backward_a(to_dev(dc), to_dev(b))), ref.matmul_backward_a(dc, b), dtype, tol)
    _close("matmul_backward_b", to_host(cu.matmul_backward_b(to_dev(a), to_dev(dc))), ref.matmul_backward_b(a, dc), dtype, tol)


@contextlib.contextmanager
def use_steps(choices):
    """Run step (variant) choices[primitive] of each primitive on the cuda backend inside the block."""
    with contextlib.ExitStack() as stack:
        for primitive, step in choices.items():
            stack.enter_context(kernels.use(primitive, step, backend="cuda"))
        yield


def use_step(step, primitives):
    """The same step of each of `primitives` inside the block."""
    return use_steps({p: step for p in primitives})


def use_core(cu, core, primitives):
    """Each of the GEMM-based `primitives` on `core` inside the block: "naive" (variant 1) or
    one of cu.GEMM_CORES (the variant number differs by primitive: cu.GEMM_VARIANTS)."""
    return use_steps({p: 1 if core == "naive" else cu.GEMM_VARIANTS[p][core] for p in primitives})
