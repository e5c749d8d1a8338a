"""Per-op overhead on tiny tensors: pyconv against PyTorch, each in a process of its own.

    python benchmarks/op_overhead.py [--repeat 2000]

Two workloads where the arithmetic is negligible and the framework's bookkeeping is the time:
  chain   four elementwise ops and a sum on 4x4 tensors, then backward()
  conv    a tiny conv2d (1x1x6x6 input, 2 3x3 filters) forward and backward
Each is timed as the minimum over `repeat` calls (the least noisy statistic on a shared machine)
after a warm-up, in a fresh process per library with one thread; `rounds` alternate the two
libraries (so a burst of load hits both) and the best of the rounds is kept. The ratio
pyconv/torch is printed (below 1: pyconv has less overhead).
"""
import argparse
import multiprocessing
import time


def workloads(lib):
    import numpy as np
    if lib == "torch":
        import torch as pc
        import torch.nn.functional as F
        pc.set_num_threads(1)

        def tensor(a):
            return torch_tensor(a)
        torch_tensor = lambda a: pc.tensor(a, requires_grad=True)  # noqa: E731
    else:
        import pyconv as pc
        import pyconv.nn.functional as F
        pc.set_num_threads(1)

        def tensor(a):
            return pc.tensor(a, requires_grad=True)
    rng = np.random.default_rng(0)
    x, w, b = (tensor(rng.standard_normal((4, 4)).astype(np.float32)) for _ in range(3))
    img = tensor(rng.standard_normal((1, 1, 6, 6)).astype(np.float32))
    k = tensor(rng.standard_normal((2, 1, 3, 3)).astype(np.float32))

    def chain():
        ((x * w + b).relu() * 2.0).sum().backward()

    def conv():
        F.conv2d(img, k, padding=1).sum().backward()
    return {"chain": chain, "conv": conv}


def best_us(fn, repeat):
    for _ in range(50):
        fn()
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e6


def child(lib, repeat, queue):
    queue.put({name: best_us(fn, repeat) for name, fn in workloads(lib).items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    results = {}
    for _ in range(args.rounds):
        for lib in ("pyconv", "torch"):
            queue = ctx.Queue()
            p = ctx.Process(target=child, args=(lib, args.repeat, queue))
            p.start()
            got = queue.get()
            p.join()
            best = results.setdefault(lib, got)
            for name, us in got.items():
                best[name] = min(best[name], us)
    print(f"{'workload':<8} {'pyconv us':>10} {'torch us':>10} {'pyconv/torch':>13}")
    for name in results["pyconv"]:
        a, b = results["pyconv"][name], results["torch"][name]
        print(f"{name:<8} {a:>10.1f} {b:>10.1f} {a / b:>13.2f}")


if __name__ == "__main__":
    main()
