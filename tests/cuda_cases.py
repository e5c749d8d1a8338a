"""Shapes and checks shared by the CUDA backend tests (on a GPU) and their CPU-emulated twin.

Each check runs one primitive family of `cuda_cupy` and of `numpy_ref` on the same random data
through pyconv.backends.conformance (its table of odd shapes and its comparison): max |ours -
ref| / max(1, max |ref|) <= TOL[dtype], pooling indices exact. `to_dev` / `to_host` move arrays
(cupy.asarray / cupy.asnumpy on a GPU, the identity under emulation). `use_core` and
`use_step` choose the kernels a block of a test runs, through pyconv.kernels.
"""
import contextlib
import os

import numpy as np

from pyconv import kernels
from pyconv.backends import conformance
from pyconv.backends import numpy_ref as ref

CONV = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight")
MATMUL = ("matmul", "matmul_backward_a", "matmul_backward_b")
ARGMAX_BACKWARD = ("max_pool2d_backward", "min_pool2d_backward")   # pool2d_backward_argmax

TOL = conformance.TOL
TF32_TOL = 5e-3   # float32 through TF32 tensor cores (10-bit mantissa operands)

# The odd shapes are the conformance table's emulated subset (pyconv/backends/conformance.py);
# the large ones below need a GPU.
CONV_ODD = conformance.CONV_EMULATED
CONV_LARGE = [
    ((128, 64, 16, 16), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((32, 256, 8, 8), (256, 256, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((8, 256, 14, 14), (64, 256, 1, 1), (2, 2), (0, 0, 0, 0), (1, 1)),
]
POOL_ODD = conformance.POOL_EMULATED
POOL_LARGE = [((128, 64, 32, 32), (2, 2), (2, 2), (0, 0)), ((64, 256, 14, 14), (3, 3), (2, 2), (1, 1))]
MATMUL_ODD = conformance.MATMUL_EMULATED      # (B, M, K, N)

# The sanitizer reruns of test_cuda_emulated.py (every CUDA thread an OS thread, under ASan or
# TSan: the slowest tests of the suite) set PYCONV_EMU_EDGES=1 and keep, of each table, the
# cases that reach a tile edge: a single-tile tiny case, two row tiles (K = 130), two tiles of
# dx (C = 131) and a reduction length not a multiple of 8 (C*R*S = 125); every variant still runs.
def _tile_edge(case):
    (_, C, _, _), (K, _, R, S) = case[0], case[1]
    return K == 130 or C == 131 or C * R * S == 125


if os.environ.get("PYCONV_EMU_EDGES") == "1":
    CONV_ODD = CONV_ODD[:1] + [c for c in CONV_ODD[1:] if _tile_edge(c)]
    POOL_ODD = POOL_ODD[:2]
    MATMUL_ODD = [MATMUL_ODD[0], MATMUL_ODD[-1]]
MATMUL_LARGE = [(1, 512, 1024, 768), (4, 256, 256, 256)]

POOL = ("max_pool2d_forward", "max_pool2d_backward", "min_pool2d_forward", "min_pool2d_backward",
        "avg_pool2d_forward", "avg_pool2d_backward")


def _check(cu, to_dev, to_host, primitives, case, dtype, tol=None, seed=0):
    for primitive in primitives:
        conformance.check(cu, primitive, case, dtype, tol=tol, to_dev=to_dev, to_host=to_host, seed=seed)


def check_conv(cu, to_dev, to_host, case, dtype, seed=0, tol=None):
    """The four conv2d primitives against numpy_ref on `case` (the bias reduction at full
    precision), and the forward without a bias."""
    _check(cu, to_dev, to_host, CONV, case, dtype, tol, seed)
    _check(cu, to_dev, to_host, ("conv2d_backward_bias",), case, dtype, None, seed)
    x, w, _, _, geo = conformance._conv_inputs(case, np.dtype(dtype), np.random.default_rng(seed))
    got = to_host(cu.conv2d_forward(to_dev(x), to_dev(w), None, *geo))
    assert conformance.error(got, ref.conv2d_forward(x, w, None, *geo)) <= (tol or TOL[np.dtype(dtype).type]), \
        "conv2d_forward without bias"


def check_pool(cu, to_dev, to_host, case, dtype, seed=0):
    """The six pooling primitives: values within TOL, indices exact (no ties in the input)."""
    _check(cu, to_dev, to_host, POOL, case, dtype, None, seed)


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
    _check(cu, to_dev, to_host, MATMUL, case, dtype, tol, seed)


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
