"""Regenerate every figure of docs/figures/ (the book's pictures) with pyconv itself.

    python docs/make_figures.py                 # all figures, into docs/figures/
    python docs/make_figures.py --only conv_example,pooling_example --out /tmp/figs

Needs matplotlib; the computation graph also needs the Graphviz `dot` program (without it that
figure is skipped with a note, the others are made). Everything is seeded, so a rerun on the same
data gives the same pictures. The MNIST files are used when they are found (--data-dir, else
$PYCONV_DATA, else ../shared/data/mnist next to the repository); otherwise the LeNet-5 figures use
synthetic digits and say so in their titles.

Figures (PNG, each well under 150 KB):
  neuron_graph.png        the graph of the tanh neuron of chapter 1 (pyconv.viz.render_graph)
  conv_example.png        the 5x5 image, the 3x3 mask and their 3x3 cross-correlation (chapter 5)
  pooling_example.png     2x2/2 max and average pooling of a 4x4 input (chapter 6)
  lenet5_filters.png      the 6 first-layer filters of a seeded, untrained LeNet-5
  lenet5_feature_maps.png that model's feature maps of one digit
  lenet5_curves.png       loss, accuracy and learning rate of a tiny training run (chapter 9)
  lenet5_confusion.png    the confusion matrix of that run on held-out images
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
if REPO not in sys.path:
    sys.path.insert(0, REPO)  # the checkout's pyconv, even when another one is installed

import pyconv as pc  # noqa: E402
from pyconv import data, models, nn, optim, viz  # noqa: E402
from pyconv import train as training  # noqa: E402
from pyconv.scalar import Value  # noqa: E402

IMAGE = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float)
MASK = np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float)
POOL_INPUT = np.array([[1, 2, 0, 2], [1, 4, 2, 0], [4, 3, 1, 0], [1, 2, 2, 1]], float)
DPI = 90


def pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")
    return path


# -- chapter 1: the graph of a neuron ---------------------------------------------------------------
def neuron_graph(out, **_):
    x1, x2, w1, w2 = Value(2.0), Value(0.0), Value(-3.0), Value(1.0)
    b = Value(6.8813735870195432)
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    path = os.path.join(out, "neuron_graph.png")
    try:
        viz.render_graph(o, path, names={"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b}, dpi=72)
    except viz.GraphvizMissing as exc:
        print(f"skipped neuron_graph.png: {exc}")
        return None
    print(f"wrote {path} ({os.path.getsize(path) // 1024} KB)")
    return path


# -- chapters 5 and 6: worked examples as grids of numbers -----------------------------------------
def _number_grid(ax, values, title, highlight=None, color="#f6d8b8", fmt="{:g}"):
    """values as a table of numbers; `highlight` a list of (rows slice, cols slice, color)."""
    rows, cols = values.shape
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    plt = pyplot()
    for (rs, cs, c) in highlight or []:
        for i in range(rows)[rs]:
            for j in range(cols)[cs]:
                ax.add_patch(plt.Rectangle((j, i), 1, 1, color=c, zorder=0))
    for i in range(rows + 1):
        ax.plot([0, cols], [i, i], color="black", lw=0.8)
    for j in range(cols + 1):
        ax.plot([j, j], [0, rows], color="black", lw=0.8)
    for i in range(rows):
        for j in range(cols):
            ax.text(j + 0.5, i + 0.5, fmt.format(values[i, j]), ha="center", va="center", fontsize=12)
    ax.set_title(title, fontsize=11)


def conv_example(out, **_):
    import pyconv.nn.functional as F
    y = F.conv2d(pc.tensor(IMAGE[None, None]), pc.tensor(MASK[None, None])).numpy()[0, 0]
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), gridspec_kw={"width_ratios": [5, 3, 3]})
    window = (slice(0, 3), slice(1, 4), "#f6d8b8")
    _number_grid(axes[0], IMAGE, "image x (5x5)", [window])
    _number_grid(axes[1], MASK, "mask w (3x3)", [(slice(None), slice(None), "#dbe9f6")])
    _number_grid(axes[2], y, "y = x ⊛ w (3x3)", [(slice(0, 1), slice(1, 2), "#f6d8b8")])
    fig.suptitle("y[0,1] = sum of x[0:3, 1:4] * w = 1+0+0 + 0+1+0 + 0+1+1 = 3", fontsize=10, y=0.02)
    return save(fig, out, "conv_example.png")


def pooling_example(out, **_):
    import pyconv.nn.functional as F
    x = pc.tensor(POOL_INPUT[None, None])
    ymax = F.max_pool2d(x, 2).numpy()[0, 0]
    yavg = F.avg_pool2d(x, 2).numpy()[0, 0]
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2), gridspec_kw={"width_ratios": [4, 2, 2]})
    colors = ["#f6d8b8", "#dbe9f6", "#d8f0d2", "#f3d6e7"]
    windows = [(slice(r, r + 2), slice(c, c + 2), colors[k]) for k, (r, c) in enumerate([(0, 0), (0, 2), (2, 0), (2, 2)])]
    _number_grid(axes[0], POOL_INPUT, "input (4x4), 2x2 windows, stride 2", windows)
    cells = [(slice(r, r + 1), slice(c, c + 1), colors[k]) for k, (r, c) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)])]
    _number_grid(axes[1], ymax, "max pooling", cells)
    _number_grid(axes[2], yavg, "average pooling", cells)
    return save(fig, out, "pooling_example.png")


# -- chapter 9: LeNet-5 -----------------------------------------------------------------------------
def find_mnist(data_dir):
    for d in [data_dir, os.environ.get("PYCONV_DATA"), os.path.join(REPO, "..", "shared", "data")]:
        if not d:
            continue
        try:
            return data.MNIST(d, train=True), data.MNIST(d, train=False)
        except (FileNotFoundError, ValueError):
            continue
    return None


def synthetic_digits(n, seed=0):
    """(n, 28, 28) uint8 images of 10 crude classes (a stroke whose position and angle encode the
    label) and their labels: a stand-in for MNIST when its files are absent."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    x = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
    t = np.linspace(0, 1, 40)
    for i, label in enumerate(y):
        angle = np.pi * label / 10
        r0, c0 = 14 + rng.integers(-2, 3), 14 + rng.integers(-2, 3)
        rr = np.clip(np.round(r0 + (t - 0.5) * 20 * np.sin(angle)), 0, 27).astype(int)
        cc = np.clip(np.round(c0 + (t - 0.5) * 20 * np.cos(angle)), 0, 27).astype(int)
        for dr in (0, 1):
            x[i, np.clip(rr + dr, 0, 27), cc] = 255
    return x, y.astype(np.int64)


