"""The training loop: checkpoints, identical resume, what resume refuses, early stopping, the
command line on small fake MNIST and Fashion-MNIST files (its outputs, the default output folder,
class names, a missing data folder), and (when the real files are present) a short run that
must learn."""
import hashlib
import json
import math
import os
import pickle

import numpy as np
import pytest

import pyconv
from pyconv import data, nn, optim
from pyconv import train as T
from pyconv.data import MNIST, transforms
from pyconv.data import mnist as mnist_module

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def real_mnist_dir():
    env = os.environ.get("PYCONV_DATA")
    for d in ([os.path.join(env, "mnist"), env] if env else []) + [os.path.join(REPO, "..", "shared", "data", "mnist")]:
        if os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    return None


# -- fit() on synthetic data -----------------------------------------------------------------------
def blobs(n=96, seed=0):
    """Two classes of 1x6x6 images: bright top half vs bright bottom half, plus noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 1, 6, 6)).astype(np.float32)
    x[y == 0, :, :3] += 1
    x[y == 1, :, 3:] += 1
    return x, y.astype(np.int64)


def setup(seed=0, optimizer="sgd"):
    nn.init.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Dropout(0.2), nn.Linear(36, 2))
    if optimizer == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    else:
        opt = optim.Adam(model.parameters(), lr=0.01)
    sched = optim.CosineAnnealingLR(opt, T_max=3)
    augment = transforms.RandomShift(1, seed=seed)
    x, y = blobs()
    train = data.DataLoader(data.TensorDataset(x[:64], y[:64], transform=augment), 16, shuffle=True, seed=seed)
    val = data.DataLoader(data.TensorDataset(x[64:], y[64:]), 32)
    return model, opt, sched, augment, train, val


def test_fit_learns_and_writes_checkpoint(tmp_path):
    model, opt, sched, augment, train, val = setup()
    history = T.fit(model, opt, train, val, epochs=3, scheduler=sched, out_dir=tmp_path, augment=augment,
                    progress=False, log=lambda *a: None)
    assert history["epoch"] == [1, 2, 3] and len(history["val_loss"]) == 3
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.8
    assert all(b > 0 for b in history["peak_saved_bytes"])      # memory per epoch is reported
    assert len(history["workspace_bytes"]) == 3
    assert os.listdir(tmp_path) == [T.CHECKPOINT]  # no temporary files left behind
    ckpt = T.load_checkpoint(tmp_path / T.CHECKPOINT)
    assert ckpt["epoch"] == 2 and set(ckpt["model"]) == set(model.state_dict())
    with np.load(tmp_path / T.CHECKPOINT, allow_pickle=False) as archive:  # arrays and JSON, no pickle
        assert "model/0.weight" in archive.files and "optimizer/state/0/momentum_buffer" in archive.files


class RunsCode:
    """Unpickling this creates the file `marker`: proof that reading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


class Crash(Exception):
    pass


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_resume_continues_identically(tmp_path, optimizer):
    model_a, opt, sched, augment, train, val = setup(optimizer=optimizer)
    hist_a = T.fit(model_a, opt, train, val, epochs=3, scheduler=sched, augment=augment, progress=False,
                   log=lambda *a: None)

    def crash_after_first(epoch, history):
        if epoch == 0:
            raise Crash
    model_b, opt, sched, augment, train, val = setup(optimizer=optimizer)
    with pytest.raises(Crash):
        T.fit(model_b, opt, train, val, epochs=3, scheduler=sched, out_dir=tmp_path, augment=augment,
              progress=False, log=lambda *a: None, on_epoch_end=crash_after_first)
    model_c, opt, sched, augment, train, val = setup(seed=0, optimizer=optimizer)
    nn.init.manual_seed(123)  # resume must restore every RNG state, whatever they are now
    hist_c = T.fit(model_c, opt, train, val, epochs=3, scheduler=sched, out_dir=tmp_path, resume=True,
                   augment=augment, progress=False, log=lambda *a: None)
    for (name, a), c in zip(model_a.state_dict().items(), model_c.state_dict().values()):
        np.testing.assert_array_equal(a, c, err_msg=name)
    assert hist_a["train_loss"] == hist_c["train_loss"] and hist_a["val_loss"] == hist_c["val_loss"]


