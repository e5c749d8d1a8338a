"""pyconv.distributed: the single-process API (no mpiexec needed), the post-backward hook, the
samplers' shards, and, on 2 MPI ranks started with mpiexec, the collectives, DDP's equivalence
with one process, failures that end the job instead of hanging, mismatched settings, and
`python -m pyconv train` on a tiny synthetic dataset.

The multi-process parts write small scripts to tmp_path and run them with
`mpiexec -n 2 python script.py` (each launch costs a few seconds of start-up); they are skipped
when mpi4py or mpiexec is missing (pip install 'pyconv[distributed]' provides both).
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pyconv
import pyconv.distributed as dist
from pyconv import autograd, data, nn
from pyconv import train as T

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def find_mpiexec():
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    return beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
needs_mpi = pytest.mark.skipif(importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
                               reason="needs mpi4py and mpiexec: pip install 'pyconv[distributed]'")


def mpirun(tmp_path, source, *args, n=2, timeout=60, env=None, module=None):
    """Run `source` (a script) or `python -m module args` on n ranks; returns (CompletedProcess,
    seconds). PYCONV_DIST_TIMEOUT defaults to 30 s here, so that no failure can wait 300 s."""
    if module is None:
        script = tmp_path / "script.py"
        script.write_text(textwrap.dedent(source))
        command = [sys.executable, str(script), *args]
    else:
        command = [sys.executable, "-m", module, *args]
    environment = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS="1", PYCONV_DIST_TIMEOUT="30")
    environment.update(env or {})
    start = time.perf_counter()
    result = subprocess.run([MPIEXEC, "-n", str(n), *command], capture_output=True, text=True,
                            timeout=timeout, env=environment, cwd=tmp_path)
    return result, time.perf_counter() - start


def show(result):
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


# -- (a) one process, no mpiexec ---------------------------------------------------------------------
def test_single_process_api_is_a_no_op():
    assert dist.init() == 1 and not dist.is_initialized()
    assert dist.get_rank() == 0 and dist.get_world_size() == 1
    t = pyconv.tensor([1.0, 2.0])
    assert dist.all_reduce(t, "mean") is t and t.tolist() == [1.0, 2.0]
    assert dist.broadcast(t) is t and t.tolist() == [1.0, 2.0]
    dist.barrier()
    dist.check_consistent({"seed": 1})
    assert dist.broadcast_bytes(b"abc") == b"abc"
    with pytest.raises(ValueError, match="op must be one of"):
        dist.all_reduce(t, "prod")
    with pytest.raises(TypeError, match="float32 or float64"):
        dist.all_reduce(pyconv.tensor([1, 2]))
    nn.init.manual_seed(0)
    model = nn.Linear(3, 2)
    ddp = dist.DistributedDataParallel(model)
    assert ddp.module is model and set(ddp.state_dict()) == {"weight", "bias"}  # no "module." prefix
    ddp(pyconv.randn(4, 3)).sum().backward()
    assert model.weight.grad is not None and ddp.stats["syncs"] == 0  # nothing to average alone


def test_unavailable_without_mpi4py(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mpi4py" else real(name, *a))
    assert not dist.is_available() and "mpi4py is not installed" in dist.unavailable_reason()
    assert dist.init() == 1  # not under a launcher: one process
    monkeypatch.setenv("PMI_RANK", "0")
    monkeypatch.setenv("PMI_SIZE", "2")  # under mpiexec -n 2, running on alone would be wrong
    with pytest.raises(RuntimeError, match="mpi4py is not installed"):
        dist.init()
    with pytest.raises(SystemExit) as e:
        T.main(["--distributed", "--data-dir", "nowhere"])
    assert e.value.code == 2
    assert not dist.is_initialized()


def test_post_backward_hook_sees_the_leaves():
    seen = []
    handle = autograd.register_post_backward_hook(lambda leaves: seen.append(leaves))
    try:
        w, x = pyconv.tensor([1.0, 2.0], requires_grad=True), pyconv.tensor([3.0, 4.0])
        (w * x).sum().backward()
        assert len(seen) == 1 and seen[0][0] is w and w.grad.tolist() == [3.0, 4.0]  # grads summed first
        w.backward(pyconv.tensor([1.0, 1.0]))  # backward on a leaf itself
        assert seen[1] == (w,)
    finally:
        handle.remove()
    (w * x).sum().backward()
    assert len(seen) == 2  # removed


# -- (c) the samplers ------------------------------------------------------------------------------
@pytest.mark.parametrize("n,drop_last", [(10, False), (11, False), (11, True), (3, False)])
def test_distributed_sampler_shards(n, drop_last):
    shards = [list(dist.DistributedSampler(range(n), num_replicas=4, rank=r, seed=5, drop_last=drop_last))
              for r in range(4)]
    assert len({len(s) for s in shards}) == 1 and all(len(s) == len(dist.DistributedSampler(
        range(n), 4, r, drop_last=drop_last)) for r, s in enumerate(shards))
    every = sum(shards, [])
    if drop_last:
        assert len(set(every)) == len(every) == 4 * (n // 4)  # disjoint, the tail dropped
    else:
        assert set(every) == set(range(n))  # covering; padding repeats len(every) - n indices
        assert len(every) == 4 * -(-n // 4)
        if n >= 4:
            assert len(set(every)) == n and len(every) - n < 4
    again = [list(dist.DistributedSampler(range(n), 4, r, seed=5, drop_last=drop_last)) for r in range(4)]
    assert again == shards  # seeded


def test_distributed_sampler_set_epoch_and_loader():
    sampler = dist.DistributedSampler(range(20), num_replicas=2, rank=1, seed=0)
    first = list(sampler)
    sampler.set_epoch(1)
    second = list(sampler)
    assert first != second and sorted(first) != sorted(range(20))
    other = dist.DistributedSampler(range(20), num_replicas=2, rank=0, seed=0)
    other.set_epoch(1)
    assert set(second).isdisjoint(other) and set(second) | set(other) == set(range(20))
    assert list(dist.DistributedSampler(range(5), 2, 1, shuffle=False)) == [1, 3, 0]  # padded with 0
    x = np.arange(20, dtype=np.float32)[:, None]
    loader = data.DataLoader(data.TensorDataset(x, np.arange(20)), 4, sampler=sampler)
    assert sum((b[1].tolist() for b in loader), []) == second
    assert list(dist.DistributedEvalSampler(range(7), 3, 1)) == [1, 4]
    assert T._interleave([np.array([0, 3, 6]), np.array([1, 4]), np.array([2, 5])], 3).tolist() == list(range(7))


# -- (b) collectives on 2 ranks ---------------------------------------------------------------------
COLLECTIVES = """
import numpy as np, pyconv, pyconv.distributed as dist
assert dist.init() == 2 and dist.is_initialized()
r = dist.get_rank()
for dtype in (np.float32, np.float64):
    t = pyconv.tensor(np.arange(6, dtype=dtype).reshape(2, 3) + 10 * r)
    dist.all_reduce(t)
    assert t.dtype == dtype and t.numpy().tolist() == (2 * np.arange(6).reshape(2, 3) + 10).tolist()
    dist.all_reduce(t, "mean")
    assert np.allclose(t.numpy(), 2 * np.arange(6).reshape(2, 3) + 10)
