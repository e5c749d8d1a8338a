"""torch.utils.data and torchvision on pyconv: default_collate, samplers, the DataLoader's
arguments and its worker processes, MNIST in torchvision's layout, per-image transforms, and
`pyconv.manual_seed` repeating every random draw."""
import collections
import gzip
import hashlib
import multiprocessing
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import pyconv as pc
from pyconv import nn
from pyconv.data import mnist as mnist_module
from pyconv.data import worker as worker_module
from pyconv.data import write_idx
from pyconv.utils.data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler,
                               SequentialSampler, SubsetRandomSampler, TensorDataset,
                               WeightedRandomSampler, default_collate, get_worker_info, random_split)
from pyconv.vision import datasets
from pyconv.vision import transforms as T

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
Pair = collections.namedtuple("Pair", "x y")


# -- datasets the worker processes import from this module -----------------------------------------
class Squares(Dataset):
    """Item i: (float32 [i, i*i], i); fails at `fail_at`, exits the process at `exit_at`."""

    def __init__(self, n=23, fail_at=None, exit_at=None, sleep=0.0):
        self.n, self.fail_at, self.exit_at, self.sleep = n, fail_at, exit_at, sleep

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.sleep)
        if i == self.fail_at:
            raise ValueError(f"item {i} is broken")
        if i == self.exit_at:
            os._exit(3)
        return np.array([i, i * i], np.float32), i


class WhoLoads(Dataset):
    """Item i: (i, the id of the worker process that loaded it, that worker's seed, a draw from
    pyconv's global generator there)."""

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return i, info.id, info.seed, float(pc.rand(1).item())


class Convolved(Dataset):
    """Item i: a conv2d computed by the C backend (so the worker runs the C kernels)."""

    def __len__(self):
        return 6

    def __getitem__(self, i):
        x = pc.tensor(np.arange(2 * 8 * 8, dtype=np.float32).reshape(1, 2, 8, 8) / 64 + i)
        w = pc.tensor(np.linspace(-1, 1, 3 * 2 * 3 * 3, dtype=np.float32).reshape(3, 2, 3, 3))
        with pc.backend("c"):
            return pc.nn.functional.conv2d(x, w, padding=1).numpy()[0]


def record_worker(worker_id):
    info = get_worker_info()
    assert info.id == worker_id and info.num_workers == 2
    pc.manual_seed(1000 + worker_id)  # a worker_init_fn may re-seed, as in torch


def batches(loader):
    return [[t.numpy() if hasattr(t, "numpy") else t for t in batch] for batch in loader]


def assert_same_batches(a, b):
    assert len(a) == len(b)
    for batch_a, batch_b in zip(a, b):
        for u, v in zip(batch_a, batch_b):
            np.testing.assert_array_equal(u, v)


# -- default_collate -------------------------------------------------------------------------------
def test_default_collate_like_torch():
    batch = default_collate([(1, 2.0, "a", {"k": np.array([1, 2])}), (4, 5.0, "b", {"k": np.array([3, 4])})])
    ints, floats, strings, mapping = batch
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [1, 4]
    assert floats.dtype == np.float64 and floats.numpy().tolist() == [2.0, 5.0]
    assert strings == ["a", "b"] and mapping["k"].numpy().tolist() == [[1, 2], [3, 4]]
    pair = default_collate([Pair(pc.tensor([1.0]), 0), Pair(pc.tensor([2.0]), 1)])
    assert isinstance(pair, Pair) and pair.x.shape == (2, 1) and pair.y.numpy().tolist() == [0, 1]
    lists = default_collate([[np.float32(1), 2], [np.float32(3), 4]])
    assert isinstance(lists, list) and lists[0].dtype == np.float32 and lists[1].numpy().tolist() == [2, 4]


def test_default_collate_refuses_what_it_cannot_stack():
    with pytest.raises(TypeError, match="got NoneType"):
        default_collate([None, None])
    with pytest.raises(RuntimeError, match="same number of fields"):
        default_collate([(1, 2), (3,)])


