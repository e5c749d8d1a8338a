"""Training loop for image classifiers: `fit(...)` for notebooks, `main(argv)` for
`python -m pyconv train`.

    python -m pyconv train --model lenet5 --dataset mnist    # writes to runs/lenet5-mnist

Each epoch trains on the training split (with a progress bar: tqdm when installed, else a plain
line), evaluates on the validation split, steps the learning-rate schedule and writes a
checkpoint to OUT/checkpoint.npz (OUT: --out, by default runs/<model>-<dataset>; model, optimizer, scheduler, epoch, every RNG state, history,
the run's settings; written to a temporary file in OUT and renamed, so a crash never leaves half
a file). The checkpoint holds arrays and JSON only (see pyconv.checkpoint), so reading one never
runs code. `--resume` loads it and continues exactly as the uninterrupted run would have, after
checking that the run's settings are the checkpoint's; a longer or shorter `--epochs` continues
on the learning-rate schedule built for the new length. At the end the test accuracy and
confusion matrix are printed and OUT/model.npz and OUT/history.json (plus OUT/curves.png and
OUT/confusion.png when matplotlib is installed) are written.

On several processes (`mpiexec -n N python -m pyconv train ...`, see pyconv.distributed and
docs/11-distributed.md): --batch-size is the global batch, each rank trains on its shard
(DistributedSampler) with batch/N images per step and DistributedDataParallel averages the
gradients; validation and test are sharded and gathered (evaluate); only rank 0 prints and
writes OUT; --resume reads the checkpoint on rank 0 and broadcasts it.
"""
import argparse
import io
import json
import math
import os
import sys
import time

import numpy as np

from . import data as pdata
from . import distributed as dist
from . import nn, optim
from .checkpoint import (CheckpointError, atomic_write, load_checkpoint, remove_stale_temporaries,
                         save_checkpoint)
from .distributed import DistributedEvalSampler, DistributedSampler
from .data import transforms as T
from .data.mnist import FILES as DATA_FILES
from .data.mnist import cache_dir
from .memory import memory_stats, reset_peak_memory_stats
from .models import MODELS, get_model
from .nn import functional as F
from .tensor import no_grad

CHECKPOINT = "checkpoint.npz"
LEGACY_CHECKPOINT = "checkpoint.pkl"  # written with pickle by older pyconv; never read
DATASETS = {"mnist": pdata.MNIST, "fashion-mnist": pdata.FashionMNIST}
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")


