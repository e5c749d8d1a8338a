"""pyconv.memory_stats: bytes saved for backward in live graphs, the C workspaces, their peaks."""
import gc

import numpy as np
import pytest

import pyconv
import pyconv.nn.functional as F


def test_saved_bytes_follow_the_graph():
    gc.collect()
    pyconv.reset_peak_memory_stats()
    before = pyconv.memory_stats()["saved_for_backward"]
    x = pyconv.tensor(np.ones((256, 256)), requires_grad=True)       # 512 KiB of float64
    y = (x * x).sum()                                                # Mul keeps both operands
    held = pyconv.memory_stats()["saved_for_backward"] - before
    assert held >= x.data.nbytes
    del y
    gc.collect()
    stats = pyconv.memory_stats()
    assert stats["saved_for_backward"] == before                    # freed with the graph
    assert stats["saved_for_backward_peak"] >= before + held


def test_nothing_is_counted_without_grad():
    gc.collect()
    before = pyconv.memory_stats()["saved_for_backward"]
    x = pyconv.tensor(np.ones((64, 64)), requires_grad=True)
    with pyconv.no_grad():
        y = (x * x).sum()
    assert pyconv.memory_stats()["saved_for_backward"] == before
    assert float(y.item()) == 64 * 64


def test_workspaces_are_counted_and_released():
    if pyconv.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    x = pyconv.tensor(np.ones((4, 8, 32, 32), np.float32))
    w = pyconv.tensor(np.ones((8, 8, 3, 3), np.float32))
    with pyconv.backend("c"):
        F.conv2d(x, w, padding=1)
    assert pyconv.memory_stats()["workspaces"] > 0
    pyconv.empty_cache()
    stats = pyconv.memory_stats()
    assert stats["workspaces"] == 0 and stats["workspaces_peak"] > 0
    with pyconv.backend("c"):
        again = F.conv2d(x, w, padding=1)                          # grows what it needs again
    assert np.all(again.numpy()[:, :, 1:-1, 1:-1] == 72)
    pyconv.reset_peak_memory_stats()
    assert pyconv.memory_stats()["workspaces_peak"] == pyconv.memory_stats()["workspaces"]
