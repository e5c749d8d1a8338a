"""Data: the IDX reader on tiny generated files, DataLoader edge cases, random_split,
transforms, MNIST file location/checksums, and a download that fails cleanly offline."""
import gzip
import hashlib
import io
import os
import struct
import tracemalloc
import urllib.error

import numpy as np
import pytest

from pyconv import Tensor
from pyconv.data import (MNIST, DataLoader, Dataset, FashionMNIST, IDXError, TensorDataset,
                         random_split, read_idx, write_idx)
from pyconv.data import idx as idx_module
from pyconv.data import mnist as mnist_module
from pyconv.data import transforms as T

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def mnist_dir():
    env = os.environ.get("PYCONV_DATA")
    for d in ([os.path.join(env, "mnist"), env] if env else []) + [os.path.join(REPO, "..", "shared", "data", "mnist")]:
        if os.path.isfile(os.path.join(d, "train-images-idx3-ubyte.gz")):
            return d
    return None


# -- IDX -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    a = (np.arange(2 * 3 * 4) % 100).astype(dtype).reshape(2, 3, 4)
    path = tmp_path / f"x.idx{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == (2, 3, 4)
    assert b.dtype.isnative and b.flags.writeable and b.flags.c_contiguous
    np.testing.assert_array_equal(a, b)


def test_idx_hand_made_header(tmp_path):
    # images: magic 0x00000803, count 2, rows 2, cols 3, then bytes
    raw = struct.pack(">IIII", 0x803, 2, 2, 3) + bytes(range(12))
    path = tmp_path / "img.gz"
    with gzip.open(path, "wb") as f:
        f.write(raw)
    np.testing.assert_array_equal(read_idx(path), np.arange(12, dtype=np.uint8).reshape(2, 2, 3))
    labels = tmp_path / "lab"
    labels.write_bytes(struct.pack(">II", 0x801, 3) + bytes([7, 0, 9]))
    np.testing.assert_array_equal(read_idx(labels), [7, 0, 9])


def test_idx_bad_magic(tmp_path):
    path = tmp_path / "bad"
    path.write_bytes(struct.pack(">II", 0x12345678, 1) + b"\x00")
    with pytest.raises(IDXError, match="bad magic"):
        read_idx(path)


def test_idx_truncated(tmp_path):
    raw = struct.pack(">IIII", 0x803, 2, 28, 28) + bytes(100)
    path = tmp_path / "short.gz"
    with gzip.open(path, "wb") as f:
        f.write(raw)
    with pytest.raises(IDXError, match="truncated"):
        read_idx(path)
    path2 = tmp_path / "header"
    path2.write_bytes(struct.pack(">I", 0x803) + b"\x00\x00")
    with pytest.raises(IDXError, match="truncated header"):
        read_idx(path2)


def test_idx_truncated_gzip_stream(tmp_path):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as f:
        f.write(struct.pack(">II", 0x801, 5000) + bytes(5000))
    path = tmp_path / "cut.gz"
    path.write_bytes(buf.getvalue()[:-20])
    with pytest.raises(IDXError, match="corrupt or truncated"):
        read_idx(path)


def test_idx_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(struct.pack(">II", 0x801, 2) + bytes(3))
    with pytest.raises(IDXError, match="unexpected bytes"):
        read_idx(path)


def idx_header(shape, code=0x08, ndim=None):
    ndim = len(shape) if ndim is None else ndim
    return struct.pack(f">HBB{len(shape)}I", 0, code, ndim, *shape)


def write_gz(path, *parts, zeros=0):
    """A gzip file of `parts` followed by `zeros` zero bytes, written 1 MiB at a time."""
    with gzip.open(path, "wb") as f:
        for part in parts:
            f.write(part)
        for start in range(0, zeros, 1 << 20):
            f.write(bytes(min(1 << 20, zeros - start)))
    return path