# -- progress ----------------------------------------------------------------------------------
class _PlainBar:
    """Fallback progress display: rewrites one line on a terminal, prints ~10 lines otherwise."""

    def __init__(self, total, desc, file):
        self.total, self.desc, self.file = total, desc, file
        self.n, self.postfix, self.last = 0, "", 0.0
        self.tty = hasattr(file, "isatty") and file.isatty()

    def update(self, n=1):
        self.n += n
        now = time.perf_counter()
        if self.tty and (now - self.last > 0.2 or self.n == self.total):
            self.last = now
            print(f"\r{self.desc} {self.n}/{self.total} {self.postfix}", end="", file=self.file, flush=True)
        elif not self.tty and (self.n == self.total or self.n % max(1, self.total // 10) == 0):
            print(f"{self.desc} {self.n}/{self.total} {self.postfix}", file=self.file, flush=True)

    def set_postfix_str(self, text):
        self.postfix = text

    def close(self):
        if self.tty:
            print(file=self.file, flush=True)


def progress_bar(total, desc, enabled=True, file=None):
    file = file or sys.stderr
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _PlainBar(total, desc, file)
    return tqdm(total=total, desc=desc, file=file, leave=True, dynamic_ncols=True)


# -- one epoch ---------------------------------------------------------------------------------
def train_epoch(model, loader, optimizer, loss_fn=F.cross_entropy, desc="train", progress=True):
    """One pass over loader; returns (mean loss, accuracy, images per second)."""
    model.train()
    total_loss, correct, seen = 0.0, 0, 0
    bar = progress_bar(len(loader), desc, progress)
    start = time.perf_counter()
    for x, y in loader:
        # BEGIN LAB 7: one training step on the batch (x, y): set logits and loss, then update the parameters
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        # END LAB 7
        n = len(y)
        total_loss += float(loss.item()) * n
        correct += int((logits.data.argmax(axis=1) == y.data).sum())
        seen += n
        if bar is not None:
            rate = seen / (time.perf_counter() - start)
            bar.set_postfix_str(f"loss {total_loss / seen:.4f} acc {correct / seen:.4f} {rate:.0f} img/s")
            bar.update()
    if bar is not None:
        bar.close()
    seconds = time.perf_counter() - start
    if isinstance(getattr(loader, "sampler", None), DistributedSampler):  # one shard per rank: add them up
        totals = dist.all_reduce(np.array([total_loss, correct, seen, seconds]), "sum")
        total_loss, correct, seen = totals[0], int(totals[1]), int(totals[2])
        seconds = totals[3] / dist.get_world_size()  # the ranks' mean
    if seen == 0:
        return float("nan"), float("nan"), 0.0
    return total_loss / seen, correct / seen, seen / seconds


def evaluate(model, loader, loss_fn=F.cross_entropy):
    """(mean loss, accuracy, predictions, targets) over loader, in eval mode without gradients.
    A loader whose sampler is a DistributedEvalSampler holds one rank's shard: the results of
    every rank are gathered, so each returns those of the whole dataset, in its order."""
    was_training = model.training
    model.eval()
    total_loss, preds, targets = 0.0, [], []
    with no_grad():
        for x, y in loader:
            logits = model(x)
            total_loss += float(loss_fn(logits, y).item()) * len(y)
            preds.append(np.asarray(logits.numpy().argmax(axis=1)))
            targets.append(y.numpy())
    model.train(was_training)
    preds = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    targets = np.concatenate(targets) if targets else np.zeros(0, np.int64)
    sampler = getattr(loader, "sampler", None)
    if isinstance(sampler, DistributedEvalSampler):
        total_loss = float(dist.all_reduce(np.array([total_loss]), "sum")[0])
        preds, targets = (_interleave(dist.all_gather_array(a.astype(np.int64)), sampler.num_replicas)
                          for a in (preds, targets))
    if not len(preds):
        return float("nan"), float("nan"), preds, targets
    return total_loss / len(targets), float((preds == targets).mean()), preds, targets


def _interleave(shards, n):
    """The dataset-order array whose items r, r + n, ... are shards[r] (DistributedEvalSampler's)."""
    out = np.empty(sum(len(s) for s in shards), dtype=shards[0].dtype)
    for r, shard in enumerate(shards):
        out[r::n] = shard
    return out


def confusion_matrix(preds, targets, num_classes):
    """counts[i, j] = number of images of class i predicted as j."""
    preds, targets = np.asarray(preds), np.asarray(targets)
    for name, labels in (("preds", preds), ("targets", targets)):
        # a negative label would silently count in the last row or column
        bad = (labels < 0) | (labels >= num_classes)
        if bad.any():
            raise ValueError(f"confusion_matrix: {name} has labels outside 0..{num_classes - 1}: "
                             f"{np.unique(labels[bad])[:10].tolist()}")
    counts = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(counts, (targets, preds), 1)
    return counts


def format_confusion(counts, classes=None):
    """The confusion matrix as text: rows are true classes, columns predictions. Short class
    names (digits) head the columns; longer ones (Fashion-MNIST's "T-shirt/top") are written in
    full on the rows, and the columns are numbered in the same order."""
    k = len(counts)
    names = [str(c) for c in (classes if classes is not None else range(k))][:k]
    width = max(5, len(str(counts.max())) + 1)
    if max(map(len, names)) < width:
        head = "true\\pred " + "".join(f"{n:>{width}}" for n in names)
        rows = [f"{names[i]:<10}" + "".join(f"{v:>{width}}" for v in counts[i]) for i in range(k)]
        return "\n".join([head] + rows)
    labels = [f"{i} {name}" for i, name in enumerate(names)]
    corner = "true \\ predicted"
    first = max(len(corner), max(map(len, labels))) + 1
    head = f"{corner:<{first}}" + "".join(f"{i:>{width}}" for i in range(k))
    rows = [f"{labels[i]:<{first}}" + "".join(f"{v:>{width}}" for v in counts[i]) for i in range(k)]
    return "\n".join([head] + rows)


# -- checkpoints -------------------------------------------------------------------------------
def rng_state(train_loader, augment):
    return {"loader": train_loader.generator.bit_generator.state,
            "init": nn.init.get_rng_state(),
            "augment": augment.get_state() if augment is not None else None,
            "numpy": np.random.get_state()}


def set_rng_state(state, train_loader, augment):
    train_loader.generator.bit_generator.state = state["loader"]
    nn.init.set_rng_state(state["init"])
    if augment is not None and state["augment"] is not None:
        augment.set_state(state["augment"])
    np.random.set_state(state["numpy"])


def check_settings(saved, current):
    """Refuse to resume a run whose settings differ from the checkpoint's: it would not continue
    that run but silently start a different one from its weights."""
    if saved is None or current is None:
        return
    unset = "(not set)"
    differing = []
    for name in sorted(set(saved) | set(current)):
        old, new = saved.get(name, unset), current.get(name, unset)
        if old != new:
            differing.append(f"{name}: {old!r} in the checkpoint, {new!r} now")
    if differing:
        raise CheckpointError("the checkpoint was written by a run with other settings:\n  "
                              + "\n  ".join(differing) + "\nresume with the checkpoint's settings, "
                              "or start a fresh run in another directory")


def checkpoint_to_resume(out_dir, log=print):
    """The checkpoint in out_dir, or None (logged) when there is none yet; an old pickle
    checkpoint is refused without being opened."""
    path = os.path.join(out_dir, CHECKPOINT)
    if os.path.exists(path):
        return load_checkpoint(path)
    legacy = os.path.join(out_dir, LEGACY_CHECKPOINT)
    if os.path.exists(legacy):
        raise CheckpointError(f"{legacy} is a checkpoint of an older pyconv written with pickle, which can run "
                              f"code when read; it is not loaded. Start a fresh run: delete it, or train "
                              f"into another directory")
    log(f"resume: no checkpoint at {path} yet, starting a fresh run")
    return None


def _checkpoint_on_every_rank(out_dir, log):
    """checkpoint_to_resume on rank 0, whose file (or error) is broadcast: every rank of a job
    resumes from the same bytes, and the others need not see rank 0's file system."""
    if dist.get_world_size() == 1:
        return checkpoint_to_resume(out_dir, log)
    message = None
    if dist.get_rank() == 0:
        try:
            message = b"N"
            if checkpoint_to_resume(out_dir, log) is not None:  # read and checked; send its bytes
                with open(os.path.join(out_dir, CHECKPOINT), "rb") as f:
                    message = b"C" + f.read()
        except CheckpointError as e:
            message = b"E" + str(e).encode()
    message = dist.broadcast_bytes(message)
    if message[:1] == b"E":
        raise CheckpointError(message[1:].decode())
    return load_checkpoint(io.BytesIO(message[1:])) if message[:1] == b"C" else None


def restore_schedule(scheduler, state, planned_epochs, epochs, log=print):
    """Load the scheduler's state. When the run's length changed, the schedule's shape (cosine's
    T_max, step's step_size) must follow the new length, or an extended cosine run would train
    its new epochs at lr 0: keep the scheduler built for `epochs` and move it to the epoch reached."""
    if planned_epochs == epochs:
        scheduler.load_state_dict(state)
        return
    old_lr = scheduler.optimizer.param_groups[0]["lr"]
    scheduler.load_state_dict({"last_epoch": state["last_epoch"]})
    new_lr = scheduler.optimizer.param_groups[0]["lr"]
    verb = "extending" if epochs > planned_epochs else "shortening"
    log(f"{verb} the run from {planned_epochs} to {epochs} epochs: the learning-rate schedule is now the one "
        f"built for {epochs} epochs, continued from epoch {state['last_epoch'] + 1} at lr {new_lr:.2e} "
        f"(the {planned_epochs}-epoch schedule was at lr {old_lr:.2e})")


def _resume(ckpt, model, optimizer, scheduler, train_loader, augment, epochs, settings, log):
    """Load ckpt into the training objects; returns (history, best, next epoch)."""
    check_settings(ckpt.get("settings"), settings)
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None and ckpt["scheduler"] is not None:
        restore_schedule(scheduler, ckpt["scheduler"], ckpt["epochs"], epochs, log)
    set_rng_state(ckpt["rng"], train_loader, augment)
    start_epoch = ckpt["epoch"] + 1
    log(f"resumed from the checkpoint written after epoch {start_epoch}")
    if ckpt["best"].get("stopped"):
        log("early stopping had already ended this run")
        start_epoch = epochs
    return ckpt["history"], ckpt["best"], start_epoch


# -- the loop ----------------------------------------------------------------------------------
def fit(model, optimizer, train_loader, val_loader=None, epochs=10, scheduler=None,
        loss_fn=F.cross_entropy, patience=None, out_dir=None, resume=False, augment=None,
        progress=True, log=print, on_epoch_end=None, extra_state=None, settings=None):
    """Train `model` for `epochs` epochs; returns the history dict.

    val_loader: evaluated after every epoch; with `patience`, training stops after that many
    epochs without a lower validation loss, and the weights of the best epoch are restored.
    out_dir: a checkpoint is written there after every epoch (temporary files a crash left there
    are removed first); with resume=True an existing one is loaded first and training continues
    from the epoch after it (without one, training starts fresh). Under pyconv.distributed only
    rank 0 writes; on resume, rank 0 reads the checkpoint and broadcasts it to the other ranks.
    A sampler with set_epoch (DistributedSampler) is told each epoch's number before it starts.
    settings: a dict of plain values that determine the run (data, batch size, seed, optimizer...);
    saved in the checkpoint, and resume refuses a checkpoint whose settings differ.
    augment: the random transform of the training data, whose RNG state is checkpointed.
    extra_state: plain values saved in the checkpoint as they are.
    on_epoch_end(epoch, history): called after each epoch's checkpoint.
    """
    history = {"epoch": [], "train_loss": [], "train_accuracy": [], "val_loss": [], "val_accuracy": [],
               "lr": [], "epoch_seconds": [], "images_per_second": [], "peak_saved_bytes": [],
               "workspace_bytes": []}
    best = {"val_loss": math.inf, "epoch": None, "state": None, "bad_epochs": 0}
    start_epoch = 0
    if resume and not out_dir:
        raise ValueError("resume=True needs the out_dir that holds the checkpoint")
    writer = dist.get_rank() == 0
    path = os.path.join(out_dir, CHECKPOINT) if out_dir and writer else None
    if path:
        stale = remove_stale_temporaries(out_dir)
        if stale:
            log(f"removed {len(stale)} temporary file(s) left in {out_dir} by an interrupted write")
    ckpt = _checkpoint_on_every_rank(out_dir, log) if resume else None
    if ckpt is not None:
        history, best, start_epoch = _resume(ckpt, model, optimizer, scheduler, train_loader, augment,
                                             epochs, settings, log)
    for epoch in range(start_epoch, epochs):
        if hasattr(getattr(train_loader, "sampler", None), "set_epoch"):
            train_loader.sampler.set_epoch(epoch)
        lr = optimizer.param_groups[0]["lr"]
        reset_peak_memory_stats()
        start = time.perf_counter()
        train_loss, train_acc, rate = train_epoch(model, train_loader, optimizer, loss_fn,
                                                  desc=f"epoch {epoch + 1}/{epochs}", progress=progress)
        seconds = time.perf_counter() - start
        memory = memory_stats()   # the peak of one training step's graph, and the kernels' buffers
        val_loss = val_acc = None
        if val_loader is not None and len(val_loader):
            val_loss, val_acc, _, _ = evaluate(model, val_loader, loss_fn)
        if scheduler is not None:
            scheduler.step()
        for key, value in (("epoch", epoch + 1), ("train_loss", train_loss), ("train_accuracy", train_acc),
                           ("val_loss", val_loss), ("val_accuracy", val_acc), ("lr", lr),
                           ("epoch_seconds", seconds), ("images_per_second", rate),
                           ("peak_saved_bytes", memory["saved_for_backward_peak"]),
                           ("workspace_bytes", memory["workspaces"])):
            history[key].append(value)
        message = (f"epoch {epoch + 1}/{epochs}: train loss {train_loss:.4f} acc {train_acc:.4f}"
                   + (f", val loss {val_loss:.4f} acc {val_acc:.4f}" if val_loss is not None else "")
                   + f", lr {lr:.2e}, {seconds:.1f} s ({rate:.0f} img/s), memory: "
                   f"{memory['saved_for_backward_peak'] / 2**20:.1f} MiB saved for backward at the peak, "
                   f"{memory['workspaces'] / 2**20:.1f} MiB kernel workspaces")
        stop = False
        if val_loss is not None:
            if val_loss < best["val_loss"]:
                best.update(val_loss=val_loss, epoch=epoch + 1, state=model.state_dict(), bad_epochs=0)
            else:
                best["bad_epochs"] += 1
                stop = patience is not None and best["bad_epochs"] >= patience
                if stop:
                    best["stopped"] = True
                    message += f"; no better validation loss for {patience} epochs: stopping"
        log(message)
        if path:
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else None,
                     "epoch": epoch, "epochs": epochs, "rng": rng_state(train_loader, augment),
                     "history": history, "best": best, "settings": settings, "extra": extra_state}
            save_checkpoint(path, state)
        if on_epoch_end is not None:
            on_epoch_end(epoch, history)
        if stop:
            break
    if patience is not None and best["state"] is not None:
        model.load_state_dict(best["state"])
        history["best_epoch"] = best["epoch"]
        log(f"restored the weights of epoch {best['epoch']} (lowest validation loss {best['val_loss']:.4f})")
    return history


train = fit  # the name used in notebooks


# -- outputs -----------------------------------------------------------------------------------
def write_history(out_dir, history):
    text = json.dumps(history, indent=2, default=float)
    atomic_write(os.path.join(out_dir, "history.json"), lambda f: f.write(text.encode()))


def _pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or None when matplotlib is missing."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def curves_figure(history, title=None):
    """The matplotlib figure of curves.png: losses, accuracies and (when the history has it) the
    learning rate per epoch, under `title`; None without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return None
    epochs = history["epoch"]
    lr = history.get("lr")
    fig, axes = plt.subplots(1, 3 if lr else 2, figsize=(14 if lr else 10, 4))
    ax1, ax2 = axes[:2]
    ax1.plot(epochs, history["train_loss"], "o-", label="train")
    if any(v is not None for v in history["val_loss"]):
        ax1.plot(epochs, history["val_loss"], "o-", label="validation")
    ax1.set_xlabel("epoch"); ax1.set_ylabel("loss"); ax1.legend()
    ax2.plot(epochs, history["train_accuracy"], "o-", label="train")
    if any(v is not None for v in history["val_accuracy"]):
        ax2.plot(epochs, history["val_accuracy"], "o-", label="validation")
    ax2.set_xlabel("epoch"); ax2.set_ylabel("accuracy"); ax2.legend()
    if lr:
        axes[2].plot(epochs, lr, "o-", color="tab:green")
        axes[2].set_xlabel("epoch"); axes[2].set_ylabel("learning rate (during the epoch)")
        axes[2].ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    from matplotlib.ticker import MaxNLocator
    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # whole epochs
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(out_dir, history, title=None):
    """OUT/curves.png (see curves_figure); returns its path, or None without matplotlib."""
    fig = curves_figure(history, title)
    if fig is None:
        return None
    path = os.path.join(out_dir, "curves.png")
    fig.savefig(path, dpi=100)
    _pyplot().close(fig)
    return path


def plot_confusion_png(out_dir, counts, classes, title=None):
    """OUT/confusion.png (pyconv.viz.plot_confusion); returns its path, or None without matplotlib."""
    plt = _pyplot()
    if plt is None:
        return None
    from .viz import plot_confusion
    fig = plot_confusion(counts, classes, title=title)
    path = os.path.join(out_dir, "confusion.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- command line ------------------------------------------------------------------------------
def build_parser():
    p = argparse.ArgumentParser(prog="python -m pyconv train",
                                description="Train a CNN on MNIST or Fashion-MNIST.")
    p.add_argument("--model", default="lenet5", choices=sorted(MODELS), help="architecture (default lenet5)")
    p.add_argument("--dataset", default="mnist", choices=sorted(DATASETS), help="default mnist")
    p.add_argument("--data-dir", default=None,
                   help="directory with the four IDX .gz files (or a parent of mnist/ and fashion-mnist/); "
                        "default: $PYCONV_DATA, else ~/.cache/pyconv/<dataset>")
    p.add_argument("--download", action="store_true", help="download the dataset if it is not found")
    p.add_argument("--epochs", type=int, default=10, help="default 10")
    p.add_argument("--batch-size", type=int, default=64,
                   help="default 64; with several processes the global batch, split evenly over them")
    p.add_argument("--optimizer", default="adam", choices=OPTIMIZERS, help="default adam")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 1e-3 for adam/adamw/rmsprop, 0.05 for sgd, 0.01 for adagrad)")
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (default 0.9)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 weight decay (default 0; 1e-2 for adamw)")
    p.add_argument("--schedule", default="cosine", choices=("cosine", "step", "none"),
                   help="learning-rate schedule over the epochs (default cosine annealing)")
    p.add_argument("--backend", default=None, help="CPU backend: numpy or c (default: the fastest enabled)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--seed", type=int, default=0, help="seeds the split, init, shuffling, augmentation (default 0)")
    p.add_argument("--val-split", type=float, default=0.1,
                   help="fraction of the training images held out for validation (default 0.1)")
    p.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without a lower validation loss, keep the best weights")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=True,
                   help="random shifts of training images by up to 2 pixels (default on)")
    p.add_argument("--rotate", type=float, default=0.0, metavar="DEGREES",
                   help="with --augment, also rotate training images by up to this many degrees (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads of the c backend, per process (default: all cores; 1 per process under "
                        "mpiexec, so that N processes do not oversubscribe the cores)")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel training over the processes of an MPI job: mpiexec -n N python -m "
                        "pyconv train ... (on by itself when started by mpiexec or srun; needs mpi4py: pip "
                        "install 'pyconv[distributed]'). Each process trains on its shard with batch "
                        "--batch-size/N, gradients are averaged; validation and test are sharded and "
                        "gathered; only rank 0 prints and writes OUT")
    p.add_argument("--limit", type=int, default=None, help="use only this many training images")
    p.add_argument("--test-limit", type=int, default=None, help="use only this many test images")
    p.add_argument("--out", default=None,
                   help="directory for checkpoint.npz, model.npz, history.json, curves.png, confusion.png "
                        "(default runs/<model>-<dataset>)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint.npz (a fresh run when there is none yet); the settings "
                        "that shape the run must be the checkpoint's, --epochs may differ")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


DEFAULT_LR = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "adagrad": 1e-2}


def make_optimizer(name, params, lr=None, momentum=0.9, weight_decay=0.0):
    lr = DEFAULT_LR[name] if lr is None else lr
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay or 1e-2)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def make_transforms(dataset_cls, augment, seed, rotate=0.0):
    """(train transform, eval transform, the random part whose state is checkpointed)."""
    normalize = T.Normalize(dataset_cls.mean, dataset_cls.std)
    if not augment:
        return T.Compose([T.ToFloat(), normalize]), T.Compose([T.ToFloat(), normalize]), None
    random_part = T.Compose(([T.RandomRotation(rotate, seed=seed + 1)] if rotate else [])
                            + [T.RandomShift(2, seed=seed + 2)])
    return T.Compose([T.ToFloat(), random_part, normalize]), T.Compose([T.ToFloat(), normalize]), random_part


def run_settings(args):
    """The options that shape the trajectory of a run, which --resume must find unchanged; not
    --epochs (a run may be extended), nor threads, backend, device, paths, progress or patience."""
    names = ("model", "dataset", "limit", "val_split", "seed", "batch_size", "optimizer", "weight_decay",
             "schedule", "augment", "rotate")
    settings = {"--" + name.replace("_", "-"): getattr(args, name) for name in names}
    settings["--lr"] = DEFAULT_LR[args.optimizer] if args.lr is None else args.lr
    if args.optimizer == "sgd":  # the other optimizers ignore --momentum
        settings["--momentum"] = args.momentum
    return settings


def default_out_dir(model, dataset):
    """Where a run writes when --out is not given: runs/<model>-<dataset> under the current directory."""
    return os.path.join("runs", f"{model}-{dataset}")


def _cli_error(message):
    """A one-line error on stderr and exit status 2 (argparse's), instead of a traceback."""
    print(f"python -m pyconv train: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_datasets(cls, data_dir, download):
    """(train set, test set) of `cls`; a missing folder or download is a one-line CLI error that
    names where the files were looked for and the ways to provide them."""
    try:
        return cls(data_dir, train=True, download=download), cls(data_dir, train=False, download=download)
    except FileNotFoundError:
        if data_dir is not None:
            where = f"--data-dir {data_dir}"
        elif os.environ.get("PYCONV_DATA"):
            where = f"$PYCONV_DATA ({os.environ['PYCONV_DATA']})"
        else:
            where = f"{cache_dir(cls.folder)} (no --data-dir given, PYCONV_DATA not set)"
        _cli_error(f"no {cls.__name__} data in {where}: looked for the four IDX files "
                   f"({DATA_FILES[0]}, ...) in {', '.join(cls._candidates(data_dir))}; give "
                   f"--data-dir DIR (the folder that holds them), set PYCONV_DATA=DIR, or add --download "
                   f"to fetch them")
    except RuntimeError as exc:
        if not download:
            raise
        reason = str(exc).splitlines()[0]
        _cli_error(f"{reason} Put the four IDX files in a folder by hand and give --data-dir DIR or set "
                   f"PYCONV_DATA=DIR")


def _start_distributed(args):
    """The number of processes: those of the MPI job when started by a launcher or with
    --distributed (pyconv.distributed.init), else 1."""
    if not (args.distributed or dist.launched_by_mpi()):
        return 1
    try:
        return dist.init(require=args.distributed)
    except RuntimeError as e:
        _cli_error(str(e))


def _quiet(*args, **kwargs):
    """The log of ranks other than 0."""


def main(argv=None):
    args = build_parser().parse_args(argv)
    world = _start_distributed(args)
    try:
        return _main(args, world)
    except SystemExit as e:
        if world > 1 and e.code not in (0, None):  # the other ranks would wait for this one: end them all
            if not isinstance(e.code, int):
                print(e.code, file=sys.stderr)
            dist.abort(e.code if isinstance(e.code, int) else 1)
        raise


def _main(args, world):
    rank0 = dist.get_rank() == 0
    out = print if rank0 else _quiet
    import pyconv
    if args.backend:
        pyconv.set_backend(args.backend)
    if args.threads:
        pyconv.set_num_threads(args.threads)
    elif world > 1:
        pyconv.set_num_threads(1)
    backend = pyconv.get_backend() if args.device == "cpu" else "cuda"
    if args.out is None:
        args.out = default_out_dir(args.model, args.dataset)
    if args.batch_size % world:
        _cli_error(f"--batch-size {args.batch_size} is the global batch, split evenly over the {world} "
                   f"processes: give a multiple of {world}")
    if world > 1 and args.device != "cpu":
        _cli_error("training on several processes runs on the CPU only (--device cpu)")

    cls = DATASETS[args.dataset]
    train_set, test_set = load_datasets(cls, args.data_dir, args.download)
    rng = np.random.default_rng(args.seed)
    indices = rng.permutation(len(train_set))
    if args.limit is not None:
        indices = indices[:args.limit]
    n_val = int(round(len(indices) * args.val_split))
    val_idx, train_idx = np.sort(indices[:n_val]), indices[n_val:]
    train_tf, eval_tf, random_part = make_transforms(cls, args.augment, args.seed, args.rotate)
    train_data = pdata.Subset(pdata.TensorDataset(train_set.data, train_set.targets, transform=train_tf), train_idx)
    val_data = pdata.Subset(pdata.TensorDataset(train_set.data, train_set.targets, transform=eval_tf), val_idx)
    test_n = len(test_set) if args.test_limit is None else min(args.test_limit, len(test_set))
    test_data = pdata.TensorDataset(test_set.data[:test_n], test_set.targets[:test_n], transform=eval_tf)
    device = None if args.device == "cpu" else args.device
    if world == 1:
        train_loader = pdata.DataLoader(train_data, args.batch_size, shuffle=True, seed=args.seed + 3, device=device)
        val_loader = pdata.DataLoader(val_data, 1000, device=device) if n_val else None
        test_loader = pdata.DataLoader(test_data, 1000, device=device)
    else:  # each rank its shard: the training set reshuffled every epoch, evaluation split in order
        train_loader = pdata.DataLoader(train_data, args.batch_size // world, seed=args.seed + 3,
                                        sampler=DistributedSampler(train_data, seed=args.seed + 3))
        val_loader = pdata.DataLoader(val_data, 1000, sampler=DistributedEvalSampler(val_data)) if n_val else None
        test_loader = pdata.DataLoader(test_data, 1000, sampler=DistributedEvalSampler(test_data))

    settings = run_settings(args)
    if world > 1:
        settings["processes"] = world
        dist.check_consistent(dict(settings, epochs=args.epochs, backend=backend), "settings")
    nn.init.manual_seed(args.seed)
    model = get_model(args.model, num_classes=len(cls.classes), in_channels=1)
    if device:
        model.to(device)
    if world > 1:
        model = dist.DistributedDataParallel(model)
    optimizer = make_optimizer(args.optimizer, model.parameters(), args.lr, args.momentum, args.weight_decay)
    scheduler = None
    if args.schedule == "cosine":
        scheduler = optim.CosineAnnealingLR(optimizer, T_max=args.epochs)
    elif args.schedule == "step":
        scheduler = optim.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1)

    augment_text = ("shift" + (f"+rotate {args.rotate:g}" if args.rotate else "")) if args.augment else "off"
    out(f"{args.model} ({model.num_parameters():,} parameters) on {args.dataset}: {len(train_idx)} training, "
        f"{n_val} validation, {test_n} test images; backend {backend}; {args.optimizer} "
        f"lr {optimizer.param_groups[0]['lr']:g}, batch {args.batch_size}, {args.epochs} epochs, "
        f"augment {augment_text}, seed {args.seed}")
    if world > 1:
        out(f"data-parallel over {world} processes: {args.batch_size // world} images per process per step, "
            f"{pyconv.get_num_threads()} thread(s) per process")
    out(f"writing to {args.out}: checkpoint.npz after every epoch; model.npz, history.json, curves.png "
        f"and confusion.png at the end")
    started = time.perf_counter()
    try:
        history = fit(model, optimizer, train_loader, val_loader, epochs=args.epochs, scheduler=scheduler,
                      patience=args.patience, out_dir=args.out, resume=args.resume, augment=random_part,
                      progress=not args.no_progress and rank0, log=out, extra_state={"args": vars(args)},
                      settings=settings)
    except CheckpointError as e:
        raise SystemExit(f"--resume: {e}") from None
    test_loss, test_acc, preds, targets = evaluate(model, test_loader)
    if not rank0:
        return 0
    counts = confusion_matrix(preds, targets, len(cls.classes))
    seconds = history["epoch_seconds"]
    out(f"confusion matrix ({args.dataset} test set):\n{format_confusion(counts, cls.classes)}")
    out(f"test accuracy {test_acc * 100:.2f}% ({int((preds == targets).sum())}/{len(targets)}), "
        f"test loss {test_loss:.4f}; {len(seconds)} epochs, {np.mean(seconds) if seconds else 0:.1f} s/epoch "
        f"on backend {backend} ({time.perf_counter() - started:.0f} s in this run)")
    history.update(test_accuracy=test_acc, test_loss=test_loss, confusion_matrix=counts.tolist(),
                   model=args.model, dataset=args.dataset, backend=backend, args=vars(args), processes=world)
    model_path = os.path.join(args.out, "model.npz")
    atomic_write(model_path, lambda f: np.savez(f, **model.state_dict()))
    write_history(args.out, history)
    curves = plot_curves(args.out, history, title=f"{args.model} on {args.dataset}, backend {backend}")
    confusion = plot_confusion_png(args.out, counts, cls.classes,
                                   title=f"{args.model} on the {args.dataset} test set: "
                                         f"accuracy {test_acc:.1%} ({backend})")
    out(f"wrote {model_path}, {os.path.join(args.out, 'history.json')}"
        + (f", {curves}, {confusion}" if curves else " (install matplotlib for curves.png and confusion.png)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
