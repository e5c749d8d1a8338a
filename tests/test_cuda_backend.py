"""The cuda backend on a GPU: every primitive against numpy_ref, forward and backward, on odd
and large shapes, every kernel variant (chosen through pyconv.kernels); a float64 gradcheck through the autograd on the GPU.

Skipped without CuPy or a CUDA device. Tolerances: max |ours - ref| / max |ref| <= 1e-4
(float32), 1e-10 (float64). The same odd-shape checks run on the CPU in test_cuda_emulated.py.
"""
import importlib.util
import os

import numpy as np
import pytest

from pyconv.backends import cuda_cupy as cu

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("pyconv_cuda_cases", os.path.join(HERE, "cuda_cases.py"))
cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(cases)

_ok, _reason = cu.available()
if _ok and os.environ.get("PYCONV_CUDA_NO_POOL"):   # benchmarks/cuda_sanitize.sh: one allocation per array
    cu.xp.cuda.set_allocator(None)
pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not _ok, reason=f"cuda backend unavailable: {_reason}")]
DTYPES = [np.float32, np.float64]


def to_dev(a):
    return cu.xp.asarray(a)


def to_host(a):
    return cu.xp.asnumpy(a)


def conv_id(c):
    return "x{}w{}s{}p{}d{}".format(*c).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.CONV_ODD, ids=conv_id)
def test_conv2d_odd(case, core, dtype):
    with cases.use_core(cu, core, cases.CONV):
        cases.check_conv(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.CONV_ODD, ids=conv_id)
def test_conv2d_odd_small_filter_bank_kernels(case, dtype):
    with cases.use_steps(cu.SMALL_PROBLEM):
        cases.check_conv(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.CONV_LARGE, ids=conv_id)
def test_conv2d_large(case, core, dtype):
    with cases.use_core(cu, core, cases.CONV):
        cases.check_conv(cu, to_dev, to_host, case, dtype)


def pool_id(c):
    return "x{}k{}s{}p{}".format(*c).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [1, 2, 3])
@pytest.mark.parametrize("case", cases.POOL_ODD, ids=pool_id)
def test_pool2d_odd(case, v, dtype):
    with cases.use_step(v, cases.ARGMAX_BACKWARD):
        cases.check_pool(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [1, 2, 3])
@pytest.mark.parametrize("case", cases.POOL_LARGE, ids=pool_id)
def test_pool2d_large(case, v, dtype):
    with cases.use_step(v, cases.ARGMAX_BACKWARD):
        cases.check_pool(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool2d_nan_and_inf(dtype):
    cases.check_pool_nan(cu, to_dev, to_host, dtype)


def test_pooling_compares_subnormals_exactly():
    """float32 kernels are built with flush-to-zero; the pooling comparisons must not be."""
    from pyconv.backends import numpy_ref
    tiny = np.float32(1e-40)                        # subnormal: float32's least normal is ~1.2e-38
    x = np.array([[[[0, tiny, tiny, 0]]]], dtype=np.float32)
    for name in ("max_pool2d_forward", "min_pool2d_forward"):
        y, idx = getattr(cu, name)(to_dev(x), (1, 2), (1, 2), (0, 0))
        y_ref, idx_ref = getattr(numpy_ref, name)(x, (1, 2), (1, 2), (0, 0))
        np.testing.assert_array_equal(to_host(idx), idx_ref)
        np.testing.assert_array_equal(to_host(y), y_ref)


def matmul_id(c):
    return "B{}M{}K{}N{}".format(*c)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.MATMUL_ODD, ids=matmul_id)
def test_matmul_odd(case, core, dtype):
    with cases.use_core(cu, core, cases.MATMUL):
        cases.check_matmul(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.MATMUL_LARGE, ids=matmul_id)
def test_matmul_large(case, core, dtype):
    with cases.use_core(cu, core, cases.MATMUL):
        cases.check_matmul(cu, to_dev, to_host, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.CONV_ODD + cases.CONV_LARGE, ids=conv_id)
def test_conv2d_tf32(case, dtype):
    tol = cases.TF32_TOL if dtype == np.float32 else None
    with cases.use_core(cu, "tf32", cases.CONV):
        cases.check_conv(cu, to_dev, to_host, case, dtype, tol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.MATMUL_ODD + cases.MATMUL_LARGE, ids=matmul_id)
def test_matmul_tf32(case, dtype):
    tol = cases.TF32_TOL if dtype == np.float32 else None
    with cases.use_core(cu, "tf32", cases.MATMUL):
        cases.check_matmul(cu, to_dev, to_host, case, dtype, tol=tol)


def test_results_are_deterministic():
    """Split reduction and tree reductions add in a fixed order: bitwise equal reruns."""
    rng = np.random.default_rng(3)
    x = to_dev(rng.standard_normal((64, 32, 28, 28)).astype(np.float32))
    dy = to_dev(rng.standard_normal((64, 32, 28, 28)).astype(np.float32))
    args = ((1, 1), (1, 1, 1, 1), (1, 1))
    first = to_host(cu.conv2d_backward_weight(dy, x, (32, 32, 3, 3), *args))
    again = to_host(cu.conv2d_backward_weight(dy, x, (32, 32, 3, 3), *args))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(to_host(cu.conv2d_backward_bias(dy)), to_host(cu.conv2d_backward_bias(dy)))


def test_rejects_host_arrays():
    with pytest.raises(TypeError, match="cupy array"):
        cu.matmul(np.zeros((1, 2, 2), np.float32), np.zeros((1, 2, 2), np.float32))


def test_time_ms_measures_something():
    a = to_dev(np.ones((1, 256, 256), np.float32))
    ms = cu.time_ms(cu.matmul, a, a, warmup=1, repeat=3)
    assert 0 < ms < 1000


# -- through the autograd ------------------------------------------------------------------

def _gradcheck():
    try:
        from pyconv.gradcheck import gradcheck
    except ImportError:
        pytest.skip("pyconv.gradcheck is not available")
    return gradcheck


def test_gradcheck_conv_pool_matmul_on_gpu():
    gradcheck = _gradcheck()
    import pyconv
    import pyconv.nn.functional as F
    rng = np.random.default_rng(0)

    def t(shape):
        return pyconv.tensor(rng.standard_normal(shape), requires_grad=True, device="cuda")

    x, w, b = t((2, 3, 7, 6)), t((4, 3, 3, 2)), t((4,))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)), x, w, b)
    # a permutation keeps max-pool windows free of ties, so finite differences are stable
    xp = pyconv.tensor(rng.permutation(2 * 3 * 6 * 6).reshape(2, 3, 6, 6) / 10.0, requires_grad=True, device="cuda")
    assert gradcheck(lambda x: F.max_pool2d(x, 2), xp)
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), xp)
    a, m = t((2, 5, 4)), t((2, 4, 3))
    assert gradcheck(lambda a, m: a @ m, a, m)