def peak_memory(fn):
    """(what fn() returned or raised, peak bytes traced while it ran)."""
    tracemalloc.start()
    try:
        result = fn()
    except Exception as exc:  # noqa: BLE001 (returned to the test, which checks its type)
        result = exc
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, peak


def test_idx_gzip_bomb_stops_after_the_promised_bytes(tmp_path):
    # a valid 10-byte image file followed by 32 MiB of zeros: about 32 KiB compressed
    path = write_gz(tmp_path / "bomb.gz", idx_header((10,)), bytes(range(10)), zeros=32 << 20)
    assert os.path.getsize(path) < 100_000
    exc, peak = peak_memory(lambda: read_idx(path))
    assert isinstance(exc, IDXError) and "unexpected bytes" in str(exc) and str(path) in str(exc)
    assert peak < 4 << 20, f"read_idx used {peak} bytes on a 10-byte IDX file"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_reads_into_one_array(tmp_path, suffix):
    # big-endian float32 is swapped in place: no second copy of the data, plain or gzip
    a = np.arange(2 << 20, dtype=np.float32).reshape(2048, 1024)
    path = tmp_path / f"f.idx{suffix}"
    write_idx(path, a)
    b, peak = peak_memory(lambda: read_idx(path))
    np.testing.assert_array_equal(b, a)
    assert peak < 1.3 * a.nbytes, f"peak {peak / a.nbytes:.2f} times the data"


def test_idx_huge_header_refused_before_reading(tmp_path):
    path = write_gz(tmp_path / "huge.gz", idx_header((1 << 20, 1 << 20)), zeros=16 << 20)  # 2**40 bytes
    exc, peak = peak_memory(lambda: read_idx(path))
    assert isinstance(exc, IDXError) and "max_bytes" in str(exc)
    assert peak < 4 << 20


@pytest.mark.parametrize("code", [0x08, 0x0E])
def test_idx_dimension_product_that_overflows_int64(tmp_path, code):
    path = tmp_path / "overflow"
    path.write_bytes(idx_header((2**32 - 1,) * 4, code) + bytes(64))
    with pytest.raises(IDXError, match=r"4294967295.*more than max_bytes"):
        read_idx(path)


def test_idx_max_bytes_override(tmp_path, monkeypatch):
    path = tmp_path / "twelve"
    path.write_bytes(idx_header((3, 4)) + bytes(12))
    with pytest.raises(IDXError, match="12 bytes, more than max_bytes=11"):
        read_idx(path, max_bytes=11)
    assert read_idx(path, max_bytes=12).shape == (3, 4)
    monkeypatch.setattr(idx_module, "MAX_BYTES", 11)
    with pytest.raises(IDXError, match="max_bytes=11"):
        read_idx(path)


@pytest.mark.parametrize("ndim", [0, 5, 255])
def test_idx_number_of_dimensions(tmp_path, ndim):
    path = tmp_path / "dims"
    path.write_bytes(idx_header((), ndim=ndim) + bytes(8))
    with pytest.raises(IDXError, match=f"{ndim} dimensions; IDX data has 1 to 4"):
        read_idx(path)


def test_write_idx_refuses_what_read_idx_refuses(tmp_path):
    for shape in [(), (1, 1, 1, 1, 2)]:
        with pytest.raises(ValueError, match="1 to 4 dimensions"):
            write_idx(tmp_path / "x.idx", np.zeros(shape, np.uint8))
    assert not os.listdir(tmp_path)


def test_idx_unknown_type_code(tmp_path):
    path = tmp_path / "code"
    path.write_bytes(struct.pack(">II", 0x701, 1) + b"\x00")
    with pytest.raises(IDXError, match="bad magic number 0x00000701: unknown type code"):
        read_idx(path)


