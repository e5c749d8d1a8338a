"""One training epoch, pyconv against PyTorch on the same CPU cores, each in a process of its own.

    python benchmarks/epoch_vs_torch.py [--model lenet5] [--limit 60000] [--threads 2]
                                        [--rounds 1] [--data-dir ../shared/data/mnist]

The setting of the LeNet-5 measurement in benchmarks/NOTES.md: MNIST training images (the first
`limit` of the 60k), scaled to [0, 1] and normalised, batch 64 in a fixed shuffled order, Adam
(lr 1e-3), cross-entropy, no augmentation, float32. Both libraries get the same images in the same
order and the same architecture (`pyconv.models` and its PyTorch transcription below); the
data is in memory before the clock starts, so the time is the model's: forward, backward,
optimizer step. `--model vgg` and `--model resnet` time the small VGG- and ResNet-style nets of
`pyconv.models` on the same inputs (use `--limit` to keep them short).

`--breakdown` times pyconv alone and prints where a step's time goes: the milliseconds per step
inside each C entry point (conv2d, pooling, matmul, batch norm, ReLU, the optimizer update), the
rest being Python (autograd, modules, numpy glue).

Rounds alternate pyconv and PyTorch (fresh processes each time, so two OpenMP runtimes never share
the cores) and the table reports each library's best epoch and the ratio pyconv/torch (below 1:
pyconv is faster). With no PyTorch installed the torch column stays empty. Without the MNIST files
(`--data-dir`, or PYCONV_DATA) random images of the same shape are used and the header says so.
"""
import argparse
import multiprocessing
import os
import time

import numpy as np


def images(data_dir, limit, seed=0):
    """(x float32 N x 1 x 28 x 28, y int64 N, source): MNIST's first `limit` training images."""
    try:
        from pyconv.data import MNIST
        ds = MNIST(data_dir, train=True, download=False)
        x = np.asarray(ds.data[:limit], dtype=np.float32)[:, None] / 255.0
        y = np.asarray(ds.targets[:limit], dtype=np.int64)
        source = "MNIST"
    except (OSError, RuntimeError, ValueError):
        rng = np.random.default_rng(seed)
        x = rng.random((limit, 1, 28, 28), dtype=np.float32)
        y = rng.integers(0, 10, limit)
        source = "random images (MNIST not found)"
    x = (x - 0.1307) / 0.3081
    return np.ascontiguousarray(x, dtype=np.float32), y, source


