"""The bench command runs end to end (tiny repeat count) and writes its JSON."""
import json

from pyconv import bench


def test_bench_numpy_quick_table(tmp_path, capsys):
    path = tmp_path / "rows.json"
    assert bench.main(["--quick", "--backends", "numpy", "--repeat", "1", "--no-torch",
                       "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv2d fwd+bwd" in out and "GFLOP/s" in out
    report = json.loads(path.read_text())
    rows = report["rows"]
    ops = {r["op"].split()[0] for r in rows}
    assert {"conv2d", "max_pool2d", "avg_pool2d", "matmul"} <= ops
    assert all(r["ms"] > 0 and r["backend"] == "numpy" and r["repeat"] == 1 for r in rows)
    assert {r["unit"] for r in rows if "pool" in r["op"]} == {"GB/s"}
    assert {r["unit"] for r in rows if "pool" not in r["op"]} == {"GFLOP/s"}
    head = report["header"]
    assert head["dtype"] == "float32" and head["repeat"] == 1 and head["cpu"]
    assert "each library in its own process" in out and "x numpy reference" in out


def _tiny_ladder(monkeypatch):
    """The ladder bench on small shapes: what it prints and writes, not how fast."""
    from pyconv import ladder
    conv = [("tiny conv", ((2, 3, 9, 9), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)))]
    pool = [("tiny pool", ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0)))]
    shapes = {op: (pool if "pool" in op else [("tiny mm", (1, 9, 7, 5))] if op == "matmul" else conv)
              for op in ladder.SHAPES}
    monkeypatch.setattr(ladder, "SHAPES", shapes)
    monkeypatch.setattr(ladder, "STEP_BUDGET_S", 0.05)
    return ladder


def test_ladder_validates_and_times_every_step(tmp_path, capsys, monkeypatch):
    import pytest
    from pyconv import backends, kernels
    if backends.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    ladder = _tiny_ladder(monkeypatch)
    path = tmp_path / "ladder.json"
    assert bench.main(["--ladder", "--repeat", "2", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "peak (FMA, " in out and "% peak" in out
    report = json.loads(path.read_text())
    assert report["failures"] == [] and report["peak_gflops"] > 0
    for primitive in ladder.laddered("c"):
        steps = [r["step"] for r in report["rows"] if r["primitive"] == primitive]
        assert steps == [s.number for s in kernels.available(primitive, backend="c")], primitive
    assert all(r["gflops"] > 0 and r["ran"] <= r["step"] for r in report["rows"])


def test_ladder_reports_a_step_that_disagrees(capsys, monkeypatch):
    import numpy as np
    import pytest
    from pyconv import backends
    from pyconv.backends import c_omp
    if backends.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    ladder = _tiny_ladder(monkeypatch)
    real = c_omp.matmul

    def off_by_one(a, b):
        return real(a, b) + np.asarray(1, a.dtype)
    monkeypatch.setattr(c_omp, "matmul", off_by_one)
    report = ladder.run("c", ["matmul"], np.float32, repeat=1, out=lambda line: None)
    assert report["failures"] and "matmul" in report["failures"][0]


def test_plots_of_the_table_and_of_the_ladder(tmp_path, monkeypatch):
    import pytest
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(bench, "default_cases", lambda device, quick: [bench.matmul_case(1, 8, 8, 8)])
    path = tmp_path / "bench.png"
    assert bench.main(["--backends", "numpy", "--repeat", "1", "--no-torch", "--same-process", "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000
    from pyconv import backends
    if backends.available_backends()["c"] != "enabled":
        return
    _tiny_ladder(monkeypatch)
    path = tmp_path / "ladder.png"
    assert bench.main(["--ladder", "--op", "matmul", "--repeat", "1", "--plot", str(path)]) == 0
    assert path.stat().st_size > 1000