def test_early_stopping_restores_best_weights(tmp_path):
    model, opt, sched, augment, train, val = setup()
    for g in opt.param_groups:
        g["lr"] = 0.0  # nothing improves after the first epoch
    logs = []
    history = T.fit(model, opt, train, val, epochs=10, patience=2, progress=False, log=logs.append)
    assert history["epoch"] == [1, 2, 3] and history["best_epoch"] == 1
    assert any("stopping" in line for line in logs)


def test_resume_without_checkpoint_starts_fresh(tmp_path):
    model, opt, sched, augment, train, val = setup()
    logs = []
    history = T.fit(model, opt, train, val, epochs=1, out_dir=tmp_path, resume=True, progress=False,
                    log=logs.append)
    assert history["epoch"] == [1] and os.listdir(tmp_path) == [T.CHECKPOINT]
    assert "no checkpoint" in logs[0] and "starting a fresh run" in logs[0]
    with pytest.raises(ValueError, match="out_dir"):
        T.fit(model, opt, train, val, epochs=1, resume=True, progress=False)


def test_resume_refuses_an_old_pickle_checkpoint_without_opening_it(tmp_path):
    marker = tmp_path / "code-ran"
    (tmp_path / "checkpoint.pkl").write_bytes(pickle.dumps({"model": RunsCode(marker)}))
    model, opt, sched, augment, train, val = setup()
    with pytest.raises(ValueError, match="older pyconv written with pickle.*not loaded"):
        T.fit(model, opt, train, val, epochs=1, out_dir=tmp_path, resume=True, progress=False)
    assert not marker.exists()


def test_resume_refuses_a_damaged_checkpoint(tmp_path):
    (tmp_path / T.CHECKPOINT).write_bytes(b"PK\x03\x04 half a zip")
    model, opt, sched, augment, train, val = setup()
    with pytest.raises(ValueError, match="not a pyconv checkpoint"):
        T.fit(model, opt, train, val, epochs=1, out_dir=tmp_path, resume=True, progress=False)


def test_fit_removes_temporary_files_of_a_crashed_write(tmp_path):
    (tmp_path / f".tmp-x1y2{T.CHECKPOINT}").write_bytes(b"half a checkpoint")
    model, opt, sched, augment, train, val = setup()
    logs = []
    T.fit(model, opt, train, val, epochs=1, out_dir=tmp_path, progress=False, log=logs.append)
    assert os.listdir(tmp_path) == [T.CHECKPOINT]
    assert "removed 1 temporary file" in logs[0]


def test_check_settings_names_each_difference():
    T.check_settings({"--seed": 1, "--lr": 0.1}, {"--seed": 1, "--lr": 0.1})
    T.check_settings(None, {"--seed": 1})
    with pytest.raises(ValueError) as info:
        T.check_settings({"--seed": 1, "--lr": 0.1, "--momentum": 0.9}, {"--seed": 2, "--lr": 0.1})
    text = str(info.value)
    assert "--seed: 1 in the checkpoint, 2 now" in text
    assert "--momentum: 0.9 in the checkpoint, '(not set)' now" in text
    assert "--lr" not in text


