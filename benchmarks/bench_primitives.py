"""pytest-benchmark suite: every enabled backend on the shapes of `python -m pyconv bench`.

    python -m pytest benchmarks/bench_primitives.py --benchmark-group-by=param:case,param:phase
    python -m pytest benchmarks/bench_primitives.py -k "c-" --benchmark-compare   # after --benchmark-save

The same cases and FLOP counts as the bench command (pyconv/bench.py); CPU backends only
(the GPU suite is benchmarks/bench_cuda.py).
"""
import numpy as np
import pytest

from pyconv import backends
from pyconv.bench import default_cases

CPU_BACKENDS = [n for n, s in backends.available_backends().items()
                if s == "enabled" and backends.module(n).DEVICE == "cpu"]
CASES = default_cases("cpu", quick=False)


@pytest.mark.parametrize("phase", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("case", CASES, ids=[f"{c.op}:{c.label}" for c in CASES])
@pytest.mark.parametrize("name", CPU_BACKENDS)
def test_primitive(benchmark, name, case, phase):
    fns = case.make(backends.module(name), np, np.float32, np.random.default_rng(0))
    benchmark.extra_info["gflop"] = case.flops / 1e9
    benchmark(fns[phase])
