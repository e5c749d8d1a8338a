"""pyconv.save / pyconv.load: everything a training script saves comes back exactly, state dicts
are plain safetensors files that PyTorch reads (and writes), and a file that is not one is
refused without running anything from it."""
import io
import json
import math
import pickle
import re
import struct
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy

import pyconv as pc
from pyconv import checkpoint, nn, optim
from pyconv import device as pdevice
from pyconv.serialization import SerializationError
from pyconv.tensor import Tensor

DTYPES = [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_]


class RunsCode:
    """Unpickling this creates the file `marker`: proof that reading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def round_trip(obj, tmp_path, **load_args):
    path = tmp_path / "obj.safetensors"
    pc.save(obj, path)
    return pc.load(path, **load_args)


def assert_same_tree(a, b):
    """Equal values, types, dtypes, shapes and key order, all the way down."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, Tensor):
        assert (a.device, a.dtype, a.shape) == (b.device, b.dtype, b.shape)
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (np.ndarray, np.generic)):
        assert (a.dtype, a.shape) == (b.dtype, b.shape)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same_tree(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same_tree(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def small_net():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 5 * 5, 4))


# -- round trips -------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0, 3), (5,), (2, 3, 4)])
def test_a_tensor_round_trips(tmp_path, dtype, shape):
    rng = np.random.default_rng(0)
    t = Tensor((rng.standard_normal(shape) * 50).astype(dtype))
    back = round_trip(t, tmp_path)
    assert_same_tree(t, back)
    assert not back.requires_grad


def test_a_state_dict_of_tensors_is_stored_under_its_own_names(tmp_path):
    sd = OrderedDict((name, Tensor(np.full((2, i + 1), i, np.float32))) for i, name in
                     enumerate(["fc2.weight", "conv1.weight", "fc2.bias", "a/b", "a"]))
    back = round_trip(sd, tmp_path)
    assert_same_tree(dict(sd), back)
    assert set(safetensors.numpy.load_file(tmp_path / "obj.safetensors")) == set(sd)


def test_module_state_dict_reloads_into_a_fresh_model_with_identical_outputs(tmp_path):
    nn.init.manual_seed(1)
    model = small_net()
    x = pc.randn(6, 2, 5, 5)
    model(x)  # moves BatchNorm's running statistics (buffers) away from their defaults
    model.eval()
    path = tmp_path / "model.safetensors"
    pc.save(model.state_dict(), path)
    nn.init.manual_seed(2)
    fresh = small_net().eval()
    fresh.load_state_dict(pc.load(path))
    assert_same_tree(dict(model.state_dict()), dict(fresh.state_dict()))
    np.testing.assert_array_equal(model(x).numpy(), fresh(x).numpy())


def test_nested_structures_round_trip(tmp_path):
    tree = {"model": {"w": pc.randn(3, 2), "steps": np.arange(4, dtype=np.int32)},
            "history": [{"loss": 0.25, "acc": None}, {"loss": math.nan, "acc": 1.0}],
            "numbers": [math.inf, -math.inf, -0.0, 0.1, 2 ** 100, True, False, "text"],
            "scalars": [np.float32(1.5), np.int64(-7), np.bool_(True)],
            "tuple": (1, (Tensor(np.eye(2)), "a")), "int keys": {0: "zero", 3: [Tensor(np.ones(1))]},
            "marker keys": {"__tensor__": "not a tensor"}, "empty": {}, "none": None}
    back = round_trip(tree, tmp_path)
    assert_same_tree(tree, back)


def test_a_top_level_list_and_plain_values_round_trip(tmp_path):
    for obj in ([Tensor(np.ones(2)), 3, [Tensor(np.zeros(1, np.int64))]], 7, "text", None, {}):
        assert_same_tree(obj, round_trip(obj, tmp_path))


@pytest.mark.parametrize("make", [lambda m: optim.Adam(m.parameters(), lr=0.01, betas=(0.8, 0.99)),
                                  lambda m: optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True)],
                         ids=["Adam", "SGD"])
def test_optimizer_state_round_trip_continues_identically(tmp_path, make):
    nn.init.manual_seed(4)
    x, y = pc.randn(8, 3), pc.randn(8, 2)

    def train(model, opt, steps):
        for _ in range(steps):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

    model = nn.Linear(3, 2)
    opt = make(model)
    train(model, opt, 2)
    pc.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.safetensors")
    saved = pc.load(tmp_path / "ckpt.safetensors")
    assert_same_tree(opt.state_dict(), saved["optimizer"])

    resumed = nn.Linear(3, 2)
    resumed_opt = make(resumed)
    resumed.load_state_dict(saved["model"])
    resumed_opt.load_state_dict(saved["optimizer"])
    train(model, opt, 2)
    train(resumed, resumed_opt, 2)
    assert_same_tree(dict(model.state_dict()), dict(resumed.state_dict()))


