"""Best-of-many wall time of a few small c-backend calls, where per-call overhead (validation,
the wrapper, OpenMP wake-up) is a visible share of the time.

    OMP_NUM_THREADS=2 PYTHONPATH=. python benchmarks/c_call_overhead.py LABEL

Compare two builds by running it alternately in separate processes (PYTHONPATH pointing at
each checkout); the minimum over many calls is the least noisy statistic on a shared machine.
"""
import sys

import numpy as np

from pyconv import timing
from pyconv.backends import c_omp as c


def best(f, n):
    return timing.measure(f, repeat=n, warmup=0).min_ms * 1e-3


def main(label):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 64, 400), dtype=np.float32)
    b = rng.standard_normal((1, 400, 120), dtype=np.float32)
    x = rng.standard_normal((64, 6, 14, 14), dtype=np.float32)
    w = rng.standard_normal((16, 6, 5, 5), dtype=np.float32)
    for _ in range(20):
        c.matmul(a, b)
    matmul = best(lambda: c.matmul(a, b), 2000)
    conv = best(lambda: c.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1)), 300)
    print(f"{label} matmul 64x400@400x120 min {matmul * 1e6:.1f} us | "
          f"LeNet conv2 forward 64x6x14x14 k5 min {conv * 1e6:.1f} us")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
