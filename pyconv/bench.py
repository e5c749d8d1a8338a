"""`python -m pyconv bench`: validate each backend against the numpy reference, then time it.

Every primitive is called directly through the backend contract (no autograd), so the table
measures kernels. Each library (numpy, c, an external backend, PyTorch) runs in a fresh process
of its own, one after the other: two thread pools in one process fight over the cores. For each
(op, shape) and library one row: the median milliseconds over `repeat` runs after a warm-up, the
spread ((max - min) / median: rows above 25% are flagged), GFLOP/s (GB/s for pooling, which is
memory-bound) and the ratio to the baseline (the numpy reference; PyTorch on the GPU). The header
names the version, dtype, threads, CPU and load; --json stores it with the rows and the kernel
step each primitive ran.

FLOPs counted: conv2d forward 2*N*K*P*Q*C*R*S, forward+backward three times that (the input and
weight gradients are each one more GEMM of the same size); matmul 2*B*M*N*K, three times for
forward+backward; pooling one operation per window element (N*C*P*Q*R*S), twice with backward.
When PyTorch is importable its rows ("torch") are timed in the same run for comparison.
"""
import argparse
import json
import os
import platform
import sys
import time

import numpy as np

from . import backends, kernels, timing
from .backends import conformance, geometry

# (name, N, C, H, W, K, kernel, stride, padding)
CONV_SHAPES = [
    ("lenet-c1", 64, 1, 28, 28, 6, 5, 1, 2),
    ("lenet-c3", 64, 6, 14, 14, 16, 5, 1, 0),
    ("vgg-3x3", 32, 64, 32, 32, 64, 3, 1, 1),
    ("vgg-3x3-128", 32, 128, 16, 16, 128, 3, 1, 1),
    ("resnet-3x3", 16, 64, 56, 56, 64, 3, 1, 1),
    ("resnet-s2", 16, 64, 56, 56, 128, 3, 2, 1),
    ("resnet-1x1", 16, 256, 14, 14, 64, 1, 1, 0),
]
POOL_SHAPES = [("max", 64, 32, 28, 28, 2, 2), ("avg", 64, 32, 28, 28, 2, 2)]
MATMUL_SHAPES = [(1, 1024, 1024, 1024), (1, 64, 400, 120)]   # (B, M, K, N)

CUDA_CONV_SHAPES = [
    ("c64-32", 128, 64, 32, 32, 64, 3, 1, 1),
    ("c128-16", 128, 128, 16, 16, 128, 3, 1, 1),
    ("c64-56", 64, 64, 56, 56, 64, 3, 1, 1),
    ("c128-28", 64, 128, 28, 28, 128, 3, 1, 1),
    ("c256-14", 64, 256, 14, 14, 256, 3, 1, 1),
    ("c64-56-s2", 64, 64, 56, 56, 128, 3, 2, 1),
    ("c256-14-1x1", 64, 256, 14, 14, 64, 1, 1, 0),
    ("lenet-c1", 256, 1, 28, 28, 6, 5, 1, 2),
]
CUDA_MATMUL_SHAPES = [(1, 4096, 4096, 4096)]


# -- cases: each one prepares inputs and returns {"fwd": callable, "fwd+bwd": callable} ----------

class Case:
    """One (op, shape): `flops` per forward (the work rate of compute-bound ops), or, for
    memory-bound ones, `bytes` {phase: bytes moved} (their rate is GB/s)."""

    def __init__(self, op, label, flops, make, bytes=None):
        self.op, self.label, self.flops, self.make, self.bytes = op, label, flops, make, bytes

    def rate(self, phase, ms):
        """(rate, unit) of one timed phase."""
        if self.bytes:
            return self.bytes[phase] / ms / 1e6, "GB/s"
        return (1 if phase == "fwd" else 3) * self.flops / ms / 1e6, "GFLOP/s"


def conv_case(name, N, C, H, W, K, k, s, p):
    stride, padding, dilation = (s, s), (p, p, p, p), (1, 1)
    P, Q = geometry.conv_output_size(H, W, k, k, stride, padding, dilation)
    flops = 2.0 * N * K * P * Q * C * k * k

    def make(be, xp, dtype, rng):
        x = xp.asarray(rng.standard_normal((N, C, H, W)).astype(dtype))
        w = xp.asarray(rng.standard_normal((K, C, k, k)).astype(dtype))
        b = xp.asarray(rng.standard_normal(K).astype(dtype))
        dy = xp.asarray(rng.standard_normal((N, K, P, Q)).astype(dtype))

        def fwd():
            return be.conv2d_forward(x, w, b, stride, padding, dilation)

        def fwd_bwd():
            be.conv2d_forward(x, w, b, stride, padding, dilation)
            be.conv2d_backward_input(dy, w, x.shape, stride, padding, dilation)
            be.conv2d_backward_weight(dy, x, w.shape, stride, padding, dilation)
            return be.conv2d_backward_bias(dy)
        return {"fwd": fwd, "fwd+bwd": fwd_bwd}
    return Case("conv2d", f"{name} {N}x{C}x{H}x{W}->{K} k{k} s{s} p{p}", flops, make)


