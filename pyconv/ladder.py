"""`python -m pyconv bench --ladder`: every step of every kernel ladder, validated, then timed.

For each primitive with more than one step (pyconv.kernels.available), each step is first
checked against the numpy reference on the conformance cases (pyconv.backends.conformance), then
timed on the reference shapes below. One row per (shape, step): the median time and its spread,
GFLOP/s, the share of this machine's peak, and the speed-up over the step before. The peak is
measured when the bench starts (a small FMA loop compiled with the extension, csrc/peak.c), on
the threads the kernels use: the machine's speed changes from day to day, so a data-sheet figure
would mislead. Steps that run on one thread can reach at most 1/threads of it. A step that did
not apply to a shape and fell back to a lower one shows `ran` (e.g. "6->1").

    python -m pyconv bench --ladder                         # every laddered primitive
    python -m pyconv bench --ladder --op conv2d_forward --json ladder.json --plot ladder.png
"""
import json
import os
import platform

import numpy as np

from . import backends, kernels, timing
from .backends import conformance

# The reference shapes: a VGG-style 3x3 layer (compute-bound, where the ladder's ideas pay) and
# LeNet's second layer (small: overheads and packing show), small enough that the naive loop
# nests finish in about a second.
CONV_SHAPES = [
    ("vgg 8x64x32x32 k64 3x3", ((8, 64, 32, 32), (64, 64, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))),
    ("lenet-c3 64x6x14x14 k16 5x5", ((64, 6, 14, 14), (16, 6, 5, 5), (1, 1), (0, 0, 0, 0), (1, 1))),
]
POOL_SHAPES = [
    ("64x32x28x28 2x2/2", ((64, 32, 28, 28), (2, 2), (2, 2), (0, 0))),
    ("64x32x28x28 3x3/2 pad 1", ((64, 32, 28, 28), (3, 3), (2, 2), (1, 1))),
]
MATMUL_SHAPES = [("512x512 @ 512x512", (1, 512, 512, 512)), ("64x400 @ 400x120", (1, 64, 400, 120))]
SHAPES = {
    "conv2d_forward": CONV_SHAPES, "conv2d_backward_input": CONV_SHAPES,
    "conv2d_backward_weight": CONV_SHAPES, "matmul": MATMUL_SHAPES,
    "max_pool2d_forward": POOL_SHAPES, "avg_pool2d_forward": POOL_SHAPES,
}
STEP_BUDGET_S = 3.0   # timed seconds per (shape, step) at most: the naive steps get 3 runs


def laddered(backend):
    """The primitives of `backend` with more than one step, in SHAPES' order."""
    return [p for p in SHAPES if len(kernels.available(p, backend=backend)) > 1]


def peak_gflops(backend, dtype, threads):
    """This machine's FMA peak (GFLOP/s) on `threads` threads, or None where not measured: the
    best of three 0.25 s probes (a busy machine only ever lowers a probe)."""
    if backend != "c":
        return None
    from .backends import c_omp
    return max(c_omp.peak_gflops(dtype, threads, 0.25) for _ in range(3))


def validate(be, primitive, step, dtype, devices):
    """Failure lines of one step on every conformance case (empty when it agrees)."""
    with kernels.use(primitive, step, backend=be.NAME):
        problems = [conformance.mismatch(be, primitive, case, dtype, **devices)
                    for case in conformance.CASES[primitive]]
    return [p for p in problems if p]


def time_step(be, primitive, step, case, dtype, repeat, devices, cuda):
    args = [devices["to_dev"](a) if isinstance(a, np.ndarray) else a
            for a in conformance.arguments(primitive, case, dtype, seed=1)]
    fn = getattr(be, primitive)
    with kernels.use(primitive, step, backend=be.NAME):
        t = timing.measure(lambda: fn(*args), repeat=repeat, warmup=1, cuda=cuda, budget_s=STEP_BUDGET_S)
        ran = kernels.ran(primitive, backend=be.NAME)
    return t, ran


