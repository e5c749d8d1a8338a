"""Lab 5: a fast C GEMM (csrc/gemm.c): step 1 (the naive loops), step 2 (loops reordered and
cache-blocked) and step 4 (the tiles of C shared among OpenMP threads) of the GEMM ladder.

Each step runs through the c backend's matmul primitives, chosen with pyconv.kernels.use, on odd
shapes (sizes of 1, primes, sizes past the cache blocks B2_KB = 128 and B2_NB = 256) and on
transposed operands (matmul_backward_a reads b transposed, matmul_backward_b reads a
transposed), in float32 and float64, against numpy's products computed in float64. The conv2d
weight gradient's im2col steps use GEMM steps 1 and 2 with accumulate = 1 (summing the batch
into dw): they are checked too. Skipped when the C extension is not built here.
"""
import numpy as np
import pytest

import pyconv
from pyconv import backends
from pyconv.backends import numpy_ref

pytestmark = pytest.mark.lab5

if backends.available_backends().get("c") != "enabled":
    pytest.skip(f"the C backend is not built: {backends.available_backends().get('c')}",
                allow_module_level=True)

C = backends.module("c")
STEPS = {1: "naive", 2: "blocked", 4: "parallel"}          # the matmul steps that run this lab's code
# (B, M, K, N)
SHAPES = [(1, 1, 1, 1), (2, 7, 5, 3), (1, 33, 17, 29), (2, 19, 300, 270), (1, 131, 40, 9), (3, 6, 130, 257)]
IDS = ["x".join(map(str, s)) for s in SHAPES]


def tol(dtype, k):
    if dtype == np.float64:
        return dict(rtol=1e-12, atol=1e-12 * k)
    return dict(rtol=1e-4, atol=1e-5 * k)


def operands(shape, dtype, seed=0):
    B, M, K, N = shape
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    dc = rng.standard_normal((B, M, N)).astype(dtype)
    return a, b, dc


def f64(x):
    return x.astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("step", sorted(STEPS))
def test_matmul(step, shape, dtype):
    a, b, _ = operands(shape, dtype)
    with pyconv.kernels.use("matmul", step, backend="c"):
        c = C.matmul(a, b)
    assert pyconv.kernels.ran("matmul", backend="c") == step
    assert pyconv.kernels.available("matmul", backend="c")[step - 1].name == STEPS[step]
    assert c.shape == shape[:2] + shape[3:] and c.dtype == dtype
    np.testing.assert_allclose(c, f64(a) @ f64(b), **tol(dtype, shape[2]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("step", sorted(STEPS))
def test_matmul_backward_a_reads_b_transposed(step, shape, dtype):
    _, b, dc = operands(shape, dtype)
    with pyconv.kernels.use("matmul_backward_a", step, backend="c"):
        da = C.matmul_backward_a(dc, b)
    np.testing.assert_allclose(da, f64(dc) @ f64(b).transpose(0, 2, 1), **tol(dtype, shape[3]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("step", sorted(STEPS))
def test_matmul_backward_b_reads_a_transposed(step, shape, dtype):
    a, _, dc = operands(shape, dtype)
    with pyconv.kernels.use("matmul_backward_b", step, backend="c"):
        db = C.matmul_backward_b(a, dc)
    np.testing.assert_allclose(db, f64(a).transpose(0, 2, 1) @ f64(dc), **tol(dtype, shape[1]))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_step4_gives_the_same_bits_for_any_thread_count(threads):
    a, b, _ = operands((3, 70, 90, 50), np.float64, seed=1)
    previous = pyconv.get_num_threads()
    try:
        with pyconv.kernels.use("matmul", 3, backend="c"):
            packed = C.matmul(a, b)                    # step 3: the same sums on one thread
        pyconv.set_num_threads(threads)
        with pyconv.kernels.use("matmul", 4, backend="c"):
            c = C.matmul(a, b)
    finally:
        pyconv.set_num_threads(previous)
    np.testing.assert_array_equal(c, packed)


def _step_named(primitive, name):
    for step in pyconv.kernels.available(primitive, backend="c"):
        if step.name == name:
            return step.number
    pytest.skip(f"the c backend has no {primitive} step named {name!r}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("name", ["im2col+naive", "im2col+blocked"])
def test_conv2d_weight_gradient_accumulates_the_batch(name, dtype):
    step = _step_named("conv2d_backward_weight", name)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 9, 8)).astype(dtype)
    dy = rng.standard_normal((3, 4, 7, 3)).astype(dtype)
    params = ((1, 2), (0, 0, 0, 0), (1, 1))
    with pyconv.kernels.use("conv2d_backward_weight", step, backend="c"):
        dw = C.conv2d_backward_weight(dy, x, (4, 2, 3, 3), *params)
    expected = numpy_ref.conv2d_backward_weight(f64(dy), f64(x), (4, 2, 3, 3), *params)
    np.testing.assert_allclose(dw, expected, **tol(dtype, 3 * 7 * 3))
