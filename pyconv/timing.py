"""Timing a kernel: the one helper the benchmarks and tests use.

    t = pyconv.timing.measure(fn, repeat=7, warmup=1)
    print(t)                       # "3.142 ms (2.99-3.40, 7 runs)"
    t.median_ms, t.spread          # spread: (max - min) / median

Wall-clock time around each call (`sync` waits for a device after it); on a GPU, `cuda=True`
times with CUDA events instead, which leaves the host's launch overhead out. Report the median
and the spread together: on a shared or busy machine one run can be 10x another, and a median
without its spread hides that. Compare libraries only as ratios measured in one run.
"""
import statistics
import time
from typing import NamedTuple


class Timing(NamedTuple):
    median_ms: float
    min_ms: float
    max_ms: float
    repeat: int

    @property
    def spread(self):
        """(max - min) / median: 0.05 means the runs stayed within 5% of each other."""
        return (self.max_ms - self.min_ms) / self.median_ms if self.median_ms > 0 else 0.0

    def __str__(self):
        return f"{self.median_ms:.3f} ms ({self.min_ms:.3g}-{self.max_ms:.3g}, {self.repeat} runs)"


def _no_sync():
    pass


def measure(fn, *, repeat=7, warmup=1, sync=None, cuda=False, budget_s=None, clock=time.perf_counter):
    """Time `fn()`: `warmup` untimed calls, then `repeat` timed ones (fewer when `budget_s` is
    given and the calls are slow: at least 3, and no more than fit in the budget). `clock` may
    be time.process_time to count the process's CPU time instead of the wall clock."""
    sync = sync or _no_sync
    for _ in range(warmup):
        fn()
    sync()
    if cuda:
        def one():
            return _cuda_once(fn)
    else:
        def one():
            t0 = clock()
            fn()
            sync()
            return (clock() - t0) * 1e3
    times = [one()]
    if budget_s is not None and times[0] > 0:
        repeat = max(3, min(repeat, int(budget_s * 1e3 / times[0])))
    times += [one() for _ in range(repeat - 1)]
    return Timing(statistics.median(times), min(times), max(times), len(times))


def _cuda_once(fn):
    import cupy
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    return float(cupy.cuda.get_elapsed_time(start, stop))