def run(backend="c", ops=None, dtype=np.float32, repeat=7, out=print, shapes=None):
    """Validate and time every step; returns the report as a dict (see --json). `shapes`
    ({primitive: [(label, case), ...]}) replaces the reference shapes of SHAPES."""
    shapes = {**SHAPES, **(shapes or {})}
    be = backends.module(backend)
    cuda = be.DEVICE == "cuda"
    devices = _devices(cuda)
    threads = _threads(backend)
    peak = peak_gflops(backend, dtype, threads)
    report = {"machine": machine(backend, threads), "dtype": np.dtype(dtype).name,
              "peak_gflops": peak, "rows": [], "failures": []}
    out(_header(report))
    for primitive in ops or laddered(backend):
        steps = kernels.available(primitive, backend=backend)
        for step in steps:
            bad = validate(be, primitive, step.number, dtype, devices)
            report["failures"] += bad
            for line in bad:
                out(f"FAILED {primitive} step {step.number}: {line}")
        for label, case in shapes[primitive]:
            gflop = conformance.flops(primitive, case) / 1e9
            out(f"\n{primitive}  {label}  ({gflop:.3g} GFLOP)")
            out(f"{'step':>4} {'name':<22} {'ran':>5} {'ms':>10} {'spread':>7} {'GFLOP/s':>8} "
                f"{'% peak':>7} {'x prev':>7}")
            previous = None
            for step in steps:
                t, ran = time_step(be, primitive, step.number, case, dtype, repeat, devices, cuda)
                row = _row(primitive, label, step, ran, t, gflop, peak, previous)
                report["rows"].append(row)
                out(_format(row))
                previous = t.median_ms
    return report


def _devices(cuda):
    if not cuda:
        return {"to_dev": lambda a: a, "to_host": np.asarray}
    import cupy
    return {"to_dev": cupy.asarray, "to_host": cupy.asnumpy}


def _threads(backend):
    if backend != "c":
        return 1
    from .backends import c_omp
    return c_omp.get_num_threads()


def machine(backend, threads):
    info = {"backend": backend, "threads": threads, "cpu": _cpu_name(), "python": platform.python_version(),
            "numpy": np.__version__}
    if backend == "c":
        from .backends import c_omp
        info["build"] = c_omp.build_info()
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _header(report):
    m, peak = report["machine"], report["peak_gflops"]
    peak_text = f"{peak:.1f} GFLOP/s measured now" if peak else "not measured"
    return (f"kernel ladder: backend {m['backend']}, {report['dtype']}, {m['threads']} threads, "
            f"{m['cpu']}\npeak (FMA, {m['threads']} threads): {peak_text}"
            + (f"\nbuild: {m['build']}" if "build" in m else ""))


def _row(primitive, label, step, ran, t, gflop, peak, previous):
    gflops = gflop / (t.median_ms * 1e-3)
    return {"primitive": primitive, "shape": label, "step": step.number, "name": step.name,
            "ran": ran, "ms": t.median_ms, "min_ms": t.min_ms, "max_ms": t.max_ms, "repeat": t.repeat,
            "spread": t.spread, "gflops": gflops, "percent_of_peak": 100 * gflops / peak if peak else None,
            "speedup_over_previous": previous / t.median_ms if previous else None}


def _format(r):
    ran = "" if r["ran"] in (None, r["step"]) else f"{r['step']}->{r['ran']}"
    pct = f"{r['percent_of_peak']:.1f}" if r["percent_of_peak"] is not None else "-"
    up = f"{r['speedup_over_previous']:.2f}" if r["speedup_over_previous"] else "-"
    return (f"{r['step']:>4} {r['name']:<22} {ran:>5} {r['ms']:>10.3f} {100 * r['spread']:>6.0f}% "
            f"{r['gflops']:>8.2f} {pct:>7} {up:>7}")


def plot(report, path):
    """Save the ladder's bar charts (pyconv.viz.benchmarks.plot_ladder) to `path`."""
    from .viz.benchmarks import plot_ladder
    _save(lambda: plot_ladder(report), path)


def _save(make, path):
    """Save the figure `make()` returns, with matplotlib's file-only backend."""
    try:
        import matplotlib
    except ImportError as exc:
        raise RuntimeError("--plot needs matplotlib: pip install -e '.[plot]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = make()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(args):
    """Run from `python -m pyconv bench --ladder` with its parsed arguments; returns the exit code."""
    backend = "cuda" if args.device == "cuda" else (args.backends or "c").split(",")[0]
    status = backends.available_backends().get(backend, "not registered")
    if status != "enabled":
        print(f"backend {backend!r} is not available: {status}")
        return 1
    ops = [args.op] if args.op else None
    if ops and ops[0] not in SHAPES:
        print(f"--op must be one of {', '.join(SHAPES)}")
        return 2
    report = run(backend, ops, np.dtype(args.dtype).type, args.repeat or 7)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.plot:
        plot(report, args.plot)
        print(f"plot written to {os.path.abspath(args.plot)}")
    return 1 if report["failures"] else 0