m = np.array([r, -r], dtype=np.float64)
dist.all_reduce(m, "max"); assert m.tolist() == [1, 0]
view = np.arange(8, dtype=np.float32).reshape(2, 4)[:, ::2] * (r + 1)  # not contiguous
dist.all_reduce(view); assert view.tolist() == [[0, 6], [12, 18]]
b = pyconv.tensor(np.full(5, r + 1.0))
dist.broadcast(b, src=1); assert b.tolist() == [2.0] * 5
dist.barrier()
parts = dist.all_gather_array(np.arange(r + 2))
assert [p.tolist() for p in parts] == [[0, 1], [0, 1, 2]]
assert dist.broadcast_bytes(b"hello" if r == 0 else None) == b"hello"
sampler = dist.DistributedSampler(range(9))  # rank and replicas from the job
assert (sampler.rank, sampler.num_replicas, len(sampler)) == (r, 2, 5)
print("collectives ok on rank", r)
"""


@needs_mpi
def test_collectives_on_two_ranks(tmp_path):
    result, _ = mpirun(tmp_path, COLLECTIVES)
    assert result.returncode == 0, show(result)
    assert result.stdout.count("collectives ok") == 2


# -- (d) 2 ranks x B/2 == 1 process x B -------------------------------------------------------------
# Bound: float32, 5 steps at lr 0.1 (SGD with momentum) and 0.01 (Adam) on a 0.3k-parameter conv net
# (weights of size ~0.1-1). The two runs add the same gradients in another order (each rank's
# half-batch mean, then the mean of the two), so they differ by float32 rounding only: measured
# max |difference| 4.5e-8 (SGD) and 6.0e-8 (Adam), a few units in the last place; asserted < 1e-6.
EQUIVALENCE_BOUND = 1e-6
EQUIVALENCE = """
import json, numpy as np, pyconv, pyconv.distributed as dist
from pyconv import nn, optim
from pyconv.nn import functional as F
dist.init(); rank = dist.get_rank()
B, STEPS = 16, 5
rng = np.random.default_rng(0)
x = rng.normal(size=(STEPS * B, 1, 6, 6)).astype(np.float32)
y = rng.integers(0, 3, STEPS * B)