def test_idx_truncated_plain_and_empty_files(tmp_path):
    path = tmp_path / "short"
    path.write_bytes(idx_header((4, 5), 0x0D) + bytes(79))
    with pytest.raises(IDXError, match="truncated: 91 bytes, the header .* needs 92"):
        read_idx(path)
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(IDXError, match="too short"):
        read_idx(tmp_path / "empty")


def test_idx_corrupt_gzip(tmp_path):
    raw = bytearray(gzip.compress(idx_header((2000,)) + bytes(range(250)) * 8))
    raw[len(raw) // 2] ^= 0xFF  # damage the deflate data (or its checksum)
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(raw))
    with pytest.raises(IDXError, match="corrupt or truncated gzip"):
        read_idx(path)
    named = tmp_path / "plain.gz"  # a .gz name on a file that is not gzip
    named.write_bytes(idx_header((1,)) + b"\x01")
    with pytest.raises(IDXError, match="corrupt or truncated gzip"):
        read_idx(named)


def test_idx_empty_dimension(tmp_path):
    path = tmp_path / "none.gz"
    write_idx(path, np.zeros((0, 28, 28), np.float32))
    b = read_idx(path)
    assert b.shape == (0, 28, 28) and b.dtype == np.float32


# -- DataLoader ------------------------------------------------------------------------------------
def make_ds(n=10):
    return TensorDataset(np.arange(n, dtype=np.float32).reshape(n, 1) * np.ones((1, 2), np.float32),
                         np.arange(n, dtype=np.int64))


def test_loader_batches_partial_last():
    loader = DataLoader(make_ds(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [len(y) for _, y in batches] == [4, 4, 2]
    x, y = batches[0]
    assert isinstance(x, Tensor) and x.shape == (4, 2) and y.dtype == np.int64
    np.testing.assert_array_equal(np.concatenate([y.numpy() for _, y in batches]), np.arange(10))


def test_loader_drop_last():
    loader = DataLoader(make_ds(10), batch_size=4, drop_last=True)
    assert len(loader) == 2 and [len(y) for _, y in loader] == [4, 4]


def test_loader_batch_larger_than_dataset():
    assert [len(y) for _, y in DataLoader(make_ds(3), batch_size=8)] == [3]
    assert list(DataLoader(make_ds(3), batch_size=8, drop_last=True)) == []


def test_loader_empty_dataset():
    ds = TensorDataset(np.zeros((0, 2), np.float32), np.zeros(0, np.int64))
    loader = DataLoader(ds, batch_size=4, shuffle=True)
    assert len(loader) == 0 and list(loader) == []


def test_loader_shuffle_is_seeded_and_changes_per_epoch():
    def orders(seed):
        loader = DataLoader(make_ds(10), batch_size=3, shuffle=True, seed=seed)
        return [np.concatenate([y.numpy() for _, y in loader]) for _ in range(2)]
    a, b = orders(0), orders(0)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])
    assert sorted(a[0]) == list(range(10))
    assert not np.array_equal(orders(1)[0], a[0])


def test_loader_generator_state_resumes_sequence():
    loader = DataLoader(make_ds(10), batch_size=10, shuffle=True, seed=5)
    next(iter(loader))
    state = loader.generator.bit_generator.state
    want = next(iter(loader))[1].numpy()
    other = DataLoader(make_ds(10), batch_size=10, shuffle=True, seed=99)
    other.generator.bit_generator.state = state
    np.testing.assert_array_equal(next(iter(other))[1].numpy(), want)


def test_loader_uses_one_fancy_index_per_batch():
    calls = []

    class Counting(TensorDataset):
        def __getitem__(self, index):
            calls.append(np.asarray(index).shape)
            return super().__getitem__(index)
    list(DataLoader(Counting(np.zeros((10, 2)), np.zeros(10)), batch_size=4))
    assert calls == [(4,), (4,), (2,)]


