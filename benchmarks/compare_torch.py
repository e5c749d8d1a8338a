"""Time the c backend against the numpy reference and PyTorch (CPU) on the issue's shapes.

    python benchmarks/compare_torch.py [--threads 2] [--repeat 7] [--quick] [--clock cpu]

Every case is validated (c against numpy) before it is timed; the table shows the median of
`repeat` runs (float32, forward + all gradients), GFLOP/s for conv and matmul, and the ratios
numpy/c (want >= 2) and c/torch (want <= 1.25). PyTorch is optional: its columns are left empty
when it cannot be imported.

Each library is timed on its own, one after the other: c, then numpy, then PyTorch in a child
process. Their thread pools (our OpenMP, OpenBLAS under numpy, PyTorch's own OpenMP) keep
spinning for a while after each call, and interleaving them on 2 cores makes whichever runs next
wait for CPU time (that once made tiny cases look 50x slower than they are).
"""
import argparse
import multiprocessing
import os
import time

import numpy as np

from pyconv import timing
from pyconv.backends import geometry
from pyconv.bench import CONV_SHAPES

# the c backend sets GOMP_SPINCOUNT for its own runtime; PyTorch gets the environment as it was
USER_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")
USER_SPINCOUNT = os.environ.get("GOMP_SPINCOUNT")

# (N, C, H, W, K, kernel, stride, padding): the shapes of `python -m pyconv bench`
CONV = [shape[1:] for shape in CONV_SHAPES]
POOL = (64, 32, 28, 28)
MATMUL = [(1024, 1024, 1024), (64, 400, 120)]


def cases():
    """[(name, flops, arrays)] with the same data in every process (fixed seed)."""
    rng = np.random.default_rng(0)
    out = []
    for N, C, H, W, K, k, s, p in CONV:
        x = rng.standard_normal((N, C, H, W), dtype=np.float32)
        w = rng.standard_normal((K, C, k, k), dtype=np.float32) * 0.1
        b = rng.standard_normal(K, dtype=np.float32)
        P, Q = geometry.conv_output_size(H, W, k, k, (s, s), (p,) * 4, (1, 1))
        dy = rng.standard_normal((N, K, P, Q), dtype=np.float32)
        out.append((f"conv {N},{C},{H},{W}->{K} k{k} s{s} p{p}", 3 * 2 * N * K * C * k * k * P * Q,
                    ("conv", x, w, b, dy, s, p)))
    x = rng.standard_normal(POOL, dtype=np.float32)
    dy = rng.standard_normal(POOL[:2] + geometry.pool_output_size(*POOL[2:], (2, 2), (2, 2), (0, 0)),
                             dtype=np.float32)
    out.append(("max pool 2x2/2 " + ",".join(map(str, POOL)), 0, ("pool", x, dy)))
    for M, K, N in MATMUL:
        a = rng.standard_normal((1, M, K), dtype=np.float32)
        bm = rng.standard_normal((1, K, N), dtype=np.float32)
        dc = rng.standard_normal((1, M, N), dtype=np.float32)
        out.append((f"matmul {M}x{K} @ {K}x{N}", 3 * 2 * M * N * K, ("matmul", a, bm, dc)))
    return out


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def median_ms(fn, repeat):
    return timing.measure(fn, repeat=repeat, warmup=1, clock=clock).median_ms


def backend_run(be, case):
    """fwd + bwd of one case through the backend contract."""
    kind, *arrays = case
    if kind == "conv":
        x, w, b, dy, s, p = arrays
        args = ((s, s), (p,) * 4, (1, 1))

        def run():
            be.conv2d_forward(x, w, b, *args)
            be.conv2d_backward_input(dy, w, x.shape, *args)
            be.conv2d_backward_weight(dy, x, w.shape, *args)
            be.conv2d_backward_bias(dy)
    elif kind == "pool":
        x, dy = arrays

        def run():
            _, idx = be.max_pool2d_forward(x, (2, 2), (2, 2), (0, 0))
            be.max_pool2d_backward(dy, idx, x.shape)
    else:
        a, bm, dc = arrays

        def run():
            be.matmul(a, bm)
            be.matmul_backward_a(dc, bm)
            be.matmul_backward_b(a, dc)
    return run


