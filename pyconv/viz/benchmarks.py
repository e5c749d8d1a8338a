"""Figures of `python -m pyconv bench`: backends side by side per shape, and the kernel ladder.

Both take what the bench writes with --json (its rows, the ladder's report) and return a
matplotlib Figure; `python -m pyconv bench --plot PATH` and `bench --ladder --plot PATH` save
them. GFLOP/s on a log axis: the steps and backends span three orders of magnitude.
"""
from .figures import _grid, _pyplot


def plot_bench(rows, title=None):
    """One panel per (op, shape) of `bench` rows: a bar per backend, GFLOP/s (GB/s for pooling)."""
    plt = _pyplot()
    panels = list(dict.fromkeys((r["op"], r["shape"]) for r in rows))
    names = list(dict.fromkeys(r["backend"] for r in rows))
    nrows, ncols = _grid(len(panels), ncols=min(4, len(panels)) or 1)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(3.2 * ncols, 2.8 * nrows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (op, shape) in zip(axes.flat, panels):
        mine = [r for r in rows if (r["op"], r["shape"]) == (op, shape)]
        got = {r["backend"]: r.get("rate", r.get("gflops")) for r in mine}
        ax.bar(range(len(names)), [got.get(n, 0) for n in names],
               color=[colors[i % len(colors)] for i in range(len(names))])
        ax.set_xticks(range(len(names)), names, fontsize=7)
        ax.set_title(f"{op}\n{shape}", fontsize=7)
        ax.set_ylabel(mine[0].get("unit", "GFLOP/s"), fontsize=7)
        ax.set_yscale("log")
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_ladder(report):
    """One panel per (primitive, shape) of a ladder report: GFLOP/s per step, the peak as a line."""
    plt = _pyplot()
    panels = list(dict.fromkeys((r["primitive"], r["shape"]) for r in report["rows"]))
    nrows, ncols = _grid(len(panels), ncols=min(2, len(panels)) or 1)
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(5.5 * ncols, 3.2 * nrows))
    for ax, (primitive, shape) in zip(axes.flat, panels):
        rows = [r for r in report["rows"] if (r["primitive"], r["shape"]) == (primitive, shape)]
        ax.bar([f"{r['step']} {r['name']}" for r in rows], [r["gflops"] for r in rows], color="#4878a8")
        if report.get("peak_gflops"):
            ax.axhline(report["peak_gflops"], color="#c44e52", ls="--", lw=1, label="FMA peak")
            ax.legend(fontsize=7)
        ax.set_title(f"{primitive}\n{shape}", fontsize=8)
        ax.set_ylabel("GFLOP/s", fontsize=8)
        ax.set_yscale("log")
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