def pool_case(kind, N, C, H, W, k, s):
    kernel, stride, padding = (k, k), (s, s), (0, 0)
    P, Q = geometry.pool_output_size(H, W, kernel, stride, padding)
    flops = float(N * C * P * Q * k * k)

    def make(be, xp, dtype, rng):
        x = xp.asarray(rng.standard_normal((N, C, H, W)).astype(dtype))
        dy = xp.asarray(rng.standard_normal((N, C, P, Q)).astype(dtype))
        forward = getattr(be, f"{kind}_pool2d_forward")
        backward = getattr(be, f"{kind}_pool2d_backward")

        def fwd_bwd():
            if kind == "avg":
                forward(x, kernel, stride, padding)
                return backward(dy, x.shape, kernel, stride, padding)
            _, idx = forward(x, kernel, stride, padding)
            return backward(dy, idx, x.shape)
        return {"fwd": lambda: forward(x, kernel, stride, padding), "fwd+bwd": fwd_bwd}
    # bytes moved, float32/64 by the array's item size later: x read, y written (+ int64 indices
    # for max); backward reads dy (+ indices) and writes dx
    nx, ny = N * C * H * W, N * C * P * Q
    idx = 8 * ny if kind == "max" else 0
    traffic = {"fwd": (nx + ny, idx), "fwd+bwd": (2 * nx + 3 * ny, 2 * idx)}
    return Case(f"{kind}_pool2d", f"{N}x{C}x{H}x{W} k{k} s{s}", flops, make, bytes=traffic)


def matmul_case(B, M, K, N):
    flops = 2.0 * B * M * N * K

    def make(be, xp, dtype, rng):
        a = xp.asarray(rng.standard_normal((B, M, K)).astype(dtype))
        b = xp.asarray(rng.standard_normal((B, K, N)).astype(dtype))
        dc = xp.asarray(rng.standard_normal((B, M, N)).astype(dtype))

        def fwd_bwd():
            be.matmul(a, b)
            be.matmul_backward_a(dc, b)
            return be.matmul_backward_b(a, dc)
        return {"fwd": lambda: be.matmul(a, b), "fwd+bwd": fwd_bwd}
    label = f"{M}x{K} @ {K}x{N}" if B == 1 else f"{B}x{M}x{K} @ {B}x{K}x{N}"
    return Case("matmul", label, flops, make)