def check(c, ref, case):
    kind, *arrays = case
    if kind == "conv":
        x, w, b, dy, s, p = arrays
        args = ((s, s), (p,) * 4, (1, 1))
        got, want = c.conv2d_forward(x, w, b, *args), ref.conv2d_forward(x, w, b, *args)
        got2 = c.conv2d_backward_weight(dy, x, w.shape, *args)
        want2 = ref.conv2d_backward_weight(dy, x, w.shape, *args)
        assert np.abs(got2 - want2).max() <= 1e-3 * np.abs(want2).max(), "c disagrees with numpy"
    elif kind == "pool":
        got, want = c.max_pool2d_forward(arrays[0], (2, 2), (2, 2), (0, 0))[1], \
            ref.max_pool2d_forward(arrays[0], (2, 2), (2, 2), (0, 0))[1]
    else:
        got, want = c.matmul(arrays[0], arrays[1]), ref.matmul(arrays[0], arrays[1])
    assert np.abs(got - want).max() <= 1e-3 * max(1, np.abs(want).max()), "c disagrees with numpy"


def torch_times(threads, repeat, clock_name, user_env, queue):
    """Runs in a child process: PyTorch timings of every case, or None without PyTorch."""
    global clock
    clock = CLOCK[clock_name]
    for name, value in user_env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    try:
        import torch
    except ImportError:
        queue.put(None)
        return
    torch.set_num_threads(threads)
    F = torch.nn.functional
    out = []
    for _, _, (kind, *arrays) in cases():
        if kind == "conv":
            x, w, b, dy, s, p = arrays
            tx, tw, tb = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
            tdy = torch.from_numpy(dy)

            def run():
                tx.grad = tw.grad = tb.grad = None
                F.conv2d(tx, tw, tb, s, p).backward(tdy)
        elif kind == "pool":
            tx = torch.from_numpy(arrays[0]).requires_grad_()
            tdy = torch.from_numpy(arrays[1])

            def run():
                tx.grad = None
                F.max_pool2d(tx, 2, 2).backward(tdy)
        else:
            ta, tb = (torch.from_numpy(a[0]).requires_grad_() for a in arrays[:2])
            tdc = torch.from_numpy(arrays[2][0])

            def run():
                ta.grad = tb.grad = None
                (ta @ tb).backward(tdc)
        out.append(median_ms(run, repeat))
    queue.put((torch.__version__, out))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="skip the numpy timings")
    ap.add_argument("--clock", choices=CLOCK, default="wall",
                    help="cpu: process CPU time, the fairer measure with 1 thread on a busy machine")
    opts = ap.parse_args()
    global clock
    clock = CLOCK[opts.clock]
    from pyconv.backends import c_omp as C
    from pyconv.backends import numpy_ref as R
    C.set_num_threads(opts.threads)
    todo = cases()
    for _, _, case in todo:
        check(C, R, case)
    time.sleep(1)  # let OpenBLAS's threads (busy-waiting after the numpy checks) fall asleep
    ms_c = [median_ms(backend_run(C, case), opts.repeat) for _, _, case in todo]
    ms_np = [float("nan") if opts.quick else median_ms(backend_run(R, case), opts.repeat)
             for _, _, case in todo]
    time.sleep(1)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=torch_times, args=(opts.threads, opts.repeat, opts.clock,
                        {"OMP_WAIT_POLICY": USER_WAIT_POLICY, "GOMP_SPINCOUNT": USER_SPINCOUNT}, queue))
    child.start()
    result = queue.get()
    child.join()
    version, ms_t = result if result else ("not installed", [None] * len(todo))

    print(f"c backend: {C.build_info()}, {C.get_num_threads()} threads; torch: {version}; "
          f"{opts.clock} clock")
    print(f"{'case (float32, fwd+bwd)':34s} {'c ms':>9s} {'GFLOP/s':>7s}  {'numpy ms':>9s} {'np/c':>6s}  "
          f"{'torch ms':>9s} {'c/torch':>7s}")
    for (name, flops, _), c, n, t in zip(todo, ms_c, ms_np, ms_t):
        gf = f"{flops / c / 1e6:7.1f}" if flops else "      -"
        tt = f"{t:9.2f}  {c / t:6.2f}" if t else "        -       -"
        print(f"{name:34s} {c:9.2f} {gf}  {n:9.2f} {n / c:6.1f}  {tt}")


if __name__ == "__main__":
    main()