# -- samplers and the DataLoader's arguments -------------------------------------------------------
def labels(loader):
    return [batch[1].numpy().tolist() for batch in loader]


def test_samplers():
    ds = Squares(6)
    assert list(SequentialSampler(ds)) == [0, 1, 2, 3, 4, 5]
    assert list(BatchSampler(range(5), 2, drop_last=False)) == [[0, 1], [2, 3], [4]]
    assert list(BatchSampler(range(5), 2, drop_last=True)) == [[0, 1], [2, 3]] and len(BatchSampler(range(5), 2, True)) == 2
    assert sorted(RandomSampler(ds, generator=pc.Generator().manual_seed(0))) == list(range(6))
    drawn = list(RandomSampler(ds, replacement=True, num_samples=20, generator=pc.Generator()))
    assert len(drawn) == 20 and set(drawn) <= set(range(6))
    assert sorted(SubsetRandomSampler([4, 1, 3])) == [1, 3, 4]
    assert list(WeightedRandomSampler([0.0, 1.0, 0.0], 5)) == [1] * 5


def test_random_sampler_more_samples_than_items():
    drawn = list(RandomSampler(Squares(4), num_samples=10, generator=pc.Generator()))
    assert len(drawn) == 10 and sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3]


def test_loader_sampler_and_batch_sampler_arguments():
    ds = Squares(6)
    assert labels(DataLoader(ds, batch_size=4, sampler=[5, 0, 3])) == [[5, 0, 3]]
    assert labels(DataLoader(ds, batch_sampler=[[1, 2], [0]])) == [[1, 2], [0]]
    for bad in (dict(batch_sampler=[[0]], batch_size=2), dict(batch_sampler=[[0]], shuffle=True),
                dict(sampler=[0], shuffle=True), dict(persistent_workers=True),
                dict(prefetch_factor=2), dict(num_workers=-1), dict(timeout=-1)):
        with pytest.raises(ValueError):
            DataLoader(ds, **bad)


def test_loader_without_batching():
    x, y = next(iter(DataLoader(Squares(3), batch_size=None)))
    assert isinstance(x, pc.Tensor) and x.numpy().tolist() == [0.0, 0.0] and y == 0
    assert len(DataLoader(Squares(3), batch_size=None)) == 3


def test_loader_accepts_pin_memory_and_keeps_the_last_partial_batch():
    loader = DataLoader(Squares(5), batch_size=2, pin_memory=True, in_order=False)
    assert labels(loader) == [[0, 1], [2, 3], [4]] and len(loader) == 3


def test_tensor_dataset_items_are_tensors_and_concat():
    ds = TensorDataset(pc.tensor([[1.0], [2.0]]), np.array([7, 8]))
    x, y = ds[1]
    assert isinstance(x, pc.Tensor) and x.numpy().tolist() == [2.0] and int(y) == 8
    assert ds.tensors[1].numpy().tolist() == [7, 8]
    both = ds + Squares(2)
    assert isinstance(both, ConcatDataset) and len(both) == 4 and both[3][1] == 1 and int(both[-3][1]) == 8


def test_random_split_with_a_torch_style_generator():
    a, b = random_split(Squares(10), [0.7, 0.3], generator=pc.Generator().manual_seed(42))
    a2, _ = random_split(Squares(10), [7, 3], generator=pc.Generator().manual_seed(42))
    assert len(a) == 7 and len(b) == 3 and list(a.indices) == list(a2.indices)
    assert sorted(list(a.indices) + list(b.indices)) == list(range(10))