def test_loader_per_item_dataset_is_collated():
    class Squares(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.full(3, i * i, np.float32), i
    x, y = next(iter(DataLoader(Squares(), batch_size=5)))
    assert x.shape == (5, 3) and list(y.numpy()) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(x.numpy()[:, 0], [0, 1, 4, 9, 16])


def test_loader_rejects_bad_batch_size():
    with pytest.raises(ValueError):
        DataLoader(make_ds(), batch_size=0)


def test_random_split():
    a, b = random_split(make_ds(10), [7, 3], seed=0)
    ia, ib = a.indices, b.indices
    assert len(a) == 7 and len(b) == 3 and sorted(np.concatenate([ia, ib])) == list(range(10))
    a2, _ = random_split(make_ds(10), [7, 3], seed=0)
    np.testing.assert_array_equal(a2.indices, ia)
    x, y = a[np.array([0, 1])]
    np.testing.assert_array_equal(y, ia[:2])
    assert [len(s) for s in random_split(make_ds(10), [0.5, 0.3, 0.2], seed=1)] == [5, 3, 2]
    with pytest.raises(ValueError):
        random_split(make_ds(10), [5, 4])


def test_tensor_dataset_length_mismatch():
    with pytest.raises(ValueError):
        TensorDataset(np.zeros(3), np.zeros(4))


# -- transforms ------------------------------------------------------------------------------------
def images(n=4, h=6, w=6):
    return np.random.default_rng(0).integers(0, 256, size=(n, h, w)).astype(np.uint8)


def test_to_float_and_normalize():
    x = T.ToFloat()(images())
    assert x.dtype == np.float32 and x.shape == (4, 1, 6, 6) and 0 <= x.min() and x.max() <= 1
    y = T.Normalize(0.5, 0.25)(x)
    np.testing.assert_allclose(y, (x - 0.5) / 0.25, rtol=1e-6)
    assert T.ToFloat()(images()[0]).shape == (1, 6, 6)
    two = T.Normalize([0.0, 1.0], [1.0, 2.0])(np.ones((2, 2, 2), np.float32))
    np.testing.assert_allclose(two[1], 0.0)


def test_random_crop_shift_is_a_shift_with_zero_fill():
    x = T.ToFloat()(images(8))
    y = T.RandomShift(2, seed=0)(x)
    assert y.shape == x.shape
    for i in range(8):  # every output equals the input moved by some (dy, dx) in [-2, 2]
        padded = np.pad(x[i, 0], 2)
        assert any(np.array_equal(y[i, 0], padded[a:a + 6, b:b + 6]) for a in range(5) for b in range(5))
    np.testing.assert_array_equal(y, T.RandomShift(2, seed=0)(x))  # seeded
    crop = T.RandomCrop(4, padding=0, seed=0)(x)
    assert crop.shape == (8, 1, 4, 4)


def test_random_flip():
    x = T.ToFloat()(images(32))
    y = T.RandomHorizontalFlip(0.5, seed=0)(x)
    flipped = [np.array_equal(y[i], x[i][..., ::-1]) for i in range(32)]
    kept = [np.array_equal(y[i], x[i]) for i in range(32)]
    assert all(f or k for f, k in zip(flipped, kept)) and 5 < sum(flipped) < 27


def test_random_rotation():
    x = np.zeros((2, 1, 9, 9), np.float32)
    x[:, :, 4, :] = 1.0  # a horizontal bar through the centre
    same = T.RandomRotation(0.0, seed=0)(x)
    np.testing.assert_allclose(same, x, atol=1e-6)
    rot = T.RandomRotation(30.0, seed=0)(x)
    assert rot.shape == x.shape and rot[:, 0, 4, 4].min() > 0.99  # the centre stays
    assert not np.allclose(rot, x)
    # 90 degrees maps the bar onto the vertical through the centre
    t = T.RandomRotation(90.0, seed=0)
    t.rng = type("Fixed", (), {"uniform": staticmethod(lambda a, b, size: np.full(size, 90.0))})()
    np.testing.assert_allclose(t(x)[0, 0], x[0, 0].T, atol=1e-5)


def test_gaussian_noise_and_compose_state():
    pipeline = T.Compose([T.ToFloat(), T.RandomShift(1, seed=3), T.GaussianNoise(0.1, seed=4)])
    state = pipeline.get_state()
    a = pipeline(images())
    pipeline.set_state(state)
    np.testing.assert_array_equal(a, pipeline(images()))
    assert a.dtype == np.float32 and "RandomShift" in repr(pipeline)


# -- MNIST files -----------------------------------------------------------------------------------
def fake_mnist(directory, n_train=20, n_test=10):
    rng = np.random.default_rng(0)
    os.makedirs(directory, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"),
                  rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"), (np.arange(n) % 10).astype(np.uint8))
    return {name: hashlib.md5(open(os.path.join(directory, name), "rb").read()).hexdigest()
            for name in mnist_module.FILES}


def test_mnist_reads_fake_files_with_matching_checksums(tmp_path, monkeypatch):
    md5 = fake_mnist(tmp_path / "mnist")
    monkeypatch.setattr(MNIST, "md5", md5)
    ds = MNIST(tmp_path, train=True, transform=T.ToFloat())
    assert len(ds) == 20 and ds.data.dtype == np.uint8 and ds.targets.dtype == np.int64
    x, y = ds[np.arange(3)]
    assert x.shape == (3, 1, 28, 28) and x.dtype == np.float32 and list(y) == [0, 1, 2]
    assert len(MNIST(tmp_path / "mnist", train=False)) == 10  # the directory itself also works
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path))
    assert MNIST(train=False).root == str(tmp_path / "mnist")


