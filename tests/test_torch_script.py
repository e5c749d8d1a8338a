"""A PyTorch training script runs on pyconv after renaming the modules, and nothing else.

tests/scripts/torch_mnist.py is written for PyTorch (the idioms of pytorch/examples'
mnist/main.py: torchvision's MNIST and transforms, Adadelta, StepLR, nll_loss, argmax(dim=,
keepdim=), eq/view_as, torch.save of the state dict). The test renames `torchvision` to
`pyconv.vision`, then `torch` to `pyconv`, runs one training batch and the whole test set
(--dry-run) on the real MNIST files, and loads the saved weights back with pyconv.load.
Skipped where the MNIST files are not found ($PYCONV_DATA or ../shared/data/mnist).
"""
import os
import subprocess
import sys

import pytest

import pyconv

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def mnist_dir():
    env = os.environ.get("PYCONV_DATA")
    for d in ([os.path.join(env, "mnist"), env] if env else []) + [os.path.join(REPO, "..", "shared", "data", "mnist")]:
        if all(os.path.exists(os.path.join(d, f)) for f in FILES):
            return d
    return None


def renamed(source):
    return source.replace("torchvision", "pyconv.vision").replace("torch", "pyconv")


@pytest.mark.skipif(mnist_dir() is None, reason="the MNIST files are not here")
def test_pytorch_mnist_script_runs_after_renaming(tmp_path):
    raw = tmp_path / "data" / "MNIST" / "raw"          # torchvision's layout: ../data/MNIST/raw
    raw.mkdir(parents=True)
    for name in FILES:
        os.symlink(os.path.join(mnist_dir(), name), raw / name)
    work = tmp_path / "work"
    work.mkdir()
    with open(os.path.join(HERE, "scripts", "torch_mnist.py")) as f:
        (work / "main.py").write_text(renamed(f.read()))
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("PYCONV_DATA", None)
    run = subprocess.run([sys.executable, "main.py", "--dry-run", "--save-model"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Train Epoch: 1 [0/60000]" in run.stdout and "Accuracy: " in run.stdout and "/10000" in run.stdout
    state = pyconv.load(work / "mnist_cnn.pt")
    assert sorted(state) == sorted(f"{layer}.{p}" for layer in ("conv1", "conv2", "fc1", "fc2")
                                   for p in ("weight", "bias"))
    assert tuple(state["fc1.weight"].shape) == (128, 9216)