# -- worker processes ------------------------------------------------------------------------------
def test_workers_give_the_batches_of_num_workers_0_in_order():
    def run(num_workers, **kw):
        loader = DataLoader(Squares(23), batch_size=3, shuffle=True, num_workers=num_workers,
                            generator=pc.Generator().manual_seed(5), **kw)
        return [batches(loader) for _ in range(2)]  # two epochs, two different orders
    here, there = run(0), run(2, persistent_workers=True, prefetch_factor=3)
    assert not np.array_equal(here[0][0][1], here[1][0][1])
    for epoch_here, epoch_there in zip(here, there):
        assert_same_batches(epoch_here, epoch_there)


def test_workers_follow_the_global_seed_when_shuffling():
    pc.manual_seed(11)
    here = batches(DataLoader(Squares(10), batch_size=4, shuffle=True))
    pc.manual_seed(11)
    assert_same_batches(batches(DataLoader(Squares(10), batch_size=4, shuffle=True, num_workers=2)), here)


def test_worker_ids_seeds_and_init_fn():
    pc.manual_seed(0)
    loader = DataLoader(WhoLoads(), batch_size=2, num_workers=2, worker_init_fn=record_worker)
    first = batches(loader)
    for number, (index, worker, seed, _) in enumerate(first):
        assert index.tolist() == [2 * number, 2 * number + 1]
        assert worker.tolist() == [number % 2] * 2  # batch i is loaded by worker i % 2
        assert seed.tolist() == [first[0][2][0] + number % 2] * 2  # the epoch's seed + worker id
    # worker 0 loaded batches 0, 2, 4 after re-seeding itself in worker_init_fn
    worker0 = np.concatenate([first[b][3] for b in (0, 2, 4)])
    np.testing.assert_array_equal(worker0, pc.Generator().manual_seed(1000).random(6).astype(np.float32))
    pc.manual_seed(0)
    assert_same_batches(batches(loader), first)
    assert get_worker_info() is None


def test_worker_exception_is_raised_here_with_its_traceback():
    with pytest.raises(ValueError) as info:
        list(DataLoader(Squares(12, fail_at=7), batch_size=2, num_workers=2))
    message = str(info.value)
    assert "Caught ValueError in DataLoader worker process 1." in message
    assert "item 7 is broken" in message and "Original Traceback" in message
    assert "test_torch_surface_data.py" in message and "__getitem__" in message


def test_worker_that_dies_is_reported_not_waited_for():
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(DataLoader(Squares(8, exit_at=2), batch_size=2, num_workers=2))


def test_timeout():
    with pytest.raises(RuntimeError, match="timed out after 0.5 seconds"):
        list(DataLoader(Squares(4, sleep=2.0), batch_size=2, num_workers=1, timeout=0.5))


def test_leaving_an_epoch_early_stops_its_workers():
    loader = DataLoader(Squares(40), batch_size=2, num_workers=2)
    iterator = iter(loader)
    next(iterator)
    workers = list(iterator.pool.workers)
    assert all(w.is_alive() for w in workers)
    del iterator
    assert not any(w.is_alive() for w in workers)


@pytest.mark.parametrize("context", [None, "fork"])
def test_workers_after_the_c_kernels_ran_threaded_here(context):
    if pc.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    pc.set_num_threads(2)
    x = pc.randn(2, 4, 32, 32, requires_grad=True)
    with pc.backend("c"):
        pc.nn.functional.conv2d(x, pc.randn(8, 4, 3, 3), padding=1).sum().backward()
    here = batches(DataLoader(Convolved(), batch_size=2))
    there = batches(DataLoader(Convolved(), batch_size=2, num_workers=2, timeout=120,
                               multiprocessing_context=context))
    assert_same_batches(there, here)


def test_start_method_choice():
    ds = Squares(4)
    assert worker_module.choose_context(None, (ds, None, None, False))[0].get_start_method() == "forkserver"
    context, spec = worker_module.choose_context(None, (ds, lambda b: b, None, False))
    assert context.get_start_method() == "fork" and spec[0] is ds  # a lambda does not pickle
    assert worker_module.choose_context("spawn", (ds, None, None, False))[0].get_start_method() == "spawn"


