"""matplotlib figures of a conv net: its filters, its feature maps, its confusion matrix.

Each function returns a `matplotlib.figure.Figure` (save it with `fig.savefig(path)`, close it
with `matplotlib.pyplot.close(fig)`); none chooses a matplotlib backend, so scripts without a
display should call `matplotlib.use("Agg")` first.
"""
import math

import numpy as np

from ..nn import Conv2d, Module
from ..tensor import Tensor, no_grad


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("pyconv.viz figures need matplotlib: pip install matplotlib "
                          "(or the extra: pip install \"pyconv[viz]\")") from exc
    return plt


def _numpy(t):
    return t.numpy(force=True) if isinstance(t, Tensor) else np.asarray(t)


def _grid(n, ncols=None):
    ncols = ncols or min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / ncols), ncols


def show_filters(conv, ncols=None, cmap="gray", max_filters=64, title=None):
    """A grid of a Conv2d layer's filters (its weight (K, C, R, S)), one image per (k, c) pair:
    a row per filter when C > 1, else K images in a square-ish grid. Each image is scaled on
    its own (white: the largest weight of that filter, black: the smallest)."""
    weight = conv.weight if isinstance(conv, Conv2d) else conv
    w = _numpy(weight)
    if w.ndim != 4:
        raise ValueError(f"show_filters: expected a Conv2d or a (K, C, R, S) weight, got shape {w.shape}")
    K, C = w.shape[:2]
    K = min(K, max_filters)
    plt = _pyplot()
    if C == 1:
        rows, cols = _grid(K, ncols)
        cells = [(k, 0) for k in range(K)]
    else:
        C = min(C, max_filters)
        rows, cols = K, C
        cells = [(k, c) for k in range(K) for c in range(C)]
    fig, axes = plt.subplots(rows, cols, figsize=(1.1 * cols + 0.4, 1.1 * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (k, c) in enumerate(cells):
        ax = axes.flat[i]
        ax.imshow(w[k, c], cmap=cmap, interpolation="nearest")
        ax.set_title(f"{k}" if C == 1 else f"{k},{c}", fontsize=7)
    fig.suptitle(title or f"{w.shape[0]} filters of {w.shape[1]}x{w.shape[2]}x{w.shape[3]}", fontsize=9)
    fig.tight_layout()
    return fig


def _resolve_layers(model, layers):
    """[(name, module)] from names (as model.named_modules() gives them) or modules; by default
    every Conv2d."""
    named = dict(model.named_modules())
    if layers is None:
        chosen = [(n, m) for n, m in named.items() if isinstance(m, Conv2d)]
        if not chosen:
            raise ValueError("feature_maps: the model has no Conv2d layer; name the layers to show")
        return chosen
    by_module = {id(m): n for n, m in named.items()}
    chosen = []
    for layer in layers:
        if isinstance(layer, Module):
            if id(layer) not in by_module:
                raise ValueError(f"feature_maps: {type(layer).__name__} is not a layer of this model")
            chosen.append((by_module[id(layer)], layer))
        elif layer in named:
            chosen.append((layer, named[layer]))
        else:
            raise ValueError(f"feature_maps: no layer named {layer!r}; the model's layers are "
                             f"{', '.join(n for n in named if n)}")
    return chosen


def activations(model, x, layers=None):
    """{layer name: output array} of the chosen layers on input x, captured with forward hooks
    during one forward pass without gradients (the model's train/eval mode is left as it is)."""
    chosen = _resolve_layers(model, layers)
    captured, handles = {}, []
    for name, module in chosen:
        def hook(module, inputs, output, name=name):
            captured[name] = _numpy(output)
        handles.append(module.register_forward_hook(hook))
    try:
        with no_grad():
            model(x if isinstance(x, Tensor) else Tensor(np.asarray(x)))
    finally:
        for h in handles:
            h.remove()
    return {name: captured[name] for name, _ in chosen if name in captured}


def feature_maps(model, x, layers=None, image=0, max_maps=16, cmap="viridis"):
    """The activations of the chosen layers for one image of the batch x: a row per layer
    (its name and output shape), up to max_maps channels in each, next to the input image.

    layers: names as model.named_modules() lists them ("features.0"), or the modules
    themselves; by default every Conv2d layer."""
    acts = activations(model, x, layers)
    xs = _numpy(x)
    plt = _pyplot()
    width = min(max_maps, max(a.shape[1] for a in acts.values()))
    fig, axes = plt.subplots(len(acts), width + 1, figsize=(1.1 * (width + 1) + 0.4, 1.25 * len(acts) + 0.4),
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (name, a) in enumerate(acts.items()):
        if row == 0:
            axes[0, 0].imshow(xs[image, 0], cmap="gray")
            axes[0, 0].set_title("input", fontsize=7)
        axes[row, 1].set_title(f"{name} {tuple(a.shape[1:])}", fontsize=7, loc="left")
        for c in range(min(max_maps, a.shape[1])):
            axes[row, c + 1].imshow(a[image, c], cmap=cmap, interpolation="nearest")
    fig.tight_layout()
    return fig


def plot_confusion(matrix, class_names=None, normalize=False, title=None, cmap="Blues"):
    """A confusion matrix (rows: true class, columns: predicted class) as a labelled heat map
    with the count (or, with normalize=True, the share of the row) written in each cell."""
    counts = np.asarray(matrix)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"plot_confusion: expected a square matrix, got shape {counts.shape}")
    k = len(counts)
    names = [str(c) for c in (class_names if class_names is not None else range(k))]
    if len(names) != k:
        raise ValueError(f"plot_confusion: {len(names)} class names for a {k}x{k} matrix")
    shown = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1) if normalize else counts
    plt = _pyplot()
    size = 1.6 + 0.5 * k
    fig, ax = plt.subplots(figsize=(size + 1.2, size))
    im = ax.imshow(shown, cmap=cmap, vmin=0)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 2 else 0, ha="right"
                  if max(map(len, names)) > 2 else "center", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    high = shown.max() if shown.size else 0
    for i in range(k):
        for j in range(k):
            text = f"{shown[i, j]:.2f}" if normalize else f"{int(shown[i, j])}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7,
                    color="white" if high and shown[i, j] > 0.6 * high else "black")
    total = counts.sum()
    accuracy = np.trace(counts) / total if total else float("nan")
    ax.set_title(title or f"confusion matrix (accuracy {accuracy:.1%})", fontsize=10)
    fig.tight_layout()
    return fig
