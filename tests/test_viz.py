"""pyconv.viz: the DOT text of small graphs of Values and Tensors (no package needed), and the
matplotlib figures on the Agg backend (skipped without matplotlib)."""
import importlib.util
import os
import re
import shutil

import numpy as np
import pytest

import pyconv as pc
import pyconv.nn.functional as F
from pyconv import nn, viz
from pyconv.scalar import Value


def neuron():
    x1, x2, w1, w2, b = Value(2.0), Value(0.0), Value(-3.0), Value(1.0), Value(6.8813735870195432)
    out = (x1 * w1 + x2 * w2 + b).tanh()
    out.backward()
    return out, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b}


def labels(dot):
    return re.findall(r'label="([^"]*)"', dot)


def test_dot_of_a_value_graph():
    out, names = neuron()
    dot = viz.to_dot(out, names)
    assert dot.startswith("digraph pyconv {") and dot.rstrip().endswith("}")
    found = labels(dot)
    assert len(found) == 10 and dot.count("->") == 9  # 5 leaves, 2 *, 2 +, tanh; an edge per input
    assert "tanh\\n() float64\\ndata 0.7071 | grad 1" in found
    assert "x1\\n() float64\\ndata 2 | grad -1.5" in found
    assert "w1\\n() float64\\ndata -3 | grad 1" in found
    assert sum(label.startswith("*\\n") for label in found) == 2


def test_a_value_used_twice_has_one_node_and_two_edges_in():
    a = Value(3.0)
    y = a * a
    nodes, edges = viz.graph_nodes(y)
    assert len(nodes) == 2 and len(edges) == 1  # one edge per distinct input


def test_dot_of_a_tensor_graph_names_ops_shapes_dtypes_and_saved_bytes():
    x = pc.tensor(np.ones((2, 1, 8, 8), np.float32))
    w = pc.tensor(np.ones((3, 1, 3, 3), np.float32), requires_grad=True)
    loss = F.max_pool2d(F.relu(F.conv2d(x, w)), 2).sum()
    nodes, edges = viz.graph_nodes(loss, {"w": w})
    ops = {n["op"]: n for n in nodes if n["kind"] == "op"}
    assert list(ops) == ["Conv2d", "ReLU", "MaxPool2d", "Sum"]  # forward order
    assert ops["Conv2d"]["shape"] == (2, 3, 6, 6) and ops["MaxPool2d"]["shape"] == (2, 3, 3, 3)
    assert ops["Sum"]["shape"] == () and ops["Sum"]["dtype"] == "float32" and ops["Sum"]["root"]
    assert ops["Conv2d"]["saved_bytes"] == x.numpy().nbytes + w.numpy().nbytes  # conv keeps x and w
    leaves = [n for n in nodes if n["kind"] == "leaf"]
    assert {n["name"] for n in leaves} == {"w", None}
    assert [n["requires_grad"] for n in leaves if n["name"] is None] == [False]
    assert len(edges) == 5
    dot = viz.to_dot(loss, {"w": w})
    assert "Conv2d\\n(2, 3, 6, 6) float32\\nsaved 620 B" in labels(dot)
    assert "w\\n(3, 1, 3, 3) float32" in labels(dot)
    assert "(2, 1, 8, 8) float32\\nno grad" in dot and "dashed" in dot


def test_a_leaf_tensor_is_a_graph_of_one_node():
    t = pc.tensor([1.0, 2.0], requires_grad=True)
    nodes, edges = viz.graph_nodes(t)
    assert len(nodes) == 1 and edges == [] and nodes[0]["shape"] == (2,)
    with pytest.raises(TypeError, match="Value or Tensor"):
        viz.to_dot(np.ones(3))


def test_draw_graph_returns_an_object_with_the_dot_source():
    out, names = neuron()
    g = viz.draw_graph(out, names)
    assert "tanh" in g.source and "->" in g.source