def test_main_guard_detection(tmp_path):
    script = tmp_path / "train.py"
    script.write_text("import os\nx = 1\nif __name__ == '__main__':\n    y = 2\n    z = 3\n")
    assert worker_module._main_guards(str(script)) == [(3, 5)]
    script.write_text("if '__main__' == __name__:\n    pass\nif __name__ == 'other':\n    pass\n")
    assert worker_module._main_guards(str(script)) == [(1, 2)]


SCRIPT = """
import numpy as np
import pyconv as pc
from pyconv.utils.data import DataLoader, TensorDataset
from pyconv.data import worker

class Doubled(TensorDataset):
    pass

ds = Doubled(np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10))
{body}
"""


@pytest.mark.parametrize("guarded", [False, True])
def test_a_training_script_with_or_without_a_main_guard(tmp_path, guarded):
    body = ("method = worker.choose_context(None, (TensorDataset(np.zeros(2)), None, None, True))[0]\n"
            "print(method.get_start_method(), sum(len(y) for _, y in DataLoader(ds, 3, num_workers=2)))")
    if guarded:
        body = "if __name__ == '__main__':\n" + textwrap.indent(body, "    ")
    script = tmp_path / "script.py"
    script.write_text(SCRIPT.format(body=body))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, env=dict(os.environ, PYTHONPATH=REPO))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["forkserver" if guarded else "fork", "10"]