def test_strided_shared_and_big_endian_data_is_saved_as_contiguous_copies(tmp_path):
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    shared = Tensor(base)
    obj = {"transposed": Tensor(base.T), "sliced": Tensor(base[::2, 1::3]), "shared": shared,
           "again": shared, "big endian": np.arange(5, dtype=">i4")}
    back = round_trip(obj, tmp_path)
    np.testing.assert_array_equal(back["transposed"].numpy(), base.T)
    np.testing.assert_array_equal(back["sliced"].numpy(), base[::2, 1::3])
    np.testing.assert_array_equal(back["big endian"], np.arange(5))
    assert back["shared"] is not back["again"]
    back["shared"].data[0, 0] = -1  # loaded tensors own writable memory
    assert back["again"].numpy()[0, 0] == 0


def test_file_objects_and_paths(tmp_path):
    obj = {"w": Tensor(np.arange(3.0)), "n": 2}
    buffer = io.BytesIO()
    pc.save(obj, buffer)
    buffer.seek(0)
    assert_same_tree(obj, pc.load(buffer))
    with open(tmp_path / "f.safetensors", "wb") as f:
        pc.save(obj, f)
    with open(tmp_path / "f.safetensors", "rb") as f:
        assert_same_tree(obj, pc.load(f))
    with open(tmp_path / "f.safetensors", "r") as f, pytest.raises(TypeError, match="binary mode"):
        pc.load(f)
    pc.save(obj, str(tmp_path / "s.safetensors"))
    assert_same_tree(obj, pc.load(str(tmp_path / "s.safetensors"), map_location="cpu", weights_only=True))


def test_a_file_without_pyconv_metadata_loads_as_a_dict_of_tensors(tmp_path):
    arrays = {"layer.weight": np.ones((2, 3), np.float32), "layer.bias": np.zeros(2, np.float64),
              "count": np.array(3, np.int64)}
    safetensors.numpy.save_file(arrays, tmp_path / "foreign.safetensors", metadata={"format": "pt"})
    back = pc.load(tmp_path / "foreign.safetensors")
    assert isinstance(back, OrderedDict) and set(back) == set(arrays)
    for k, a in arrays.items():
        assert isinstance(back[k], Tensor) and back[k].dtype == a.dtype
        np.testing.assert_array_equal(back[k].numpy(), a)


def test_map_location(tmp_path):
    t = Tensor(np.ones(2))
    assert round_trip(t, tmp_path, map_location="cpu").device == "cpu"
    assert round_trip(t, tmp_path, map_location={"cuda:0": "cpu"}).device == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        round_trip(t, tmp_path, map_location="tpu")
    with pytest.raises(TypeError, match="map_location"):
        round_trip(t, tmp_path, map_location=lambda storage, location: storage)


@pytest.mark.cuda
def test_cuda_tensors_are_saved_from_host_copies_and_placed_by_map_location(tmp_path):
    pytest.importorskip("cupy")
    if not pdevice.cuda_available():
        pytest.skip("CuPy imports but sees no GPU")
    obj = {"gpu": Tensor(np.arange(6.0).reshape(2, 3), device="cuda"), "cpu": Tensor(np.ones(2))}
    back = round_trip(obj, tmp_path)
    assert (back["gpu"].device, back["cpu"].device) == ("cuda", "cpu")
    np.testing.assert_array_equal(back["gpu"].numpy(), np.arange(6.0).reshape(2, 3))
    on_cpu = pc.load(tmp_path / "obj.safetensors", map_location="cpu")
    assert (on_cpu["gpu"].device, on_cpu["cpu"].device) == ("cpu", "cpu")
    on_gpu = pc.load(tmp_path / "obj.safetensors", map_location="cuda")
    assert (on_gpu["gpu"].device, on_gpu["cpu"].device) == ("cuda", "cuda")


def test_a_cuda_file_on_a_machine_without_gpu_says_to_map_to_cpu(tmp_path, monkeypatch):
    from pyconv import serialization
    path = tmp_path / "obj.safetensors"
    arrays = {"w": np.ones(2)}
    document = {"format": "pyconv", "version": 1, "tree": {"w": {"__cuda_tensor__": "w"}}}
    safetensors.numpy.save_file(arrays, path, metadata={"pyconv": json.dumps(document)})
    monkeypatch.setattr(serialization, "cuda_available", lambda: False)
    with pytest.raises(RuntimeError, match="map_location='cpu'"):
        pc.load(path)
    assert pc.load(path, map_location="cpu")["w"].device == "cpu"


