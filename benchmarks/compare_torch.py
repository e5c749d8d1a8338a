"""Time the c backend against the numpy reference and PyTorch (CPU) on the issue's shapes.

    python benchmarks/compare_torch.py [--threads 2] [--repeat 7] [--quick]

Each case is validated (c against numpy) before it is timed; the median of `repeat` runs is shown
with GFLOP/s for conv and matmul and the ratios numpy/c (want >= 2) and c/torch (want <= 1.25).
PyTorch is optional: its columns are left empty when it cannot be imported.
"""
import argparse
import statistics
import time

import numpy as np

from pyconv.backends import c_omp as C
from pyconv.backends import numpy_ref as R

try:
    import torch
except ImportError:
    torch = None

# (N, C, H, W, K, kernel, stride, padding)
CONV = [
    (64, 1, 28, 28, 6, 5, 1, 2),
    (64, 6, 14, 14, 16, 5, 1, 0),
    (32, 64, 32, 32, 64, 3, 1, 1),
    (32, 128, 16, 16, 128, 3, 1, 1),
    (16, 64, 56, 56, 64, 3, 1, 1),
    (16, 64, 56, 56, 128, 3, 2, 1),
    (16, 256, 14, 14, 64, 1, 1, 0),
]


def median_ms(fn, repeat):
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def conv_case(backend, x, w, b, dy, stride, pad):
    args = ((stride, stride), (pad,) * 4, (1, 1))

    def run():
        backend.conv2d_forward(x, w, b, *args)
        backend.conv2d_backward_input(dy, w, x.shape, *args)
        backend.conv2d_backward_weight(dy, x, w.shape, *args)
        backend.conv2d_backward_bias(dy)
    return run


def torch_conv(x, w, b, dy, stride, pad):
    tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    tdy = torch.from_numpy(dy)

    def run():
        for t in (tx, tw, tb):
            t.grad = None
        torch.nn.functional.conv2d(tx, tw, tb, stride, pad).backward(tdy)
    return run


def row(name, flops, ms_c, ms_np, ms_t):
    gf = f"{flops / ms_c / 1e6:7.1f}" if flops else "      -"
    t = f"{ms_t:9.2f}  {ms_c / ms_t:6.2f}" if ms_t else "        -       -"
    print(f"{name:34s} {ms_c:9.2f} {gf}  {ms_np:9.2f} {ms_np / ms_c:6.1f}  {t}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="c and torch only (skip the numpy timings)")
    opts = ap.parse_args()
    C.set_num_threads(opts.threads)
    if torch is not None:
        torch.set_num_threads(opts.threads)
    rng = np.random.default_rng(0)
    print(f"c backend: {C.build_info()}, {C.get_num_threads()} threads; "
          f"torch: {torch.__version__ if torch else 'not installed'}")
    print(f"{'case (float32, fwd+bwd)':34s} {'c ms':>9s} {'GFLOP/s':>7s}  {'numpy ms':>9s} {'np/c':>6s}  "
          f"{'torch ms':>9s} {'c/torch':>7s}")
    for N, Cin, H, W, K, k, s, p in CONV:
        x = rng.standard_normal((N, Cin, H, W), dtype=np.float32)
        w = rng.standard_normal((K, Cin, k, k), dtype=np.float32) * 0.1
        b = rng.standard_normal(K, dtype=np.float32)
        args = ((s, s), (p,) * 4, (1, 1))
        y = C.conv2d_forward(x, w, b, *args)
        ref = R.conv2d_forward(x, w, b, *args)
        assert np.allclose(y, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max()), "c disagrees with numpy"
        dy = rng.standard_normal(y.shape, dtype=np.float32)
        flops = 3 * 2 * N * K * Cin * k * k * y.shape[2] * y.shape[3]
        ms_c = median_ms(conv_case(C, x, w, b, dy, s, p), opts.repeat)
        ms_np = float("nan") if opts.quick else median_ms(conv_case(R, x, w, b, dy, s, p), opts.repeat)
        ms_t = median_ms(torch_conv(x, w, b, dy, s, p), opts.repeat) if torch else None
        row(f"conv {N},{Cin},{H},{W}->{K} k{k} s{s} p{p}", flops, ms_c, ms_np, ms_t)

    x = rng.standard_normal((64, 32, 28, 28), dtype=np.float32)
    dy = rng.standard_normal((64, 32, 14, 14), dtype=np.float32)
    pool = ((2, 2), (2, 2), (0, 0))

    def pool_run(backend):
        def run():
            y, idx = backend.max_pool2d_forward(x, *pool)
            backend.max_pool2d_backward(dy, idx, x.shape)
        return run
    assert np.array_equal(C.max_pool2d_forward(x, *pool)[1], R.max_pool2d_forward(x, *pool)[1])
    ms_t = None
    if torch:
        tx = torch.from_numpy(x).requires_grad_()
        tdy = torch.from_numpy(dy)

        def tpool():
            tx.grad = None
            torch.nn.functional.max_pool2d(tx, 2, 2).backward(tdy)
        ms_t = median_ms(tpool, opts.repeat)
    ms_np = float("nan") if opts.quick else median_ms(pool_run(R), opts.repeat)
    row("max pool 2x2/2 64,32,28,28", 0, median_ms(pool_run(C), opts.repeat), ms_np, ms_t)

    for (M, K, N) in [(1024, 1024, 1024), (64, 400, 120)]:
        a = rng.standard_normal((1, M, K), dtype=np.float32)
        bm = rng.standard_normal((1, K, N), dtype=np.float32)
        dc = rng.standard_normal((1, M, N), dtype=np.float32)
        assert np.allclose(C.matmul(a, bm), R.matmul(a, bm), rtol=1e-3, atol=1e-3 * np.sqrt(K))

        def mm(backend):
            def run():
                backend.matmul(a, bm)
                backend.matmul_backward_a(dc, bm)
                backend.matmul_backward_b(a, dc)
            return run
        ms_t = None
        if torch:
            ta, tb = torch.from_numpy(a[0]).requires_grad_(), torch.from_numpy(bm[0]).requires_grad_()
            tdc = torch.from_numpy(dc[0])

            def tmm():
                ta.grad = tb.grad = None
                (ta @ tb).backward(tdc)
            ms_t = median_ms(tmm, opts.repeat)
        ms_np = float("nan") if opts.quick else median_ms(mm(R), opts.repeat)
        row(f"matmul {M}x{K} @ {K}x{N}", 3 * 2 * M * N * K, median_ms(mm(C), opts.repeat), ms_np, ms_t)


if __name__ == "__main__":
    main()
