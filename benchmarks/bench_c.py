"""pytest-benchmark suite of the c backend's primitives (float32, the issue's shapes).

    pytest benchmarks/bench_c.py --benchmark-only [--benchmark-columns=median,ops]

Every case is checked against the numpy reference once before it is timed.
benchmarks/compare_torch.py prints the same cases side by side with numpy and PyTorch.
"""
import numpy as np

from pyconv.bench import CONV_SHAPES
import pytest

from pyconv.backends import numpy_ref as R

C = pytest.importorskip("pyconv.backends.c_omp")
if not C.available()[0]:
    pytest.skip(C.available()[1], allow_module_level=True)

# (N, C, H, W, K, kernel, stride, padding): the shapes of `python -m pyconv bench`
CONV = [shape[1:] for shape in CONV_SHAPES]


def _ids(case):
    N, Cin, H, W, K, k, s, p = case
    return f"{N}x{Cin}x{H}x{W}-{K}k{k}s{s}p{p}"


@pytest.fixture(params=CONV, ids=_ids)
def conv(request):
    N, Cin, H, W, K, k, s, p = request.param
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
    w = rng.standard_normal((K, Cin, k, k), dtype=np.float32) * 0.1
    b = rng.standard_normal(K, dtype=np.float32)
    args = ((s, s), (p,) * 4, (1, 1))
    y = C.conv2d_forward(x, w, b, *args)
    ref = R.conv2d_forward(x, w, b, *args)
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    dy = rng.standard_normal(y.shape, dtype=np.float32)
    return x, w, b, dy, args


@pytest.mark.parametrize("part", ["forward", "backward_input", "backward_weight", "all"])
def test_conv2d(benchmark, conv, part):
    x, w, b, dy, args = conv
    calls = {
        "forward": lambda: C.conv2d_forward(x, w, b, *args),
        "backward_input": lambda: C.conv2d_backward_input(dy, w, x.shape, *args),
        "backward_weight": lambda: C.conv2d_backward_weight(dy, x, w.shape, *args),
    }
    if part == "all":
        def run():
            for fn in calls.values():
                fn()
            C.conv2d_backward_bias(dy)
        benchmark(run)
    else:
        benchmark(calls[part])


def test_max_pool_2x2(benchmark):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 32, 28, 28), dtype=np.float32)
    dy = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    args = ((2, 2), (2, 2), (0, 0))
    np.testing.assert_array_equal(C.max_pool2d_forward(x, *args)[1], R.max_pool2d_forward(x, *args)[1])

    def run():
        _, idx = C.max_pool2d_forward(x, *args)
        C.max_pool2d_backward(dy, idx, x.shape)
    benchmark(run)


@pytest.mark.parametrize("M,K,N", [(1024, 1024, 1024), (64, 400, 120)], ids=["1024^3", "64x400x120"])
@pytest.mark.parametrize("part", ["matmul", "backward_a", "backward_b"])
def test_matmul(benchmark, M, K, N, part):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, M, K), dtype=np.float32)
    b = rng.standard_normal((1, K, N), dtype=np.float32)
    dc = rng.standard_normal((1, M, N), dtype=np.float32)
    np.testing.assert_allclose(C.matmul(a, b), R.matmul(a, b), rtol=0, atol=1e-4 * K)
    calls = {"matmul": lambda: C.matmul(a, b), "backward_a": lambda: C.matmul_backward_a(dc, b),
             "backward_b": lambda: C.matmul_backward_b(a, dc)}
    benchmark(calls[part])