def test_draw_graph_without_the_graphviz_package(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_graphviz(name, *args, **kwargs):
        if name == "graphviz":
            raise ImportError("no graphviz")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_graphviz)
    out, _ = neuron()
    g = viz.draw_graph(out)
    assert isinstance(g, viz.DotGraph) and g.source == viz.to_dot(out)


def test_rendering_without_dot_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    out, _ = neuron()
    with pytest.raises(viz.GraphvizMissing, match="Graphviz `dot` program.*install Graphviz"):
        viz.render_graph(out, str(tmp_path / "g.png"))


@pytest.mark.skipif(shutil.which("dot") is None, reason="the Graphviz dot program is not installed")
def test_render_png(tmp_path):
    out, names = neuron()
    path = viz.render_graph(out, str(tmp_path / "g.png"), names)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


# -- figures ---------------------------------------------------------------------------------------
@pytest.fixture
def plt():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    yield plt
    plt.close("all")


def small_net():
    nn.init.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def test_show_filters(plt):
    net = small_net()
    fig = viz.show_filters(net[0])
    assert sum(ax.get_images() != [] for ax in fig.axes) == 4
    fig = viz.show_filters(net[3])  # 6 filters of 4 channels: a row per filter
    assert sum(ax.get_images() != [] for ax in fig.axes) == 24
    with pytest.raises(ValueError, match="K, C, R, S"):
        viz.show_filters(np.ones((3, 3)))


def test_activations_and_feature_maps(plt, tmp_path):
    net = small_net()
    x = pc.tensor(np.random.default_rng(0).random((2, 1, 8, 8)).astype(np.float32))
    acts = viz.activations(net, x, layers=["0", net[2]])
    assert {k: v.shape for k, v in acts.items()} == {"0": (2, 4, 8, 8), "2": (2, 4, 4, 4)}
    assert not any(m._forward_hooks for m in net.modules())  # the hooks are removed
    fig = viz.feature_maps(net, x)  # every Conv2d by default
    assert sum(ax.get_images() != [] for ax in fig.axes) == 1 + 4 + 6
    fig.savefig(tmp_path / "maps.png")
    with pytest.raises(ValueError, match="no layer named 'conv9'"):
        viz.activations(net, x, ["conv9"])


def test_plot_confusion(plt, tmp_path):
    counts = np.array([[5, 1, 0], [2, 3, 0], [0, 0, 4]])
    fig = viz.plot_confusion(counts, ["cat", "dog", "bird"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]
    assert [t.get_text() for t in ax.texts][:3] == ["5", "1", "0"]
    assert "accuracy 80.0%" in ax.get_title()
    fig = viz.plot_confusion(counts, normalize=True)
    assert fig.axes[0].texts[0].get_text() == "0.83"
    fig.savefig(tmp_path / "cm.png")
    with pytest.raises(ValueError, match="2 class names"):
        viz.plot_confusion(counts, ["a", "b"])


def test_missing_matplotlib_names_the_extra(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pyconv\[viz\]"):
        viz.plot_confusion(np.eye(2))


# -- docs/make_figures.py ------------------------------------------------------------------------------
DOCS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs")


def test_make_figures_runs(plt, tmp_path):
    spec = importlib.util.spec_from_file_location("make_figures", os.path.join(DOCS, "make_figures.py"))
    make_figures = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_figures)
    make_figures.find_mnist = lambda data_dir: None  # synthetic digits: fast and the same everywhere
    written = make_figures.main(["--out", str(tmp_path), "--train-images", "60", "--test-images", "20",
                                 "--epochs", "1"])
    names = {os.path.basename(p) for p in written}
    expected = {"conv_example.png", "pooling_example.png", "lenet5_filters.png", "lenet5_feature_maps.png",
                "lenet5_curves.png", "lenet5_confusion.png"}
    assert expected | ({"neuron_graph.png"} if shutil.which("dot") else set()) == names
    for path in written:
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) < 150_000


def test_committed_figures_are_small_pngs():
    folder = os.path.join(DOCS, "figures")
    if not os.path.isdir(folder):
        pytest.skip("docs/figures/ not present")
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        assert name.endswith(".png") and os.path.getsize(path) < 150_000, name