# -- MNIST in torchvision's layout -----------------------------------------------------------------
def write_mnist(directory, n_train=6, n_test=4, compress=True):
    """Tiny IDX files: image i is filled with the value i, label i % 10; returns their MD5s."""
    os.makedirs(directory, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = np.repeat(np.arange(n, dtype=np.uint8), 28 * 28).reshape(n, 28, 28)
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"), images)
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"), (np.arange(n) % 10).astype(np.uint8))
    return {name: hashlib.md5(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in mnist_module.FILES} if compress else {}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    """No network, no PYCONV_DATA, an empty download cache."""
    def refuse(url, timeout=None):
        raise AssertionError(f"tried to download {url}")
    monkeypatch.setattr(mnist_module, "_urlopen", refuse)
    monkeypatch.delenv("PYCONV_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_mnist_in_torchvision_layout(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(datasets.MNIST, "md5", write_mnist(tmp_path / "MNIST" / "raw"))
    ds = datasets.MNIST(tmp_path, train=True, download=True)  # present: nothing is fetched
    assert len(ds) == 6 and ds.raw_folder == str(tmp_path / "MNIST" / "raw") and ds.root == str(tmp_path)
    assert ds.data.dtype == np.uint8 and ds.data.shape == (6, 28, 28) and ds.targets.dtype == np.int64
    assert ds.classes[3] == "3 - three" and ds.class_to_idx["9 - nine"] == 9
    image, target = ds[4]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (28, 28)
    assert image[0, 0] == 4 and target == 4 and isinstance(target, int)
    image[...] = 0  # a copy: the dataset keeps its data
    assert ds.data.numpy()[4, 0, 0] == 4
    test = datasets.MNIST(tmp_path, train=False, transform=T.ToTensor(), target_transform=lambda y: y * 10)
    x, y = test[np.int64(3)]
    assert isinstance(x, pc.Tensor) and x.shape == (1, 28, 28) and x.dtype == np.float32
    assert float(x.numpy()[0, 5, 5]) == np.float32(3) / np.float32(255) and y == 30
    assert "Split: Test" in repr(test)


def test_pyconv_mnist_also_reads_torchvision_layout(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(pc.data.MNIST, "md5", write_mnist(tmp_path / "MNIST" / "raw"))
    assert pc.data.MNIST(tmp_path, train=False).root == str(tmp_path / "MNIST" / "raw")


def test_fashion_mnist_uncompressed_files(tmp_path, offline):
    write_mnist(tmp_path / "FashionMNIST" / "raw", compress=False)
    ds = datasets.FashionMNIST(str(tmp_path), train=False)
    assert len(ds) == 4 and ds.classes[9] == "Ankle boot" and ds[2][1] == 2


def test_mnist_subset_by_replacing_data_and_targets(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(datasets.MNIST, "md5", write_mnist(tmp_path / "MNIST" / "raw"))
    ds = datasets.MNIST(tmp_path)
    keep = ds.targets.numpy() % 2 == 0
    ds.data, ds.targets = ds.data.numpy()[keep], ds.targets.numpy()[keep]
    assert len(ds) == 3 and [ds[i][1] for i in range(3)] == [0, 2, 4]


def test_mnist_missing_names_the_folders_searched(tmp_path, offline):
    with pytest.raises(FileNotFoundError) as info:
        datasets.MNIST(tmp_path / "data")
    assert str(tmp_path / "data" / "MNIST" / "raw") in str(info.value)
    assert str(tmp_path / "data" / "mnist") in str(info.value)


def test_mnist_download_offline_says_where_it_looked(tmp_path, monkeypatch, offline):
    def no_network(url, timeout=None):
        raise OSError("network is unreachable")
    monkeypatch.setattr(mnist_module, "_urlopen", no_network)
    with pytest.raises(RuntimeError, match="could not download") as info:
        datasets.MNIST(tmp_path, download=True)
    assert str(tmp_path / "MNIST" / "raw") in str(info.value) and "were not found in any of" in str(info.value)


def test_mnist_through_workers_equals_here(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(datasets.MNIST, "md5", write_mnist(tmp_path / "MNIST" / "raw", n_train=10))
    ds = datasets.MNIST(tmp_path, transform=T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.25,))]))
    here = batches(DataLoader(ds, batch_size=4))
    assert here[0][0].shape == (4, 1, 28, 28) and here[2][1].tolist() == [8, 9]
    np.testing.assert_allclose(here[0][0][1, 0, 0, 0], (1 / 255 - 0.5) / 0.25, rtol=1e-6)
    assert_same_batches(batches(DataLoader(ds, batch_size=4, num_workers=2)), here)


# -- per-image transforms --------------------------------------------------------------------------
def test_to_tensor_and_normalize_by_hand():
    x = T.ToTensor()(np.array([[0, 255], [51, 102]], np.uint8))
    assert isinstance(x, pc.Tensor) and x.shape == (1, 2, 2) and x.dtype == np.float32
    np.testing.assert_array_equal(x.numpy()[0], np.float32([[0, 1], [0.2, 0.4]]))
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)  # (H, W, C)
    np.testing.assert_array_equal(T.ToTensor()(rgb).numpy()[2], np.float32([[2, 5], [8, 11]]) / np.float32(255))
    assert T.ToTensor()(np.ones((2, 2), np.float64)).dtype == np.float64  # other dtypes: unscaled
    y = T.Normalize((0.5,), (0.25,))(x)
    np.testing.assert_allclose(y.numpy()[0], [[-2, 2], [-1.2, -0.4]], rtol=1e-6)
    two = T.Normalize([0.0, 1.0], [1.0, 2.0])(pc.ones(2, 1, 1))
    assert two.numpy().ravel().tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="float"):
        T.Normalize(0.5, 0.5)(T.PILToTensor()(np.zeros((2, 2), np.uint8)))
    with pytest.raises(TypeError, match="Tensor"):
        T.ToTensor()(x)


