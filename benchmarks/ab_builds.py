"""Two builds of the C extension in one process, their conv2d kernels called alternately.

    python benchmarks/ab_builds.py OLD.so NEW.so [threads] [fwd,bwd_in,bwd_w] [layer,...]

Build the older commit in a checkout of it (`python pyconv/_build_c.py`), then pass both
`pyconv/_cconv*.so` files. Both libraries are loaded with ctypes (RTLD_LOCAL, so their symbols do
not collide) and each call of one is followed by the same call of the other: both see the same
machine at the same moment, which on a shared machine is the only fair A/B. Reports the mean of
the fastest quarter of the calls. OLD.so may be a build from before the kernel steps existed
(entry points without `step, ran`): pass --old-unstepped.
"""
import ctypes
import sys
import time

import numpy as np

class Shape(ctypes.Structure):
    _fields_ = [(n, ctypes.c_int64) for n in "N C H W K R S P Q sh sw pt pl dh dw".split()]


class Lib:
    """The raw C entry points through ctypes (RTLD_LOCAL: two builds side by side)."""
    def __init__(self, path):
        self.lib = ctypes.CDLL(path, mode=ctypes.RTLD_LOCAL)


UNSTEPPED = "--old-unstepped" in sys.argv
ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
old, new = Lib(ARGS[0]), Lib(ARGS[1])
T = int(ARGS[2]) if len(ARGS) > 2 else 2
old.lib.pc_set_num_threads(T); new.lib.pc_set_num_threads(T)
rng = np.random.default_rng(0)
CONV_ALL = [("lenet-c1", (64, 1, 28, 28), (6, 1, 5, 5), 1, 2, 300), ("lenet-c3", (64, 6, 14, 14), (16, 6, 5, 5), 1, 0, 300),
        ("vgg-3x3", (32, 64, 32, 32), (64, 64, 3, 3), 1, 1, 24), ("vgg-3x3-128", (32, 128, 16, 16), (128, 128, 3, 3), 1, 1, 8),
        ("resnet-3x3", (16, 64, 56, 56), (64, 64, 3, 3), 1, 1, 6), ("resnet-s2", (16, 64, 56, 56), (128, 64, 3, 3), 2, 1, 8),
        ("resnet-1x1", (16, 256, 14, 14), (64, 256, 1, 1), 1, 0, 60)]

ONLY = ARGS[4].split(",") if len(ARGS) > 4 else []
CONV = [c for c in CONV_ALL if not ONLY or c[0] in ONLY]


def conv_calls(m, extra, xs, ws, s, p):
    N, C, H, W = xs; K, _, R, S = ws
    P = (H + 2 * p - R) // s + 1; Q = (W + 2 * p - S) // s + 1
    sh = ctypes.byref(Shape(N, C, H, W, K, R, S, P, Q, s, s, p, p, 1, 1))
    x = rng.standard_normal(xs, dtype=np.float32); w = rng.standard_normal(ws, dtype=np.float32)
    y = np.empty((N, K, P, Q), np.float32); dy = rng.standard_normal(y.shape, dtype=np.float32)
    dx = np.empty(xs, np.float32); dw = np.empty(ws, np.float32)
    f = lambda a: a.ctypes.data_as(ctypes.c_void_p)
    px, pw, py, pdy, pdx, pdw = map(f, (x, w, y, dy, dx, dw))
    L = m.lib
    return {"fwd": lambda: L.pc_conv2d_forward_f32(sh, px, pw, None, py, *extra),
            "bwd_in": lambda: L.pc_conv2d_backward_input_f32(sh, pdy, pw, pdx, *extra),
            "bwd_w": lambda: L.pc_conv2d_backward_weight_f32(sh, pdy, px, pdw, *extra)}

def best_pair(fa, fb, n):
    ta, tb = [], []
    for _ in range(2):
        fa(); fb()
    for _ in range(n):
        t = time.perf_counter(); fa(); ta.append(time.perf_counter() - t)
        t = time.perf_counter(); fb(); tb.append(time.perf_counter() - t)
    ta.sort(); tb.sort(); k = max(1, n // 4)
    return sum(ta[:k]) / k * 1e3, sum(tb[:k]) / k * 1e3   # mean of the fastest quarter

DIRS = ARGS[3].split(",") if len(ARGS) > 3 else ("fwd", "bwd_in", "bwd_w")
print(f"threads {T}; mean of the fastest quarter of interleaved calls, ms")
print(f"{'kernel':<24}{'before':>9}{'after':>9}{'after/before':>13}")
for name, xs, ws, s, p, n in CONV:
    a = conv_calls(old, () if UNSTEPPED else (0, None), xs, ws, s, p)
    b = conv_calls(new, (0, None), xs, ws, s, p)
    for d in DIRS:
        ta, tb = best_pair(a[d], b[d], n)
        print(f"{name + ' ' + d:<24}{ta:>9.3f}{tb:>9.3f}{tb / ta:>13.3f}", flush=True)
