"""Checkpoint files: every value the training loop saves comes back exactly, and a crafted file
can only fail to load, never run code."""
import json
import math
import os
import pickle
import re
import zipfile

import numpy as np
import pytest

import pyconv
from pyconv import checkpoint as C
from pyconv import nn, optim


class RunsCode:
    """Unpickling this creates the file `marker`: proof that reading ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_round_trip_of_everything_the_loop_saves(tmp_path):
    nn.init.manual_seed(3)
    model = nn.Linear(3, 2)
    opt = optim.Adam(model.parameters(), lr=0.01)
    model(pyconv.randn(4, 3)).sum().backward()
    opt.step()
    tree = {"model": model.state_dict(), "optimizer": opt.state_dict(),
            "pcg64": np.random.default_rng(5).bit_generator.state,
            "mt19937": np.random.get_state(), "numbers": [math.inf, -math.inf, math.nan, -0.0, 0.1, 2 ** 100],
            "scalars": [np.float32(1.5), np.int64(-7), np.bool_(True)], "nested": ((1, "a"), [None, True]),
            "odd keys": {0: "int", "x": {"__array__": "not a reference"}}, "empty": np.zeros((0, 3), np.uint8)}
    path = tmp_path / "c.npz"
    C.save_checkpoint(path, tree)
    assert os.listdir(tmp_path) == ["c.npz"]
    back = C.load_checkpoint(path)

    for name, value in tree["model"].items():
        assert back["model"][name].dtype == value.dtype
        np.testing.assert_array_equal(back["model"][name], value)
    assert set(back["optimizer"]["state"]) == {0, 1}  # parameter indices stay ints
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    for name in ("exp_avg", "exp_avg_sq"):
        np.testing.assert_array_equal(back["optimizer"]["state"][0][name], tree["optimizer"]["state"][0][name])
    assert back["pcg64"] == tree["pcg64"]
    assert isinstance(back["mt19937"], tuple) and back["mt19937"][0] == "MT19937"
    np.random.set_state(back["mt19937"])
    draws = np.random.random(3)
    np.random.set_state(tree["mt19937"])
    np.testing.assert_array_equal(draws, np.random.random(3))
    inf, ninf, nan, negzero, tenth, big = back["numbers"]
    assert (inf, ninf, tenth, big) == (math.inf, -math.inf, 0.1, 2 ** 100) and math.isnan(nan)
    assert math.copysign(1, negzero) == -1
    assert [type(s) for s in back["scalars"]] == [np.float32, np.int64, np.bool_]
    assert back["nested"] == ((1, "a"), [None, True])
    assert back["odd keys"] == {0: "int", "x": {"__array__": "not a reference"}}
    assert back["empty"].shape == (0, 3) and back["empty"].dtype == np.uint8


def test_arrays_are_named_by_their_path_and_the_rest_is_json(tmp_path):
    path = tmp_path / "c.npz"
    C.save_checkpoint(path, {"model": {"conv1.weight": np.ones(2)}, "state": {3: {"exp_avg": np.zeros(1)}},
                             "epoch": 4})
    with np.load(path, allow_pickle=False) as archive:
        assert sorted(archive.files) == [C.TREE, "model/conv1.weight", "state/3/exp_avg"]
        assert json.loads(archive[C.TREE])["tree"]["epoch"] == 4


def test_what_would_need_pickle_is_refused_when_saving(tmp_path):
    with pytest.raises(TypeError, match="object arrays"):
        C.save_checkpoint(tmp_path / "c.npz", {"w": np.array([{}], dtype=object)})
    with pytest.raises(TypeError, match="set"):
        C.save_checkpoint(tmp_path / "c.npz", {"w": {1, 2}})
    assert os.listdir(tmp_path) == []  # nor a temporary file left behind


def test_a_pickled_member_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "c.npz"
    document = {"format": C.FORMAT, "version": C.VERSION, "tree": {"w": {"__array__": "w"}}}
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(C.TREE, json.dumps(document))
        with archive.open("w.npy", "w") as member:
            np.lib.format.write_array(member, np.array([RunsCode(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(C.CheckpointError, match="without pickle"):
        C.load_checkpoint(path)
    assert not marker.exists()


def test_a_pickle_file_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "c.npz"
    path.write_bytes(pickle.dumps({"model": RunsCode(marker)}))
    with pytest.raises(C.CheckpointError, match="not a pyconv checkpoint"):
        C.load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "no tree", "bad json", "foreign npz", "dangling",
                                    "npy"])
def test_a_damaged_file_gives_a_clear_error(tmp_path, damage):
    path = tmp_path / "c.npz"
    C.save_checkpoint(path, {"w": np.arange(1000.0), "epoch": 1})
    whole = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated":
        path.write_bytes(whole[:len(whole) // 2])
    elif damage == "foreign npz":
        np.savez(path, w=np.ones(3))
    elif damage == "npy":
        np.save(tmp_path / "c.npy", np.ones(3))
        os.replace(tmp_path / "c.npy", path)
    else:
        tree = {"no tree": None, "bad json": "{", "dangling": json.dumps(
            {"format": C.FORMAT, "version": C.VERSION, "tree": {"w": {"__array__": "missing"}}})}[damage]
        with zipfile.ZipFile(path, "w") as archive:
            if tree is not None:
                archive.writestr(C.TREE, tree)
            np.lib.format.write_array(archive.open("w.npy", "w"), np.ones(3))
    with pytest.raises(C.CheckpointError, match=re.escape(str(path))):
        C.load_checkpoint(path)


def test_stale_temporaries_are_removed(tmp_path):
    (tmp_path / ".tmp-k2j3checkpoint.npz").write_bytes(b"half a file")
    (tmp_path / "keep.txt").write_text("x")
    (tmp_path / ".tmp-dir").mkdir()
    assert C.remove_stale_temporaries(tmp_path) == [".tmp-k2j3checkpoint.npz"]
    assert sorted(os.listdir(tmp_path)) == [".tmp-dir", "keep.txt"]
    assert C.remove_stale_temporaries(tmp_path / "absent") == []
