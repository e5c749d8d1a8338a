"""pyconv's CUDA kernels against cuDNN and cuBLAS (through PyTorch), TF32 off on both sides.

    python benchmarks/cuda_torch.py                       # float32, default variants
    python benchmarks/cuda_torch.py --dtype float64
    python benchmarks/cuda_torch.py --variant conv2d_forward=1 --repeat 50   # a pyconv.kernels step
    python benchmarks/cuda_torch.py --core async            # every GEMM-based default on gemm_core_async
                                                            # (and so 64-row tiles where few rows: rule 4)
    python benchmarks/cuda_torch.py --core async64          # ... on the 64-row tile, whatever the rows
    python benchmarks/cuda_torch.py --tf32                  # TF32 tensor cores on both sides

Every case is validated before it is timed (our outputs against PyTorch's on the same data,
shared through DLPack). Times are medians of CUDA-event measurements. The table gives ms, TFLOP/s
and ours/torch (below 1 is faster than PyTorch). Targets: conv2d fwd+bwd within 1.5x of cuDNN,
matmul within 1.25x of cuBLAS. FLOP/s peaks for an H100 SXM: fp32 (no tensor cores) ~67 TFLOP/s,
fp64 ~34 TFLOP/s.
"""
import argparse
import math
import sys

import numpy as np

from pyconv.backends import geometry

# conv2d: (N, C, H, W, K, kernel, stride, padding): square kernels, symmetric padding
CONV_CASES = [
    (128, 64, 32, 32, 64, 3, 1, 1),
    (128, 128, 16, 16, 128, 3, 1, 1),
    (64, 64, 56, 56, 64, 3, 1, 1),
    (64, 128, 28, 28, 128, 3, 1, 1),
    (64, 256, 14, 14, 256, 3, 1, 1),
    (64, 64, 56, 56, 128, 3, 2, 1),
    (64, 256, 14, 14, 64, 1, 1, 0),
    (256, 1, 28, 28, 6, 5, 1, 2),
]
MATMUL_CASES = [(4096, 4096, 4096)]   # (M, K, N)
CONV_TARGET, MATMUL_TARGET = 1.5, 1.25


def conv_label(case):
    N, C, H, W, K, R, st, pad = case
    return f"{N}x{C}x{H}x{W}->{K} k{R} s{st} p{pad}"


def conv_flops(case):
    """FLOPs of one of forward, gradient of input, gradient of weight: 2*N*K*P*Q*C*R*S."""
    N, C, H, W, K, R, st, pad = case
    P, Q = geometry.conv_output_size(H, W, R, R, (st, st), (pad,) * 4, (1, 1))
    return 2 * N * K * P * Q * C * R * R


def conv_inputs(cp, case, dtype, seed=0):
    N, C, H, W, K, R, st, pad = case
    rng = cp.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W), dtype=dtype)
    w = rng.standard_normal((K, C, R, R), dtype=dtype) / math.sqrt(C * R * R)   # a Python float keeps the dtype
    b = rng.standard_normal((K,), dtype=dtype)
    args = ((st, st), (pad, pad, pad, pad), (1, 1))
    return x, w, b, args


def ours_conv(cu, x, w, b, dy, args):
    """(forward, backward) callables of our backend; backward = input, weight and bias gradients."""
    def fwd():
        return cu.conv2d_forward(x, w, b, *args)

    def bwd():
        return (cu.conv2d_backward_input(dy, w, x.shape, *args),
                cu.conv2d_backward_weight(dy, x, w.shape, *args),
                cu.conv2d_backward_bias(dy))
    return fwd, bwd


def torch_conv(torch, x, w, b, dy, stride, pad):
    """(forward, backward) callables of cuDNN; backward is aten's convolution_backward with all
    three gradients, which is what autograd calls."""
    def fwd():
        return torch.nn.functional.conv2d(x, w, b, stride=stride, padding=pad)

    def bwd():
        return torch.ops.aten.convolution_backward(dy, x, w, [w.shape[0]], [stride, stride], [pad, pad],
                                                   [1, 1], False, [0, 0], 1, [True, True, True])
    return fwd, bwd