def test_confusion_matrix_and_plain_progress(capsys):
    counts = T.confusion_matrix(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    np.testing.assert_array_equal(counts, [[1, 0, 0], [0, 1, 0], [0, 1, 1]])
    assert "true\\pred" in T.format_confusion(counts)
    bar = T._PlainBar(20, "epoch 1", None)
    import sys
    bar.file = sys.stdout
    for _ in range(20):
        bar.set_postfix_str("loss 1.0")
        bar.update()
    bar.close()
    assert capsys.readouterr().out.count("epoch 1") == 10


# -- the command line on fake MNIST files ----------------------------------------------------------
def write_fake_dataset(root, cls, monkeypatch):
    """120 training and 40 test images of `cls`'s layout in `root`, whose MD5s `cls` accepts."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    for prefix, n in (("train", 120), ("t10k", 40)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):  # a bright block whose position encodes the label
            x[i, 2 * label:2 * label + 6, 4:24] = 250
        data.write_idx(str(root / f"{prefix}-images-idx3-ubyte.gz"), x)
        data.write_idx(str(root / f"{prefix}-labels-idx1-ubyte.gz"), y)
    md5 = {f: hashlib.md5((root / f).read_bytes()).hexdigest() for f in mnist_module.FILES}
    monkeypatch.setattr(cls, "md5", md5)


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    write_fake_dataset(tmp_path / "data" / "mnist", MNIST, monkeypatch)
    return tmp_path / "data"


ARGS = ["--model", "lenet5", "--epochs", "2", "--batch-size", "16", "--val-split", "0.25",
        "--no-progress", "--seed", "1"]


def test_cli_trains_and_writes_outputs(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    assert T.main(ARGS + ["--data-dir", str(fake_mnist), "--out", str(out), "--optimizer", "sgd"]) == 0
    text = capsys.readouterr().out
    assert "test accuracy" in text and "confusion matrix" in text and "s/epoch" in text
    history = json.loads((out / "history.json").read_text())
    assert len(history["train_loss"]) == 2 and len(history["val_loss"]) == 2
    assert 0.0 <= history["test_accuracy"] <= 1.0 and len(history["epoch_seconds"]) == 2
    assert np.array(history["confusion_matrix"]).sum() == 40
    weights = np.load(out / "model.npz")
    assert set(weights.files) == set(pyconv.models.get_model("lenet5").state_dict())
    assert f"writing to {out}" in text.splitlines()[1]  # said before the first epoch
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "install matplotlib for curves.png and confusion.png" in text
    else:
        for name in ("curves.png", "confusion.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name


def test_cli_writes_to_runs_model_dataset_by_default(fake_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert T.main(ARGS + ["--data-dir", str(fake_mnist), "--epochs", "1", "--limit", "40"]) == 0
    out = os.path.join("runs", "lenet5-mnist")
    assert f"writing to {out}" in capsys.readouterr().out
    assert {"checkpoint.npz", "model.npz", "history.json"} <= set(os.listdir(tmp_path / out))


def test_cli_prints_fashion_mnist_class_names(tmp_path, monkeypatch, capsys):
    write_fake_dataset(tmp_path / "data" / "fashion-mnist", data.FashionMNIST, monkeypatch)
    assert T.main(ARGS + ["--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--epochs", "1",
                          "--limit", "40", "--out", str(tmp_path / "run")]) == 0
    text = capsys.readouterr().out
    matrix = text[text.index("confusion matrix"):text.index("test accuracy")]
    for i, name in enumerate(data.FashionMNIST.classes):
        assert f"\n{i} {name} " in matrix  # full names on the rows, columns numbered alike


def test_cli_resume_matches_uninterrupted_run(fake_mnist, tmp_path, monkeypatch):
    full, resumed = tmp_path / "full", tmp_path / "resumed"
    common = ARGS + ["--data-dir", str(fake_mnist), "--limit", "80"]
    T.main(common + ["--out", str(full)])
    fit = T.fit

    def crashing_fit(*args, **kwargs):
        def crash(epoch, history):
            raise Crash
        return fit(*args, **dict(kwargs, on_epoch_end=crash))
    monkeypatch.setattr(T, "fit", crashing_fit)
    with pytest.raises(Crash):
        T.main(common + ["--out", str(resumed)])
    monkeypatch.setattr(T, "fit", fit)
    T.main(common + ["--out", str(resumed), "--resume"])
    a, b = np.load(full / "model.npz"), np.load(resumed / "model.npz")
    for name in a.files:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    ha = json.loads((full / "history.json").read_text())
    hb = json.loads((resumed / "history.json").read_text())
    assert ha["train_loss"] == hb["train_loss"] and ha["test_accuracy"] == hb["test_accuracy"]


def test_cli_resume_refuses_other_settings(fake_mnist, tmp_path):
    out = tmp_path / "run"
    common = ARGS + ["--data-dir", str(fake_mnist), "--limit", "40", "--out", str(out)]
    T.main(common + ["--epochs", "1"])
    before = (out / T.CHECKPOINT).read_bytes()
    with pytest.raises(SystemExit) as info:  # --epochs and --threads may change, the rest may not
        T.main(common + ["--resume", "--batch-size", "8", "--lr", "0.01", "--threads", "1"])
    assert "--batch-size: 16 in the checkpoint, 8 now" in str(info.value.code)
    assert "--lr: 0.001 in the checkpoint, 0.01 now" in str(info.value.code)
    assert "--epochs" not in str(info.value.code) and "--threads" not in str(info.value.code)
    assert (out / T.CHECKPOINT).read_bytes() == before


def test_cli_extending_a_finished_run_continues_the_schedule(fake_mnist, tmp_path, capsys):
    out = tmp_path / "run"
    common = ARGS + ["--data-dir", str(fake_mnist), "--limit", "40", "--out", str(out)]
    T.main(common)  # 2 epochs of cosine annealing: the lr reaches 0 at the end
    capsys.readouterr()
    T.main(common + ["--resume", "--epochs", "3"])
    text = capsys.readouterr().out
    assert "extending the run from 2 to 3 epochs" in text and "built for 3 epochs" in text
    lr = json.loads((out / "history.json").read_text())["lr"]
    assert len(lr) == 3 and lr[0] == 1e-3
    assert lr[2] == pytest.approx(1e-3 * (1 + math.cos(math.pi * 2 / 3)) / 2)  # on the 3-epoch curve, not 0


def test_cli_resume_refuses_an_old_pickle_checkpoint(fake_mnist, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    marker = tmp_path / "code-ran"
    (out / "checkpoint.pkl").write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(SystemExit) as info:
        T.main(ARGS + ["--data-dir", str(fake_mnist), "--limit", "40", "--out", str(out), "--resume"])
    assert "checkpoint.pkl is a checkpoint of an older pyconv" in str(info.value.code)
    assert not marker.exists()


def test_cli_errors(fake_mnist, tmp_path, capsys):
    with pytest.raises(SystemExit):
        T.main(["--model", "alexnet"])
    capsys.readouterr()
    missing = tmp_path / "no-such-folder"
    with pytest.raises(SystemExit) as info:
        T.main(["--resume", "--data-dir", str(missing), "--out", str(tmp_path / "run")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    assert f"no MNIST data in --data-dir {missing}" in err
    assert "--download" in err and "PYCONV_DATA" in err
    assert not (tmp_path / "run").exists()


def test_format_confusion_keeps_long_class_names_whole():
    counts = np.arange(9).reshape(3, 3)
    text = T.format_confusion(counts, ("T-shirt/top", "Trouser", "Ankle boot"))
    lines = text.splitlines()
    assert lines[0].split()[-3:] == ["0", "1", "2"]
    assert lines[1].startswith("0 T-shirt/top ") and lines[3].startswith("2 Ankle boot ")
    assert lines[3].split()[-3:] == ["6", "7", "8"]
    assert T.format_confusion(counts, ("0", "1", "2")).splitlines()[0].split() == ["true\\pred", "0", "1", "2"]


# -- real MNIST ------------------------------------------------------------------------------------
@pytest.mark.skipif(real_mnist_dir() is None, reason="MNIST files not found (set PYCONV_DATA)")
def test_short_mnist_training_drives_loss_down(tmp_path, capsys):
    out = tmp_path / "run"
    T.main(["--model", "lenet5", "--data-dir", real_mnist_dir(), "--limit", "2000", "--epochs", "1",
            "--batch-size", "32", "--test-limit", "1000", "--val-split", "0", "--no-augment", "--no-progress",
            "--out", str(out)])
    history = json.loads((out / "history.json").read_text())
    assert history["train_loss"][0] < 2.0  # the epoch's mean; ln(10) = 2.30 at the start
    assert history["test_loss"] < 1.0 and history["test_accuracy"] > 0.7


def test_curves_png_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    history = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_loss": [1.1, 0.6],
               "train_accuracy": [0.6, 0.8], "val_accuracy": [0.55, 0.75]}
    path = T.plot_curves(str(tmp_path), history)
    assert path and os.path.getsize(path) > 1000
    fig = T.curves_figure(dict(history, lr=[1e-3, 5e-4]), title="lenet5 on mnist, backend numpy")
    assert fig._suptitle.get_text() == "lenet5 on mnist, backend numpy"
    assert len(fig.axes) == 3 and list(fig.axes[2].lines[0].get_ydata()) == [1e-3, 5e-4]


def test_confusion_png_when_matplotlib_is_installed(tmp_path):
    pytest.importorskip("matplotlib")
    path = T.plot_confusion_png(str(tmp_path), np.array([[3, 1], [0, 4]]), ("cat", "dog"), title="t")
    assert path.endswith("confusion.png") and os.path.getsize(path) > 1000
