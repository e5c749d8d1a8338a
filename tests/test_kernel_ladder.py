"""Every step of every primitive, on every enabled CPU backend, against the numpy reference.

The kernel ladder (pyconv.kernels) keeps each optimisation of a kernel as its own numbered
step; each one must compute the same thing as the reference on every conformance case, forward
and backward, in float32 and float64 (the parametrisation is in conftest.py).
"""
import numpy as np
import pytest

import pyconv
from pyconv import backends, kernels
from pyconv.backends import conformance


def test_step_matches_the_reference(kernel_step, ladder_case, dtype):
    name, primitive, step = kernel_step
    be = backends.module(name)
    with kernels.use(primitive, step, backend=name):
        conformance.check(be, primitive, ladder_case, dtype)
        ran = kernels.ran(primitive, backend=name)
    # a step runs itself or, where it does not apply, a lower step (never a higher one)
    assert ran is None or 1 <= ran <= step


def test_every_primitive_lists_its_steps_and_default(cpu_backend):
    steps = cpu_backend.kernel_steps()
    assert set(steps) == set(backends.PRIMITIVES)
    for primitive, entries in steps.items():
        assert entries and all(name and doc for name, doc in entries), primitive
        assert 1 <= cpu_backend.default_step(primitive) <= len(entries)


def test_the_c_ladders_are_deep_enough():
    if backends.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    for primitive, least in [("conv2d_forward", 5), ("conv2d_backward_input", 5),
                             ("conv2d_backward_weight", 5), ("matmul", 4), ("max_pool2d_forward", 3),
                             ("avg_pool2d_forward", 2)]:
        assert len(kernels.available(primitive, backend="c")) >= least, primitive


def test_use_chooses_the_step_and_restores_it():
    if backends.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    from pyconv.backends import c_omp
    x = np.ones((1, 1, 4, 4), np.float32)
    w = np.ones((1, 1, 3, 3), np.float32)
    args = ((1, 1), (0, 0, 0, 0), (1, 1))
    with kernels.use("conv2d_forward", 1, backend="c"):
        assert kernels.chosen("c", "conv2d_forward") == 1
        c_omp.conv2d_forward(x, w, None, *args)
        assert kernels.ran("conv2d_forward", backend="c") == 1
    assert kernels.chosen("c", "conv2d_forward") is None
    c_omp.conv2d_forward(x, w, None, *args)
    assert kernels.ran("conv2d_forward", backend="c") == kernels.default("conv2d_forward", backend="c")


def test_set_step_holds_until_reset():
    kernels.set_step("matmul", 1, backend="numpy")
    try:
        assert kernels.chosen("numpy", "matmul") == 1
    finally:
        kernels.reset("matmul", backend="numpy")
    assert kernels.chosen("numpy", "matmul") is None


@pytest.mark.parametrize("bad", [0, 99, "2", 1.0, True])
def test_a_step_that_does_not_exist_is_refused(bad):
    with pytest.raises(ValueError, match="has steps 1.."):
        with kernels.use("matmul", bad, backend="numpy"):
            pass


def test_unknown_names_are_refused():
    with pytest.raises(ValueError, match="unknown primitive"):
        kernels.available("conv3d_forward", backend="numpy")
    with pytest.raises(ValueError, match="unknown backend"):
        kernels.available("matmul", backend="tpu")


def test_the_environment_variable_sets_choices(monkeypatch):
    monkeypatch.setattr(kernels, "_env_read", False)
    monkeypatch.setattr(kernels, "_global", {})
    monkeypatch.setenv(kernels.ENV, "numpy:matmul=1, numpy:conv2d_forward=1")
    assert kernels.chosen("numpy", "matmul") == 1
    assert kernels.chosen("numpy", "conv2d_forward") == 1
    monkeypatch.setattr(kernels, "_env_read", False)
    monkeypatch.setenv(kernels.ENV, "numpy:matmul=7")
    with pytest.raises(ValueError, match="PYCONV_KERNELS"):
        kernels.chosen("numpy", "matmul")


def test_table_marks_each_default():
    text = kernels.table(["numpy"])
    assert "numpy:" in text and "*1 reference" in text
    assert kernels.defaults()["numpy"]["conv2d_forward"] == 1


def test_the_ops_run_the_chosen_step():
    """The autograd ops reach the chosen step too (not only direct backend calls)."""
    if backends.available_backends()["c"] != "enabled":
        pytest.skip("the C backend is not built")
    import pyconv.nn.functional as F
    x = pyconv.tensor(np.random.default_rng(0).standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = pyconv.tensor(np.random.default_rng(1).standard_normal((4, 3, 3, 3)), requires_grad=True)
    with pyconv.backend("c"), kernels.use("conv2d_backward_weight", 2, backend="c"):
        F.conv2d(x, w, padding=1).sum().backward()
        assert kernels.ran("conv2d_backward_weight", backend="c") in (1, 2)