# -- refusals ----------------------------------------------------------------------------------
def test_weights_only_false_still_loads_only_data(tmp_path):
    """PyTorch scripts pass weights_only=False for old checkpoints; pyconv accepts the keyword
    and still reads only tensors and plain values."""
    pc.save({"w": Tensor(np.ones(1)), "step": 3}, tmp_path / "w.safetensors")
    loaded = pc.load(tmp_path / "w.safetensors", weights_only=False)
    assert loaded["step"] == 3 and loaded["w"].tolist() == [1.0]


@pytest.mark.parametrize("obj, why", [(nn.Linear(2, 2), "state_dict"), ({"f": print}, "builtin_function"),
                                      (np.array([object()]), "dtype object"),
                                      (Tensor(np.ones(2, np.complex128)), "dtype complex128"),
                                      ({(1, 2): 3}, "dict key of type tuple")])
def test_what_would_need_pickle_is_refused_when_saving(tmp_path, obj, why):
    with pytest.raises(TypeError, match=why):
        pc.save(obj, tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_a_malicious_pickle_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.pt"
    path.write_bytes(pickle.dumps({"weight": RunsCode(marker)}))
    with pytest.raises(SerializationError, match=re.escape(str(path)) + " is a pickle file.*never unpickles"):
        pc.load(path)
    assert not marker.exists()


def test_a_zip_archive_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as archive:  # the layout of torch.save's default format
        archive.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
        archive.writestr("archive/data/0", b"\0" * 16)
    with pytest.raises(SerializationError, match="zip archive.*never unpickles"):
        pc.load(path)
    checkpoint.save_checkpoint(tmp_path / "c.npz", {"epoch": 1})
    with pytest.raises(SerializationError, match="load_checkpoint"):
        pc.load(tmp_path / "c.npz")


def _valid_file(tmp_path):
    pc.save({"w": Tensor(np.arange(100.0)), "epoch": 3}, tmp_path / "good.safetensors")
    return (tmp_path / "good.safetensors").read_bytes()


def _with_header(header, body=b""):
    text = json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + body


@pytest.mark.parametrize("damage, why", [
    ("empty", "fewer than the 8"),
    ("short", "fewer than the 8"),
    ("random bytes", "header claims"),
    ("truncated body", "damaged safetensors file"),
    ("truncated header", "header claims"),
    ("huge header length", "header claims 18446744073709551615 bytes"),
    ("header not json", "not a JSON object"),
    ("header a list", "not a JSON object"),
    ("bfloat16", "'BF16'.*no type for"),
    ("bad offsets", "damaged safetensors file"),
    ("dangling reference", "not a valid pyconv file"),
    ("other version", "format version 99"),
])
def test_a_damaged_or_foreign_file_gives_a_clear_error(tmp_path, damage, why):
    whole = _valid_file(tmp_path)
    data = {
        "empty": b"",
        "short": b"\x10\0\0",
        "random bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "truncated body": whole[:-10],
        "truncated header": whole[:40],
        "huge header length": b"\xff" * 8 + whole[8:],
        "header not json": struct.pack("<Q", 4) + b"{{{{",
        "header a list": _with_header([1, 2]),
        "bfloat16": _with_header({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
        "bad offsets": _with_header({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 400]}}, b"\0" * 8),
        "dangling reference": _with_header({"__metadata__": {"pyconv": json.dumps(
            {"format": "pyconv", "version": 1, "tree": {"w": {"__tensor__": "missing"}}})}}),
        "other version": _with_header({"__metadata__": {"pyconv": json.dumps(
            {"format": "pyconv", "version": 99, "tree": None})}}),
    }[damage]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(SerializationError, match=re.escape(str(path)) + ".*" + why):
        pc.load(path)
    with pytest.raises(SerializationError, match="the file object"):
        pc.load(io.BytesIO(data))


# -- PyTorch -----------------------------------------------------------------------------------
def _pyconv_net():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 3 * 3, 5))


def _torch_net(torch):
    tnn = torch.nn
    return tnn.Sequential(tnn.Conv2d(3, 4, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                          tnn.Linear(4 * 3 * 3, 5))


def test_a_pyconv_state_dict_loads_into_the_same_pytorch_model(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    nn.init.manual_seed(5)
    model = _pyconv_net()
    pc.save(model.state_dict(), tmp_path / "model.safetensors")
    twin = _torch_net(torch)
    twin.load_state_dict(safetensors_torch.load_file(tmp_path / "model.safetensors"))
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(pc.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_a_pytorch_state_dict_loads_into_the_same_pyconv_model(tmp_path):
    torch = pytest.importorskip("torch")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(6)
    twin = _torch_net(torch)
    safetensors_torch.save_file(twin.state_dict(), tmp_path / "model.safetensors")
    model = _pyconv_net()
    loaded = pc.load(tmp_path / "model.safetensors")
    assert all(isinstance(v, Tensor) for v in loaded.values())
    model.load_state_dict(loaded)
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        expected = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(pc.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-5)