def make(seed):
    nn.init.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))

def train(model, name, lo, hi):
    opt = (optim.SGD(model.parameters(), lr=0.1, momentum=0.9) if name == "sgd"
           else optim.Adam(model.parameters(), lr=0.01))
    for k in range(STEPS):
        opt.zero_grad()
        a, b = k * B + lo, k * B + hi
        F.cross_entropy(model(pyconv.tensor(x[a:b])), pyconv.tensor(y[a:b])).backward()
        opt.step()  # DDP's hook has averaged the gradients during backward()
    return np.concatenate([v.ravel() for v in model.state_dict().values()])

report = {}
for name in ("sgd", "adam"):
    # 3 buckets; rank 1's own init differs, so the replicas start equal only through the broadcast
    ddp = dist.DistributedDataParallel(make(seed=rank), bucket_cap_mb=0.0005)
    assert len(ddp._buckets) > 1
    half = B // 2
    mine = train(ddp, name, rank * half, (rank + 1) * half)
    both = dist.all_gather_array(mine)
    assert np.array_equal(both[0], both[1]), "the replicas drifted apart"
    if rank == 0:
        alone = train(make(seed=0), name, 0, B)
        report[name] = float(np.abs(mine - alone).max())

# a parameter no rank uses keeps grad None; no_sync accumulates, the next backward averages the sum
class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.used, self.unused = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, inp):
        return self.used(inp)

nn.init.manual_seed(0)
model = Two()
ddp = dist.DistributedDataParallel(model)
data = pyconv.tensor(np.arange(8, dtype=np.float32).reshape(2, 4) * (rank + 1))
with ddp.no_sync():
    ddp(data).sum().backward()
syncs = ddp.stats["syncs"]
ddp(data).sum().backward()
assert model.unused.weight.grad is None and ddp.stats["syncs"] == syncs + 1
expected = 2 * (np.arange(8).reshape(2, 4) * 1.5).sum(axis=0)  # twice the mean over ranks
assert np.allclose(model.used.weight.grad.numpy(), np.tile(expected, (2, 1)))
if rank == 0:
    print("REPORT", json.dumps(report))
"""


@needs_mpi
def test_two_ranks_match_one_process(tmp_path):
    result, _ = mpirun(tmp_path, EQUIVALENCE)
    assert result.returncode == 0, show(result)
    line = next(l for l in result.stdout.splitlines() if l.startswith("REPORT"))
    report = json.loads(line.split(" ", 1)[1])
    assert set(report) == {"sgd", "adam"}
    for name, difference in report.items():
        assert difference < EQUIVALENCE_BOUND, (name, difference)


# -- (e) a failing rank ends the job ---------------------------------------------------------------
FAILING = """
import sys, time, numpy as np, pyconv.distributed as dist
dist.init()
if dist.get_rank() == 1:
    if sys.argv[1] == "raise":
        raise ValueError("rank one breaks")
    time.sleep(40)  # "hang": never reaches the collective