def lenet_data(data_dir, n_train, n_test):
    found = find_mnist(data_dir)
    if found is not None:
        train_set, test_set = found
        return (train_set.data[:n_train], train_set.targets[:n_train],
                test_set.data[:n_test], test_set.targets[:n_test], "MNIST")
    x, y = synthetic_digits(n_train + n_test)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:], "synthetic digits"


def seeded_lenet():
    nn.init.manual_seed(0)
    return models.lenet5()


def _as_input(images):
    tf = data.transforms.Compose([data.transforms.ToFloat(), data.transforms.Normalize(0.1307, 0.3081)])
    return pc.tensor(tf(images))


def lenet_filters(out, **_):
    fig = viz.show_filters(seeded_lenet().features[0], ncols=6,
                           title="LeNet-5, layer 1: 6 filters of 1x5x5 (untrained, seed 0)")
    return save(fig, out, "lenet5_filters.png")


def lenet_feature_maps(out, data_dir=None, **_):
    _, _, x_test, _, source = lenet_data(data_dir, 0, 1)
    model = seeded_lenet()
    fig = viz.feature_maps(model, _as_input(x_test[:1]), layers=["features.0", "features.2", "features.3",
                                                                 "features.5"])
    fig.suptitle(f"feature maps of an untrained LeNet-5 (seed 0), one image of {source}", fontsize=9)
    return save(fig, out, "lenet5_feature_maps.png")


def lenet_training(out, data_dir=None, train_images=1000, test_images=500, epochs=3, **_):
    """A tiny run: curves and confusion matrix of LeNet-5 on a few hundred images."""
    x, y, x_test, y_test, source = lenet_data(data_dir, train_images, test_images)
    model = seeded_lenet()
    n_val = len(x) // 5
    loader = data.DataLoader(data.TensorDataset(_as_input(x[n_val:]).numpy(), y[n_val:]), 32, shuffle=True, seed=0)
    val = data.DataLoader(data.TensorDataset(_as_input(x[:n_val]).numpy(), y[:n_val]), 500)
    test = data.DataLoader(data.TensorDataset(_as_input(x_test).numpy(), y_test), 500)
    opt = optim.Adam(model.parameters(), lr=2e-3)
    sched = optim.CosineAnnealingLR(opt, T_max=epochs)
    history = training.fit(model, opt, loader, val, epochs=epochs, scheduler=sched, progress=False,
                           log=lambda *a: None)
    _, acc, preds, targets = training.evaluate(model, test)
    counts = training.confusion_matrix(preds, targets, 10)
    title = f"LeNet-5, {len(x) - n_val} {source} images, {epochs} epochs"
    paths = [save(training.curves_figure(history, title=title), out, "lenet5_curves.png")]
    fig = viz.plot_confusion(counts, [str(d) for d in range(10)],
                             title=f"{title}: test accuracy {acc:.1%} on {len(targets)}")
    paths.append(save(fig, out, "lenet5_confusion.png"))
    return paths


FIGURES = {"neuron_graph": neuron_graph, "conv_example": conv_example, "pooling_example": pooling_example,
           "lenet5_filters": lenet_filters, "lenet5_feature_maps": lenet_feature_maps,
           "lenet5_training": lenet_training}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(HERE, "figures"), help="folder (default docs/figures)")
    p.add_argument("--only", default=None, help=f"comma-separated subset of {', '.join(FIGURES)}")
    p.add_argument("--data-dir", default=None, help="folder of the MNIST files (else found as described above)")
    p.add_argument("--train-images", type=int, default=1000, help="images of the tiny training run (default 1000)")
    p.add_argument("--test-images", type=int, default=500, help="test images of the confusion matrix (default 500)")
    p.add_argument("--epochs", type=int, default=3, help="epochs of the tiny training run (default 3)")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        p.error(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    os.makedirs(args.out, exist_ok=True)
    written = []
    for name in names:
        result = FIGURES[name](args.out, data_dir=args.data_dir, train_images=args.train_images,
                               test_images=args.test_images, epochs=args.epochs)
        written += [r for r in (result if isinstance(result, list) else [result]) if r]
    return written


if __name__ == "__main__":
    main()
