"""The backend seam: registry, selection API, and that every backend exposes every primitive."""
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

import pyconv
from pyconv import backends


@pytest.mark.parametrize("name", backends.registered())
def test_every_backend_exposes_every_primitive(name):
    module = importlib.import_module(backends._MODULES[name])  # importable even when disabled
    missing = [p for p in backends.PRIMITIVES if not callable(getattr(module, p, None))]
    assert not missing, f"backend {name!r} lacks {missing}"
    assert module.NAME == name
    assert module.DEVICE in ("cpu", "cuda")
    ok, reason = module.available()
    assert isinstance(ok, bool) and (ok or reason)


def test_available_backends_reports_status_or_reason():
    status = pyconv.available_backends()
    assert set(status) == set(backends.registered())
    assert status["numpy"] == "enabled"
    for name, s in status.items():
        assert isinstance(s, str) and s


def test_backend_context_manager_restores_previous():
    before = pyconv.get_backend()
    with pyconv.backend("numpy") as mod:
        assert pyconv.get_backend() == "numpy"
        assert mod.NAME == "numpy"
    assert pyconv.get_backend() == before


def test_set_backend_and_errors():
    before = pyconv.get_backend()
    try:
        pyconv.set_backend("numpy")
        assert pyconv.get_backend() == "numpy"
        with pytest.raises(ValueError, match="unknown backend"):
            pyconv.set_backend("fortran")
    finally:
        pyconv.set_backend(before)


def test_cuda_is_not_a_cpu_backend():
    if pyconv.available_backends()["cuda"] != "enabled":
        with pytest.raises(RuntimeError, match="not available"):
            pyconv.set_backend("cuda")
    else:
        with pytest.raises(ValueError, match="CPU backend"):
            pyconv.set_backend("cuda")


def test_environment_variable_selects_default():
    code = "import pyconv; print(pyconv.get_backend())"
    env = dict(os.environ, PYCONV_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "numpy"


def test_bench_validation_accepts_the_reference():
    from pyconv.bench import validate
    ref = backends.module("numpy")
    assert validate(ref, np.asarray, np.asarray, np.float64) == []


def test_bench_validation_catches_a_wrong_backend():
    from pyconv.bench import validate
    ref = backends.module("numpy")

    class Broken:
        def __getattr__(self, name):
            return getattr(ref, name)

        def conv2d_backward_weight(self, dy, x, w_shape, stride, padding, dilation):
            return 1.001 * ref.conv2d_backward_weight(dy, x, w_shape, stride, padding, dilation)

    failures = validate(Broken(), np.asarray, np.asarray, np.float64)
    assert failures and all("conv2d_backward_weight" in f for f in failures)


def test_ci_runs_the_readme_test_command():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "README.md")) as f:
        readme = f.read()
    with open(os.path.join(root, ".ci", "run")) as f:
        ci = f.read()
    command = 'python -m pip install -e ".[test]" && python -m pytest'
    assert command in readme and command in ci


@pytest.mark.parametrize("name", [n for n, s in backends.available_backends().items()
                                  if s == "enabled" and backends.module(n).DEVICE == "cpu"])
@pytest.mark.parametrize("kind, fill", [("max", -np.inf), ("min", np.inf)])
def test_pool_index_stays_in_the_plane_when_real_pixels_tie_with_padding(name, kind, fill):
    be = backends.module(name)
    x = np.full((1, 2, 4, 5), fill)
    x[0, 1, 2, 2] = 0.0
    y, idx = getattr(be, f"{kind}_pool2d_forward")(x, (3, 3), (2, 2), (1, 1))
    assert idx.min() >= 0 and idx.max() < 4 * 5
    assert np.array_equal(idx[0, 0], [[0, 1, 3], [5, 6, 8]])        # each window's first real pixel
    dx = getattr(be, f"{kind}_pool2d_backward")(np.ones_like(y), idx, x.shape)
    assert dx.sum() == y.size