def default_cases(device, quick):
    if device == "cuda":
        conv, mm = CUDA_CONV_SHAPES, CUDA_MATMUL_SHAPES
    else:
        conv, mm = CONV_SHAPES, MATMUL_SHAPES
    if quick:  # a quarter of the batch (at least 1), every shape kept
        conv = [(n, max(1, N // 4), *rest) for n, N, *rest in conv]
        mm = [(B, min(M, 512), min(K, 512), min(N, 512)) for B, M, K, N in mm]
    cases = [conv_case(*s) for s in conv]
    cases += [pool_case(*s) for s in POOL_SHAPES]
    cases += [matmul_case(*s) for s in mm]
    return cases


# -- the torch comparison, when PyTorch is importable ------------------------------------------

class TorchBackend:
    """PyTorch (oneDNN on the CPU, cuDNN/cuBLAS on the GPU) behind the same primitive names."""
    NAME = "torch"

    def __init__(self, torch, device):
        self.torch, self.device = torch, device
        self.F = torch.nn.functional
        if device == "cuda":
            torch.backends.cudnn.allow_tf32 = False
            torch.backends.cuda.matmul.allow_tf32 = False

    def _t(self, a):
        return self.torch.as_tensor(a, device=self.device)

    def conv2d_forward(self, x, w, b, stride, padding, dilation):
        pt, _, pl, _ = padding
        return self.F.conv2d(self._t(x), self._t(w), self._t(b), stride, (pt, pl), dilation)

    def conv2d_backward_input(self, dy, w, x_shape, stride, padding, dilation):
        pt, _, pl, _ = padding
        return self.torch.nn.grad.conv2d_input(tuple(x_shape), self._t(w), self._t(dy), stride, (pt, pl), dilation)

    def conv2d_backward_weight(self, dy, x, w_shape, stride, padding, dilation):
        pt, _, pl, _ = padding
        return self.torch.nn.grad.conv2d_weight(self._t(x), w_shape, self._t(dy), stride, (pt, pl), dilation)

    def conv2d_backward_bias(self, dy):
        return self._t(dy).sum((0, 2, 3))

    def matmul(self, a, b):
        return self.torch.bmm(self._t(a), self._t(b))

    def matmul_backward_a(self, dc, b):
        return self.torch.bmm(self._t(dc), self._t(b).transpose(1, 2))

    def matmul_backward_b(self, a, dc):
        return self.torch.bmm(self._t(a).transpose(1, 2), self._t(dc))

    def make_pool_case(self, kind, x, dy, kernel, stride):
        """Pooling backward in torch goes through autograd: forward with grad, then backward."""
        fn = self.F.max_pool2d if kind == "max" else self.F.avg_pool2d
        xt, dyt = self._t(x), self._t(dy)  # converted once, outside the timed calls

        def fwd_bwd():
            xg = xt.detach().requires_grad_(True)
            fn(xg, kernel, stride).backward(dyt)
            return xg.grad
        return {"fwd": lambda: fn(xt, kernel, stride), "fwd+bwd": fwd_bwd}


class _TorchArrays:
    """`xp.asarray` for the torch rows: inputs are made torch tensors on the device once, up front."""

    def __init__(self, torch, device):
        self.torch, self.device = torch, device

    def asarray(self, a):
        return self.torch.as_tensor(a, device=self.device)


def _torch_or_none(device):
    try:
        import torch
    except Exception:
        return None
    if device == "cuda" and not torch.cuda.is_available():
        return None
    return torch


# -- validation and timing ------------------------------------------------------------------------

def validate(be, to_dev, to_host, dtype):
    """Failure lines of every primitive of `be` (its default steps) on the conformance cases;
    empty when the backend agrees with the numpy reference."""
    problems = [conformance.mismatch(be, primitive, case, dtype, to_dev=to_dev, to_host=to_host)
                for primitive in backends.PRIMITIVES for case in conformance.CASES[primitive]]
    return [p for p in problems if p]


BIG_SPREAD = 0.25   # rows whose (max - min) / median exceeds this are flagged: not comparable


def header(device, dtype, repeat, warmup):
    """What a number in the table depends on: printed above it and stored in the JSON."""
    from . import __version__
    from .ladder import _cpu_name
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    threads = None
    if backends.available_backends().get("c") == "enabled":
        threads = backends.module("c").get_num_threads()
    return {"pyconv": __version__, "device": device, "dtype": np.dtype(dtype).name, "threads": threads,
            "cpu": _cpu_name(), "cores": os.cpu_count(), "load_average": load, "repeat": repeat,
            "warmup": warmup, "python": platform.python_version(), "numpy": np.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def time_backend(name, device="cpu", quick=False, dtype=np.float32, repeat=7, warmup=1, threads=None,
                 register=None):
    """Validate and time one library (a pyconv backend, or "torch"); {"rows", "failures", "note"}.
    Run in a fresh process by `run`, so two libraries never share one process's thread pools."""
    if register:
        backends.register(*register)
    if threads:
        from . import set_num_threads
        set_num_threads(threads)
    if name == "torch":
        torch = _torch_or_none(device)
        if torch is None:
            return {"rows": [], "failures": [], "note": "torch: not importable here, not timed"}
        be, xp, note = TorchBackend(torch, device), _TorchArrays(torch, device), f"torch {torch.__version__}"
        torch.set_num_threads(threads or torch.get_num_threads())
    else:
        be = backends.module(name)
        xp = __import__("cupy") if device == "cuda" else np
        to_host = xp.asnumpy if device == "cuda" else np.asarray
        failures = [] if name == "numpy" else (validate(be, xp.asarray, to_host, dtype)
                                               + validate(be, xp.asarray, to_host, np.float64))
        if failures:
            return {"rows": [], "failures": failures, "note": f"{name}: FAILED validation, not timed"}
        note = f"{name}: validated against the numpy reference ({len(backends.PRIMITIVES)} primitives, float32 and float64)"
    rows = []
    for case in default_cases(device, quick):
        for phase in ("fwd", "fwd+bwd"):
            rows.append(_time_case(name, be, xp, case, phase, device, dtype, repeat, warmup))
    return {"rows": rows, "failures": [], "note": note}


def _time_case(name, be, xp, case, phase, device, dtype, repeat, warmup):
    rng = np.random.default_rng(1)
    fns = _torch_pool_fns(be, case, dtype, rng) if name == "torch" and "pool" in case.op else \
        case.make(be, xp, dtype, rng)
    sync = _torch_sync(be) if name == "torch" else _device_sync(device)
    t = timing.measure(fns[phase], repeat=repeat, warmup=warmup, sync=sync,
                       cuda=device == "cuda" and name != "torch")
    if case.bytes:   # element counts and index bytes, scaled by this dtype's size
        elems, idx = case.bytes[phase]
        case = Case(case.op, case.label, case.flops, case.make,
                    {phase: elems * np.dtype(dtype).itemsize + idx})
    value, unit = case.rate(phase, t.median_ms)
    steps = {p: kernels.ran(p, backend=name) for p in backends.PRIMITIVES
             if name != "torch" and name in backends.registered() and kernels.ran(p, backend=name)}
    from .memory import memory_stats
    return {"op": f"{case.op} {phase}", "shape": case.label, "backend": name, "ms": t.median_ms,
            "workspaces_bytes": memory_stats()["workspaces"] if name == "c" else None,
            "min_ms": t.min_ms, "max_ms": t.max_ms, "repeat": t.repeat, "spread": t.spread,
            "rate": value, "unit": unit, "gflops": value if unit == "GFLOP/s" else None, "steps": steps}


def _device_sync(device):
    if device != "cuda":
        return None
    import cupy
    return cupy.cuda.Device().synchronize


def _in_child(queue, args, kwargs):
    try:
        queue.put(time_backend(*args, **kwargs))
    except BaseException as exc:  # reported by the parent, which stays alive
        queue.put({"rows": [], "failures": [f"{type(exc).__name__}: {exc}"], "note": f"{args[0]}: crashed"})


def _fresh_process(name, **kwargs):
    """time_backend(name, ...) in a new Python process (spawned, not forked: no inherited pools)."""
    import multiprocessing
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(queue, (name,), kwargs))
    child.start()
    result = queue.get()
    child.join()
    return result


def run(backend_names, device="cpu", quick=False, dtype=np.float32, repeat=None, torch=True, out=print,
        threads=None, fresh=True):
    """Validate and time every library, each in a fresh process (`fresh`); print the table and
    return {"header": ..., "rows": [...]}."""
    repeat = repeat or (3 if quick else 7)
    head = header(device, dtype, repeat, 1)
    head["same_process"] = not fresh
    out(_header_text(head, fresh))
    names = list(backend_names) + (["torch"] if torch and _torch_or_none(device) is not None else [])
    rows = []
    for name in names:
        target = backends._MODULES.get(name)
        spawnable = fresh and (name == "torch" or isinstance(target, str))
        register = (name, target) if name not in backends._BUILTIN and isinstance(target, str) else None
        kwargs = dict(device=device, quick=quick, dtype=dtype, repeat=repeat, threads=threads, register=register)
        result = _fresh_process(name, **kwargs) if spawnable else time_backend(name, **kwargs)
        out(result["note"] + ("" if not result["failures"] else ":\n  " + "\n  ".join(result["failures"])))
        rows += result["rows"]
    base = "numpy" if device == "cpu" else "torch"
    for r in rows:
        ref = next((x["ms"] for x in rows if x["backend"] == base and (x["op"], x["shape"]) == (r["op"], r["shape"])), None)
        r["ratio_to_baseline"] = ref / r["ms"] if ref else None
    order = {key: i for i, key in enumerate(dict.fromkeys((r["op"], r["shape"]) for r in rows))}
    rows.sort(key=lambda r: (order[(r["op"], r["shape"])], names.index(r["backend"])))
    _print_table(rows, out, base)
    _warn(head, rows, out)
    return {"header": head, "rows": rows}


def _header_text(h, fresh):
    where = "each library in its own process" if fresh else "every library in this process"
    load = "?" if h["load_average"] is None else f"{h['load_average']:.2f}"
    return (f"pyconv {h['pyconv']} bench: {h['device']}, {h['dtype']}, {h['threads'] or 'default'} threads "
            f"(c backend), {h['cpu']} ({h['cores']} cores), load average {load}, "
            f"median of {h['repeat']} runs after {h['warmup']} warm-up; {where}")


def _warn(head, rows, out):
    noisy = [r for r in rows if r["spread"] > BIG_SPREAD]
    if noisy:
        out(f"WARNING: {len(noisy)} rows varied by more than {BIG_SPREAD:.0%} between runs (spread column): "
            f"their ratios are not reliable; rerun on a quiet machine with more --repeat")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load is not None and head["cores"] and max(load, head["load_average"] or 0) > head["cores"]:
        out(f"WARNING: the load average ({load:.1f}) exceeds the {head['cores']} cores: other work "
            f"shared the machine, the numbers are not comparable with a quiet run")


def _torch_sync(be):
    if be.device == "cuda":
        return be.torch.cuda.synchronize
    return lambda: None


def _torch_pool_fns(be, case, dtype, rng):
    kind = case.op.split("_")[0]
    dims = case.label.split()[0].split("x")
    N, C, H, W = (int(d) for d in dims)
    k = int(case.label.split()[1][1:])
    s = int(case.label.split()[2][1:])
    P, Q = geometry.pool_output_size(H, W, (k, k), (s, s), (0, 0))
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    dy = rng.standard_normal((N, C, P, Q)).astype(dtype)
    return be.make_pool_case(kind, x, dy, k, s)


def _print_table(rows, out, base):
    """Columns as wide as their longest entry; the rate in GFLOP/s, or GB/s for pooling."""
    label = f"x {base} reference" if base == "numpy" else f"x {base}"
    cells = [(r["op"], r["shape"], r["backend"], f"{r['ms']:.3f}", f"{100 * r['spread']:.0f}%",
              f"{r['rate']:.1f} {r['unit']}", "-" if r["ratio_to_baseline"] is None else f"{r['ratio_to_baseline']:.2f}")
             for r in rows]
    titles = ("op", "shape", "backend", "ms", "spread", "rate", label)
    widths = [max([len(t)] + [len(c[i]) for c in cells]) for i, t in enumerate(titles)]
    fmt = [str.ljust, str.ljust, str.ljust, str.rjust, str.rjust, str.rjust, str.rjust]
    line = "  ".join(f(t, w) for f, t, w in zip(fmt, titles, widths))
    out(line)
    out("-" * len(line))
    for c in cells:
        out("  ".join(f(v, w) for f, v, w in zip(fmt, c, widths)))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pyconv bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller batches and fewer repeats")
    parser.add_argument("--backends", help="comma-separated backends (default: every enabled one on the "
                        "device); module:name registers an external backend first")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, help="threads for the c backend")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeat", type=int, help="timed runs per row (median reported)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison rows")
    parser.add_argument("--json", metavar="PATH", help="also write the header and rows as JSON")
    parser.add_argument("--same-process", action="store_true",
                        help="time every library in this process (quicker to start; thread pools may "
                             "interfere, so cross-library ratios are less trustworthy)")
    parser.add_argument("--ladder", action="store_true",
                        help="every step of every kernel ladder (pyconv.kernels), validated, then timed "
                             "against this machine's measured FMA peak")
    parser.add_argument("--op", help="with --ladder: one primitive (e.g. conv2d_forward)")
    parser.add_argument("--plot", metavar="PATH", help="draw the table (backends side by side per "
                        "shape; with --ladder, the steps) as an image (needs matplotlib)")
    args = parser.parse_args(argv)
    if args.threads:
        from . import set_num_threads
        set_num_threads(args.threads)
    names = []
    for entry in filter(None, (n.strip() for n in (args.backends or "").split(","))):
        module, colon, name = entry.rpartition(":")
        if colon:                       # my_kernels:mine, an external backend
            backends.register(name, module)
        names.append(name)
    args.backends = ",".join(names) or None
    if args.ladder:
        from . import ladder
        return ladder.main(args)

    enabled = {n: s for n, s in backends.available_backends().items()}
    if not names:
        names = [n for n, s in enabled.items() if s == "enabled"
                 and backends.module(n).DEVICE == args.device]
    for n in names:
        if enabled.get(n) != "enabled":
            parser.error(f"backend {n!r} is not available: {enabled.get(n, 'not registered')}")
    for n, s in enabled.items():
        if s != "enabled":
            print(f"{n}: disabled ({s})")
    report = run(names, device=args.device, quick=args.quick, dtype=np.dtype(args.dtype).type,
                 repeat=args.repeat, torch=not args.no_torch, threads=args.threads,
                 fresh=not args.same_process)
    rows = report["rows"]
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    if args.plot:
        from . import ladder
        from .viz.benchmarks import plot_bench
        title = f"{args.device}, {args.dtype}, {args.threads or 'default'} threads"
        ladder._save(lambda: plot_bench(rows, title), args.plot)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
