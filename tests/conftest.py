"""Fixtures shared by the tests: the dtypes, the CPU backends and the kernel steps.

Every primitive test takes its parameters from here, so one place says what "every backend,
every step, both dtypes" means:

* `dtype`: float32 and float64.
* `cpu_backend`: the module of each enabled CPU backend ("numpy", and "c" when it is built).
* `kernel_step`: (backend name, primitive, step number) for every step of every primitive of
  every enabled CPU backend (pyconv.kernels.available lists them); with `ladder_case` it expands
  to one test per conformance case of that primitive (pyconv.backends.conformance).

The CUDA tests parametrise over the cuda backend's steps the same way in their own files (they
need a GPU, or the emulation under tests/cuda_emu).
"""
import os

import numpy as np
import pytest

import pyconv
from pyconv import backends
from pyconv.backends import conformance

DTYPES = [np.float32, np.float64]


def cpu_backend_names():
    """The enabled CPU backends; PYCONV_TEST_BACKENDS=c,numpy narrows them (the sanitizer rerun
    of test_c_sanitize.py tests the c backend's steps only)."""
    only = os.environ.get("PYCONV_TEST_BACKENDS")
    return [name for name in backends.registered()
            if name != "cuda" and backends.available_backends()[name] == "enabled"
            and (not only or name in only.split(","))]


def kernel_steps():
    """[(backend, primitive, step)] of every enabled CPU backend."""
    out = []
    for name in cpu_backend_names():
        for primitive in backends.PRIMITIVES:
            for step in pyconv.kernels.available(primitive, backend=name):
                out.append((name, primitive, step.number))
    return out


def _step_id(item):
    name, primitive, step = item
    return f"{name}-{primitive}-{step}"


def pytest_generate_tests(metafunc):
    if "kernel_step" in metafunc.fixturenames and "ladder_case" in metafunc.fixturenames:
        params = [pytest.param(item, case, id=f"{_step_id(item)}-case{i}")
                  for item in kernel_steps()
                  for i, case in enumerate(conformance.CASES[item[1]])]
        metafunc.parametrize("kernel_step,ladder_case", params)
    elif "kernel_step" in metafunc.fixturenames:
        metafunc.parametrize("kernel_step", kernel_steps(), ids=_step_id)


@pytest.fixture(params=DTYPES, ids=lambda d: np.dtype(d).name)
def dtype(request):
    return request.param


@pytest.fixture(params=cpu_backend_names())
def cpu_backend(request):
    return backends.module(request.param)