def test_pad_and_center_crop_by_hand():
    img = np.array([[1, 2], [3, 4]], np.uint8)
    np.testing.assert_array_equal(T.Pad(1)(img), [[0, 0, 0, 0], [0, 1, 2, 0], [0, 3, 4, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(T.Pad([1, 0], padding_mode="edge")(img), [[1, 1, 2, 2], [3, 3, 4, 4]])
    grid = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(T.CenterCrop(3)(grid), grid[1:4, 1:4])
    t = T.CenterCrop((1, 2))(pc.tensor(grid[None].astype(np.float32)))  # left = round(1.5) = 2
    assert isinstance(t, pc.Tensor) and t.numpy().tolist() == [[[12.0, 13.0]]]


def test_random_crop_and_flips():
    img = np.arange(9, dtype=np.uint8).reshape(3, 3)
    padded = np.pad(img, 1)
    windows = [padded[i:i + 3, j:j + 3] for i in range(3) for j in range(3)]
    for _ in range(10):
        out = T.RandomCrop(3, padding=1)(img)
        assert out.dtype == np.uint8 and any(np.array_equal(out, w) for w in windows)
    np.testing.assert_array_equal(T.RandomCrop(3)(img), img)  # nothing to choose
    assert T.RandomCrop(5, pad_if_needed=True)(img).shape == (5, 5)
    with pytest.raises(ValueError, match="larger"):
        T.RandomCrop(4)(img)
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(img), img[:, ::-1])
    np.testing.assert_array_equal(T.RandomVerticalFlip(1.0)(img), img[::-1])
    assert T.RandomHorizontalFlip(0.0)(img) is img
    chw = pc.tensor(np.stack([img, img + 10]).astype(np.float32))
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(chw).numpy(), chw.numpy()[:, :, ::-1])


def test_random_rotation_is_counter_clockwise():
    img = np.arange(25, dtype=np.uint8).reshape(5, 5)
    np.testing.assert_array_equal(T.RandomRotation((90, 90))(img), np.rot90(img))
    chw = pc.tensor(np.stack([img, 2 * img]).astype(np.float32))
    out = T.RandomRotation((-90, -90), interpolation=T.InterpolationMode.BILINEAR)(chw)
    np.testing.assert_allclose(out.numpy(), np.rot90(chw.numpy(), -1, axes=(1, 2)), atol=1e-4)
    assert T.RandomRotation(0)(img).tolist() == img.tolist()
    with pytest.raises(ValueError, match="expand"):
        T.RandomRotation(10, expand=True)


def test_compose_and_lambda():
    pipeline = T.Compose([T.Lambda(lambda a: a * 2), T.ToTensor()])
    out = pipeline(np.full((2, 2), 3, np.uint8))
    np.testing.assert_array_equal(out.numpy(), np.full((1, 2, 2), 6 / 255, np.float32))
    assert "ToTensor()" in repr(pipeline)


# -- pyconv.manual_seed repeats every random draw --------------------------------------------------
def draws():
    """One of each random thing that draws from the global generator, as numpy values."""
    x = pc.ones(4, 8)
    a, b = random_split(Squares(10), [6, 4])
    augment = T.Compose([T.RandomCrop(4, padding=2), T.RandomHorizontalFlip(), T.RandomRotation(30)])
    return [nn.Linear(8, 3).weight.numpy().copy(),
            nn.init.kaiming_uniform_(pc.zeros(3, 8)).numpy(),
            pc.nn.functional.dropout(x, 0.5).numpy(),
            nn.Dropout(0.3)(x).numpy(),
            np.concatenate(labels(DataLoader(Squares(10), batch_size=3, shuffle=True))),
            np.asarray(a.indices), np.asarray(b.indices),
            augment(np.arange(16, dtype=np.uint8).reshape(4, 4)),
            pc.data.transforms.RandomShift(1)(np.ones((2, 1, 4, 4), np.float32)),
            pc.rand(3).numpy(), pc.randn(3).numpy(),
            pc.randint(0, 100, (3,)).numpy(), pc.randperm(6).numpy()]


def test_manual_seed_repeats_every_random_draw():
    pc.manual_seed(123)
    first = draws()
    pc.manual_seed(123)
    second = draws()
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)
    pc.manual_seed(124)
    assert not all(np.array_equal(u, v) for u, v in zip(first, draws()))