dist.all_reduce(np.ones(3))
print("not reached")
"""


@needs_mpi
def test_an_exception_on_one_rank_aborts_the_job(tmp_path):
    result, seconds = mpirun(tmp_path, FAILING, "raise")
    assert result.returncode != 0 and seconds < 60, show(result)
    assert "rank 1 of 2 failed" in result.stderr and "ValueError: rank one breaks" in result.stderr
    assert "not reached" not in result.stdout


@needs_mpi
def test_a_hanging_rank_times_out(tmp_path):
    result, seconds = mpirun(tmp_path, FAILING, "hang", env={"PYCONV_DIST_TIMEOUT": "2"})
    assert result.returncode != 0 and seconds < 35, show(result)  # not the 40 s of the sleep
    assert "DistributedTimeoutError: rank 0 of 2: all_reduce(sum) of 3 values did not complete within 2 s" \
        in result.stderr, show(result)


# -- (f) different settings on the ranks -------------------------------------------------------------
MISMATCH = """
import pyconv.distributed as dist
from pyconv import nn
dist.init(); r = dist.get_rank()
caught = []
try:
    dist.check_consistent({"seed": r, "batch size": 8, "world size": dist.get_world_size()})
except dist.DistributedSettingsError as e:
    caught.append(str(e))
try:
    dist.DistributedDataParallel(nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 3 + r)))
except dist.DistributedSettingsError as e:
    caught.append(str(e))
open(f"rank{r}.txt", "w").write("\\n---\\n".join(caught))  # one file per rank: no interleaved output
"""


@needs_mpi
def test_mismatched_settings_raise_on_every_rank(tmp_path):
    result, _ = mpirun(tmp_path, MISMATCH)
    assert result.returncode == 0, show(result)
    for r in (0, 1):
        settings, models = (tmp_path / f"rank{r}.txt").read_text().split("\n---\n")
        assert "seed: rank 0: 0, rank 1: 1" in settings and "batch size" not in settings
        assert 'parameters[2]: rank 0: ["2.weight", [3, 2], "float32", true], rank 1: ["2.weight", [4, 2]' in models


# -- (g) python -m pyconv train on 2 ranks -------------------------------------------------------------
@pytest.fixture
def tiny_mnist(tmp_path):
    """120 training and 40 test images (uncompressed IDX: no MD5 to match), labels in the picture."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    root.mkdir()
    for prefix, n in (("train", 120), ("t10k", 40)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, label in enumerate(y):
            x[i, 2 * label:2 * label + 6, 4:24] = 250
        data.write_idx(str(root / f"{prefix}-images-idx3-ubyte"), x)
        data.write_idx(str(root / f"{prefix}-labels-idx1-ubyte"), y)
    return root


TRAIN = ["train", "--model", "lenet5", "--batch-size", "16", "--val-split", "0.25", "--no-progress",
         "--seed", "1", "--optimizer", "sgd"]


@needs_mpi
def test_train_command_on_two_ranks(tmp_path, tiny_mnist):
    args = TRAIN + ["--data-dir", str(tiny_mnist), "--out", str(tmp_path / "run")]
    result, _ = mpirun(tmp_path, None, *args, "--epochs", "1", module="pyconv", timeout=90)
    assert result.returncode == 0, show(result)
    text = result.stdout
    for once in ("data-parallel over 2 processes: 8 images per process per step, 1 thread(s)",
                 "epoch 1/1:", "test accuracy", "wrote "):
        assert text.count(once) == 1, (once, text)  # rank 0 alone prints
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["processes"] == 2 and np.array(history["confusion_matrix"]).sum() == 40  # every test image once
    assert {"checkpoint.npz", "model.npz", "history.json"} <= set(os.listdir(tmp_path / "run"))
    assert set(np.load(tmp_path / "run" / "model.npz").files) == set(pyconv.models.get_model("lenet5").state_dict())

    result, _ = mpirun(tmp_path, None, *args, "--epochs", "2", "--resume", module="pyconv", timeout=90)
    assert result.returncode == 0, show(result)
    assert result.stdout.count("resumed from the checkpoint written after epoch 1") == 1, show(result)
    assert "epoch 1/2:" not in result.stdout and result.stdout.count("epoch 2/2:") == 1
    assert json.loads((tmp_path / "run" / "history.json").read_text())["epoch"] == [1, 2]


@needs_mpi
def test_train_command_refuses_a_batch_not_divisible(tmp_path, tiny_mnist):
    args = TRAIN + ["--data-dir", str(tiny_mnist), "--out", str(tmp_path / "run"), "--batch-size", "15"]
    result, seconds = mpirun(tmp_path, None, *args, module="pyconv")
    assert result.returncode != 0 and seconds < 60, show(result)
    assert "--batch-size 15 is the global batch, split evenly over the 2 processes" in result.stderr
    assert not (tmp_path / "run").exists()