def torch_ms(torch, fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return float(np.median(times))


def rel_err(cp, ours, theirs):
    ours, theirs = cp.asarray(ours, dtype=cp.float64), cp.asarray(theirs, dtype=cp.float64)
    return float(cp.abs(ours - theirs).max() / max(float(cp.abs(theirs).max()), 1e-30))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], metavar="PRIMITIVE=N",
                        help="run step N of a primitive (pyconv.kernels.set_step on the cuda "
                             "backend), e.g. conv2d_forward=1 (repeatable)")
    parser.add_argument("--core", choices=["shared", "async", "async64"],
                        help="make the variant on this GEMM core of common.cuh the default of every "
                             "GEMM-based primitive (conv2d forward, input and weight gradients, "
                             "matmul and its gradients); with async, GEMMs of few rows take the "
                             "64-row tile (cuda_cupy.short_tile_pays), async64 takes it everywhere")
    parser.add_argument("--tf32", action="store_true",
                        help="TF32 tensor cores on both sides (ours: the gemm_tf32 variants; cuDNN/cuBLAS: "
                             "allow_tf32); float32 only, checked to 5e-3")
    parser.add_argument("--skip-matmul", action="store_true")
    args = parser.parse_args(argv)

    try:
        import cupy as cp
        import torch
    except ImportError as exc:
        print(f"needs CuPy and PyTorch with CUDA: {exc}")
        return 2
    import pyconv.kernels
    from pyconv.backends import cuda_cupy as cu

    ok, why = cu.available()
    if not ok or not torch.cuda.is_available():
        print(f"needs a CUDA GPU with CuPy and PyTorch: {why or 'torch.cuda.is_available() is False'}")
        return 2
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    cu.set_tf32(args.tf32)
    torch.backends.cudnn.benchmark = True          # let cuDNN pick its fastest algorithm
    dtype = np.dtype(args.dtype)
    tol = 1e-10 if dtype == np.float64 else 5e-3 if args.tf32 else 1e-4
    if args.core:   # the defaults change; small problems still take their SMALL_PROBLEM kernels
        cu.DEFAULTS.update({p: cores[args.core] for p, cores in cu.GEMM_VARIANTS.items()})
    for kv in args.variant:
        primitive, _, step = kv.partition("=")
        pyconv.kernels.set_step(primitive, int(step), backend="cuda")
    variants = {p: cu.variant(p) for p in cu.DEFAULTS}

    print(f"# {torch.cuda.get_device_name()}, {args.dtype}, TF32 {'on' if args.tf32 else 'off'}, median of {args.repeat}; "
          f"variants (large problems): {variants}")
    header = (f"{'case':34} {'phase':8} {'ours ms':>9} {'torch ms':>9} {'ours TF/s':>9} "
              f"{'torch TF/s':>10} {'ratio':>6} {'check':>8}")
    print(header)
    print("-" * len(header))
    worst = {}
    for case in CONV_CASES:
        x, w, b, conv_args = conv_inputs(cp, case, dtype)
        N, C, H, W, K, R, st, pad = case
        y = cu.conv2d_forward(x, w, b, *conv_args)
        dy = cp.random.default_rng(1).standard_normal(y.shape, dtype=dtype)
        tx, tw, tb, tdy = (torch.from_dlpack(a) for a in (x, w, b, dy))
        ours = ours_conv(cu, x, w, b, dy, conv_args)
        theirs = torch_conv(torch, tx, tw, tb, tdy, st, pad)
        # validate first: forward and all three gradients
        err = max(rel_err(cp, y, theirs[0]()),
                  *(rel_err(cp, o, t) for o, t in zip(ours[1](), theirs[1]())))
        check = "ok" if err <= tol else f"ERR {err:.1e}"
        flops = conv_flops(case)
        phases = {"fwd": (ours[0], theirs[0], flops), "bwd": (ours[1], theirs[1], 2 * flops)}
        totals = [0.0, 0.0]
        for phase, (mine, ref, f) in phases.items():
            a = cu.time_ms(mine, warmup=args.warmup, repeat=args.repeat)
            t = torch_ms(torch, ref, args.warmup, args.repeat)
            totals[0] += a
            totals[1] += t
            print(f"{conv_label(case):34} {phase:8} {a:9.3f} {t:9.3f} {f / a / 1e9:9.2f} "
                  f"{f / t / 1e9:10.2f} {a / t:6.2f} {check:>8}")
        a, t = totals
        ratio = a / t
        worst["conv"] = max(worst.get("conv", 0), ratio)
        print(f"{conv_label(case):34} {'fwd+bwd':8} {a:9.3f} {t:9.3f} {3 * flops / a / 1e9:9.2f} "
              f"{3 * flops / t / 1e9:10.2f} {ratio:6.2f} {check:>8}")
    if not args.skip_matmul:
        for M, K, N in MATMUL_CASES:
            rng = cp.random.default_rng(2)
            a = rng.standard_normal((1, M, K), dtype=dtype)
            bm = rng.standard_normal((1, K, N), dtype=dtype)
            dc = rng.standard_normal((1, M, N), dtype=dtype)
            ta, tbm, tdc = (torch.from_dlpack(v) for v in (a, bm, dc))
            flops = 2 * M * K * N
            rows = [("c=a@b", lambda: cu.matmul(a, bm), lambda: torch.matmul(ta, tbm)),
                    ("da=dc@bT", lambda: cu.matmul_backward_a(dc, bm), lambda: torch.matmul(tdc, tbm.transpose(1, 2))),
                    ("db=aT@dc", lambda: cu.matmul_backward_b(a, dc), lambda: torch.matmul(ta.transpose(1, 2), tdc))]
            for phase, mine, ref in rows:
                err = rel_err(cp, mine(), ref())
                check = "ok" if err <= tol else f"ERR {err:.1e}"
                ms_a = cu.time_ms(mine, warmup=args.warmup, repeat=args.repeat)
                ms_t = torch_ms(torch, ref, args.warmup, args.repeat)
                worst["matmul"] = max(worst.get("matmul", 0), ms_a / ms_t)
                print(f"{f'matmul {M}x{K}x{N}':34} {phase:8} {ms_a:9.3f} {ms_t:9.3f} "
                      f"{flops / ms_a / 1e9:9.2f} {flops / ms_t / 1e9:10.2f} {ms_a / ms_t:6.2f} {check:>8}")
    print()
    if "conv" in worst:
        print(f"worst conv fwd+bwd ratio {worst['conv']:.2f} (target <= {CONV_TARGET})")
    if "matmul" in worst:
        print(f"worst matmul ratio {worst['matmul']:.2f} (target <= {MATMUL_TARGET})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
