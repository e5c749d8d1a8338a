"""A backend from outside pyconv: registered, checked against the reference, used by the ops,
timed by the bench, its missing primitives visibly run on numpy_ref."""
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import pyconv
import pyconv.nn.functional as F
from pyconv import backends, bench


def student_module(broken=False):
    """A student's backend in plain numpy: conv2d_forward only, as direct loops over the taps."""
    def conv2d_forward(x, w, b, stride, padding, dilation):
        (sh, sw), (pt, pb, pl, pr), (dh, dw) = stride, padding, dilation
        N, C, H, W = x.shape
        K, _, R, S = w.shape
        xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
        P = (H + pt + pb - dh * (R - 1) - 1) // sh + 1
        Q = (W + pl + pr - dw * (S - 1) - 1) // sw + 1
        y = np.zeros((N, K, P, Q), dtype=x.dtype)
        for r in range(R):
            for s in range(S):
                patch = xp[:, :, r * dh:r * dh + sh * (P - 1) + 1:sh, s * dw:s * dw + sw * (Q - 1) + 1:sw]
                y += np.einsum("ncpq,kc->nkpq", patch, w[:, :, r, s])
        if b is not None:
            y += b.reshape(1, K, 1, 1)
        return (y + 1) if broken else y
    return types.SimpleNamespace(__name__="student", conv2d_forward=conv2d_forward)


@pytest.fixture
def mine():
    backends.register("mine", student_module())
    yield "mine"
    backends._MODULES.pop("mine", None)
    backends._loaded.pop("mine", None)
    backends._external.pop("mine", None)


def test_check_passes_a_correct_student_kernel(mine):
    report = backends.check(mine)
    assert report.ok, str(report)
    assert {row[0] for row in report.rows} == {"conv2d_forward"}
    assert "matmul" in report.fallbacks and "all provided primitives agree" in str(report)


def test_check_reports_a_wrong_kernel():
    backends.register("wrong", student_module(broken=True))
    try:
        report = backends.check("wrong")
        assert not report.ok
        assert "FAILED" in str(report) and "relative error" in str(report)
    finally:
        backends._MODULES.pop("wrong")
        backends._external.pop("wrong", None)


def test_the_ops_run_the_student_kernel_and_warn_about_fallbacks(mine):
    x = pyconv.tensor(np.random.default_rng(0).standard_normal((1, 2, 5, 5)), requires_grad=True)
    w = pyconv.tensor(np.random.default_rng(1).standard_normal((3, 2, 3, 3)), requires_grad=True)
    with pyconv.backend(mine):
        with pytest.warns(RuntimeWarning, match="does not provide .*numpy reference"):
            y = F.conv2d(x, w, padding=1)
            y.sum().backward()      # the backward primitives are fallbacks
    with pyconv.backend("numpy"):
        want = F.conv2d(x, w, padding=1)
    np.testing.assert_allclose(y.numpy(), want.numpy(), atol=1e-12)
    assert backends.fallbacks(mine)[0] == "conv2d_backward_input"


def test_kernels_lists_the_student_backend(mine):
    steps = pyconv.kernels.available("conv2d_forward", backend=mine)
    assert steps[0].name == "external"
    assert pyconv.kernels.available("matmul", backend=mine)[0].name == "fallback"


@pytest.mark.filterwarnings("ignore:backend 'mine' does not provide")
def test_bench_times_the_student_backend(mine, monkeypatch, capsys):
    monkeypatch.setattr(bench, "default_cases", lambda device, quick: [bench.conv_case("tiny", 2, 3, 9, 9, 4, 3, 1, 1)])
    assert bench.main(["--backends", f"numpy,{mine}", "--repeat", "1", "--no-torch", "--same-process"]) == 0
    out = capsys.readouterr().out
    assert f"{mine}: validated against the numpy reference" in out
    assert any(f" {mine} " in line for line in out.splitlines() if line.startswith("conv2d"))


def test_registration_errors():
    with pytest.raises(ValueError, match="built-in"):
        backends.register("c", student_module())
    backends.register("empty", types.SimpleNamespace(__name__="empty"))
    try:
        assert "defines none of the primitives" in backends.available_backends()["empty"]
    finally:
        backends._MODULES.pop("empty")
        backends._loaded.pop("empty", None)


def test_the_environment_variable_names_an_external_backend(tmp_path):
    (tmp_path / "my_kernels.py").write_text(textwrap.dedent("""
        from pyconv.backends import numpy_ref
        def matmul(a, b):
            return numpy_ref.matmul(a, b)
    """))
    code = ("import pyconv, numpy as np; assert pyconv.get_backend() == 'mine'; "
            "a = pyconv.tensor(np.ones((2, 3))); print((a @ a.T).numpy().sum())")
    env = {"PYCONV_BACKEND": "my_kernels:mine", "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "12.0"


@pytest.mark.filterwarnings("ignore:backend 'mine2' does not provide")
def test_bench_registers_module_colon_name(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_kernels2.py").write_text("from pyconv.backends.numpy_ref import matmul\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(bench, "default_cases", lambda device, quick: [bench.matmul_case(1, 8, 8, 8)])
    try:
        assert bench.main(["--backends", "numpy,my_kernels2:mine2", "--repeat", "1", "--no-torch", "--same-process"]) == 0
        assert "mine2: validated against the numpy reference" in capsys.readouterr().out
    finally:
        backends._MODULES.pop("mine2", None)
        backends._loaded.pop("mine2", None)
        backends._external.pop("mine2", None)
