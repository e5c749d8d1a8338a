"""The bench command runs end to end (tiny repeat count) and writes its JSON."""
import json

from pyconv import bench


def test_bench_numpy_quick_table(tmp_path, capsys):
    path = tmp_path / "rows.json"
    assert bench.main(["--quick", "--backends", "numpy", "--repeat", "1", "--no-torch",
                       "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "conv2d fwd+bwd" in out and "GFLOP/s" in out
    rows = json.loads(path.read_text())
    ops = {r["op"].split()[0] for r in rows}
    assert {"conv2d", "max_pool2d", "avg_pool2d", "matmul"} <= ops
    assert all(r["ms"] > 0 and r["backend"] == "numpy" for r in rows)