def torch_model(name):
    """The PyTorch transcription of pyconv.models' `name` (same layers, same shapes)."""
    import torch.nn as nn
    if name == "lenet5":
        return nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, 10))
    if name == "vgg":
        layers, c = [], 1
        for stage in ((32, 32), (64, 64)):
            for width in stage:
                layers += [nn.Conv2d(c, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
                c = width
            layers.append(nn.MaxPool2d(2))
        return nn.Sequential(*layers, nn.Flatten(), nn.Linear(64 * 7 * 7, 256), nn.ReLU(),
                             nn.Dropout(0.5), nn.Linear(256, 10))
    if name == "resnet":
        return _torch_resnet()
    raise ValueError(f"no PyTorch transcription of {name!r}")


def _torch_resnet():
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
            self.shortcut = (nn.Identity() if stride == 1 and cin == cout else
                             nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

        def forward(self, x):
            return (self.body(x) + self.shortcut(x)).relu()

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


def epoch_seconds(lib, model_name, x, y, threads, batch=64):
    """Seconds for one epoch of `lib` over (x, y) in a fixed shuffled order, after a warm-up."""
    order = np.random.default_rng(0).permutation(len(x))
    batches = [order[i:i + batch] for i in range(0, len(x), batch)]
    if lib == "torch":
        import torch
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model, tensor, F = torch_model(model_name), torch.from_numpy, torch.nn.functional
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    else:
        import pyconv
        from pyconv.models import get_model
        pyconv.set_num_threads(threads)
        pyconv.manual_seed(0)
        model, tensor, F = get_model(model_name), pyconv.tensor, pyconv.nn.functional
        opt = pyconv.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(idx):
        xb, yb = tensor(x[idx]), tensor(y[idx])
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss
    for idx in batches[:5]:
        step(idx)
    t = time.perf_counter()
    for idx in batches:
        loss = step(idx)
    elapsed = time.perf_counter() - t
    return elapsed, float(loss.item())


_TIMED = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias",
          "max_pool2d_forward", "max_pool2d_backward", "matmul", "matmul_backward_a", "matmul_backward_b",
          "batch_norm_forward", "batch_norm_backward", "relu_forward", "relu_backward", "fused_adam_",
          "fused_sgd_")


def breakdown(args):
    """ms per step inside each C entry point of the c backend during one pyconv epoch."""
    import collections
    from pyconv.backends import c_omp
    spent, calls = collections.defaultdict(float), collections.Counter()

    def timed(name, fn):
        def wrapper(*a, **k):
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t
                calls[name] += 1
        return wrapper
    for name in _TIMED:
        setattr(c_omp, name, timed(name, getattr(c_omp, name)))
    x, y, source = images(args.data_dir, args.limit)
    seconds, _ = epoch_seconds("pyconv", args.model, x, y, args.threads)
    steps = -(-len(x) // 64)
    warm = 5   # epoch_seconds' warm-up steps are counted in the kernels' totals: scale them out
    scale = 1e3 / (steps + warm)
    print(f"{args.model}, {args.limit} images of {source}, {args.threads} threads: "
          f"{seconds / steps * 1e3:.2f} ms/step")
    for name in sorted(spent, key=spent.get, reverse=True):
        print(f"  {name:<24} {spent[name] * scale:7.3f} ms/step  {calls[name] / (steps + warm):4.1f} calls")
    inside = sum(spent.values()) * scale
    print(f"  {'in C, all':<24} {inside:7.3f} ms/step; the rest, Python: {seconds / steps * 1e3 - inside:.3f}")


def child(lib, args, queue):
    x, y, _ = images(args.data_dir, args.limit)
    queue.put(epoch_seconds(lib, args.model, x, y, args.threads))


def run_in_child(lib, args):
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    p = ctx.Process(target=child, args=(lib, args, queue))
    p.start()
    result = queue.get()
    p.join()
    return result


def torch_available():
    try:
        import importlib.util
        return importlib.util.find_spec("torch") is not None
    except ValueError:
        return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="lenet5", choices=("lenet5", "vgg", "resnet"))
    ap.add_argument("--limit", type=int, default=60000, help="training images (default all 60000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="alternating pyconv/torch rounds (best kept)")
    ap.add_argument("--data-dir", default=os.environ.get("PYCONV_DATA"))
    ap.add_argument("--breakdown", action="store_true", help="pyconv only: ms per step in each C kernel")
    args = ap.parse_args()
    if args.breakdown:
        return breakdown(args)
    _, _, source = images(args.data_dir, 1)
    libs = ["pyconv"] + (["torch"] if torch_available() else [])
    best = {}
    for r in range(args.rounds):
        for lib in libs:
            seconds, loss = run_in_child(lib, args)
            print(f"round {r + 1} {lib:<7} {seconds:7.2f} s  last loss {loss:.3f}", flush=True)
            best[lib] = min(best.get(lib, float("inf")), seconds)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"{args.model}, {args.limit} images of {source}, batch 64, Adam, float32, "
          f"{args.threads} threads, load average {load:.1f} on {os.cpu_count()} cores")
    line = f"best epoch: pyconv {best['pyconv']:.2f} s"
    if "torch" in best:
        line += f", torch {best['torch']:.2f} s, pyconv/torch {best['pyconv'] / best['torch']:.2f}"
    print(line)


if __name__ == "__main__":
    main()