def test_mnist_checksum_mismatch(tmp_path):
    fake_mnist(tmp_path)
    with pytest.raises(ValueError, match="MD5"):
        MNIST(tmp_path)


def test_mnist_missing_files_message(tmp_path, monkeypatch):
    monkeypatch.delenv("PYCONV_DATA", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    with pytest.raises(FileNotFoundError, match="PYCONV_DATA"):
        FashionMNIST(tmp_path / "nowhere")


def test_download_fails_cleanly_offline(tmp_path, monkeypatch):
    tried = []

    def offline(url, timeout=None):
        tried.append(url)
        raise urllib.error.URLError("no network")
    monkeypatch.setattr(mnist_module, "_urlopen", offline)
    with pytest.raises(RuntimeError, match="could not download") as info:
        MNIST(tmp_path, download=True)
    assert "no network" in str(info.value) and len(tried) == len(MNIST.mirrors)
    assert not [f for f in os.listdir(tmp_path / "mnist") if f.endswith(".gz") or ".part" in f]


def test_download_with_mocked_mirror(tmp_path, monkeypatch):
    md5 = fake_mnist(tmp_path / "src")
    monkeypatch.setattr(MNIST, "md5", md5)

    def serve(url, timeout=None):
        if "ossci" in url:  # the first mirror is down
            raise urllib.error.URLError("down")
        return open(tmp_path / "src" / url.rsplit("/", 1)[1], "rb")
    monkeypatch.setattr(mnist_module, "_urlopen", serve)
    ds = MNIST(tmp_path / "dl", download=True)
    assert len(ds) == 20 and ds.root == str(tmp_path / "dl" / "mnist")


@pytest.mark.skipif(mnist_dir() is None, reason="MNIST files not found (set PYCONV_DATA)")
def test_real_mnist():
    ds = MNIST(mnist_dir(), train=False, transform=T.Compose([T.ToFloat(), T.Normalize(0.1307, 0.3081)]))
    assert len(ds) == 10000 and ds.data.shape == (10000, 28, 28)
    x, y = next(iter(DataLoader(ds, batch_size=256)))
    assert x.shape == (256, 1, 28, 28) and abs(float(x.numpy().mean())) < 0.3
    assert np.bincount(ds.targets).min() > 800
