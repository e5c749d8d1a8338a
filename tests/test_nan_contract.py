"""The NaN/Inf contract of conv2d (CONTRACT.md, "Non-finite values"): every primitive computes
what its im2col formulation computes.

* forward and weight gradient multiply the zeros of the padding: a tap of an Inf/NaN weight, or
  an Inf/NaN dy, that falls in the padding contributes Inf*0 = NaN;
* input gradient is col2im(w^T dy): it multiplies only real dy values, and what lands in the
  padding is dropped, so an Inf weight never meets a missing dy (no NaN from the border).

`rule` below writes that down as plain loops over the taps, independent of numpy_ref; numpy_ref
is checked against it, then every C step (pyconv.kernels.available(p, backend="c")) and every
CUDA variant (on the CPU emulation of tests/cuda_emu) against numpy_ref: the same NaN positions,
the same infinities (sign included), finite values within the conformance tolerance.
"""
import importlib.util
import os

import numpy as np
import pytest

import pyconv.kernels
from pyconv import backends
from pyconv.backends import conformance, cuda_cupy as cu
from pyconv.backends import numpy_ref as ref
from pyconv.backends.geometry import conv_output_size

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

CONV = ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias")

# (x shape, w shape, stride, padding (top, bottom, left, right), dilation): tiny, with padding on
# every side; the second has stride, dilation and asymmetric padding (several stride phases of
# the CUDA input gradient), the third C = 16 (the C backend's gather for the input gradient and
# its channels-last weight gradient, K*C > 32).
CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
    ((1, 2, 7, 8), (3, 2, 3, 2), (2, 1), (2, 1, 0, 2), (1, 2)),
    ((1, 16, 5, 4), (4, 16, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1)),
]
# Mostly padding: the C backend's fast steps fall back to the direct loops (pc_conv2d_prepare).
DIRECT = ((1, 1, 2, 1), (2, 1, 1, 1), (1, 2 ** 20), (0, 0, 2 ** 20, 2 ** 20), (1, 1))
SCENARIOS = ("inf_weight", "nan_x", "inf_dy")


def inputs(case, scenario, dtype, seed=0):
    """x, w, b, dy of `case` with the scenario's non-finite values placed: an Inf weight at the
    corner taps (they meet the padding at the border outputs), a NaN in x at a corner pixel and
    inside, an Inf dy at the first and last output pixels (their windows reach the padding)."""
    (N, C, H, W), (K, _, R, S), stride, padding, dilation = case
    P, Q = conv_output_size(H, W, R, S, stride, padding, dilation)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((K, C, R, S)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    dy = rng.standard_normal((N, K, P, Q)).astype(dtype)
    if scenario == "inf_weight":
        w[0, 0, 0, 0] = np.inf
        w[K - 1, C - 1, R - 1, S - 1] = -np.inf
    elif scenario == "nan_x":
        x[0, 0, 0, 0] = np.nan
        x[N - 1, C - 1, H // 2, W // 2] = np.nan
    else:
        dy[0, 0, 0, 0] = np.inf
        dy[N - 1, K - 1, P - 1, Q - 1] = -np.inf
    return x, w, b, dy


def arguments(primitive, case, x, w, b, dy):
    geo = case[2:]
    return {"conv2d_forward": (x, w, b, *geo), "conv2d_backward_input": (dy, w, x.shape, *geo),
            "conv2d_backward_weight": (dy, x, w.shape, *geo), "conv2d_backward_bias": (dy,)}[primitive]


def rule(primitive, case, x, w, b, dy):
    """The contract as loops over the taps, in float64: forward and weight gradient read the
    zero-padded input (so they multiply its zeros), the input gradient adds w * dy only where
    the tap lands on a real input pixel (only real dy, nothing from the padding)."""
    (N, C, H, W), (K, _, R, S), (sh, sw), (pt, pb, pl, pr), (dh, dw) = (x.shape, w.shape, *case[2:])
    x, w, dy = (a.astype(np.float64) for a in (x, w, dy))
    P, Q = dy.shape[2:]
    if primitive == "conv2d_backward_bias":
        return dy.sum(axis=(0, 2, 3))
    xpad = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    if primitive == "conv2d_forward":
        y = np.zeros((N, K, P, Q)) + b.astype(np.float64).reshape(K, 1, 1)
    out = np.zeros(w.shape if primitive == "conv2d_backward_weight" else x.shape)
    for r in range(R):
        for s in range(S):
            rows = np.arange(P) * sh + r * dh          # padded coordinates of the tap
            cols = np.arange(Q) * sw + s * dw
            if primitive == "conv2d_forward":
                view = xpad[:, :, rows][:, :, :, cols]                     # (N, C, P, Q)
                y += (w[None, :, :, r, s, None, None] * view[:, None]).sum(axis=2)
            elif primitive == "conv2d_backward_weight":
                view = xpad[:, :, rows][:, :, :, cols]
                out[:, :, r, s] = (dy[:, :, None] * view[:, None]).sum(axis=(0, 3, 4))
            else:
                h, v = rows - pt, cols - pl
                ih, iv = np.flatnonzero((h >= 0) & (h < H)), np.flatnonzero((v >= 0) & (v < W))
                if ih.size and iv.size:
                    part = (w[None, :, :, r, s, None, None] * dy[:, :, None][:, :, :, ih][..., iv]).sum(axis=1)
                    out[:, :, h[ih][:, None], v[iv][None, :]] += part
    return y if primitive == "conv2d_forward" else out


def assert_same(got, want, dtype, tol, what):
    """Same NaN positions, same infinities (with their signs), finite values within tol."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN positions")
    inf = np.isinf(want)
    np.testing.assert_array_equal(np.isinf(got), inf, err_msg=f"{what}: Inf positions")
    np.testing.assert_array_equal(got[inf], want[inf], err_msg=f"{what}: Inf signs")
    fin = np.isfinite(want)
    scale = max(1.0, float(np.abs(want[fin]).max(initial=0)))
    np.testing.assert_allclose(got[fin], want[fin], rtol=0, atol=tol * scale, err_msg=what)


def affected(primitive, scenario):
    """The primitives whose result a scenario's non-finite values reach."""
    reads = {"conv2d_forward": ("inf_weight", "nan_x"), "conv2d_backward_input": ("inf_weight", "inf_dy"),
             "conv2d_backward_weight": ("nan_x", "inf_dy"), "conv2d_backward_bias": ("inf_dy",)}
    return scenario in reads[primitive]


def check(be, primitive, case, scenario, dtype, tol=None, to_dev=lambda a: a, to_host=np.asarray):
    x, w, b, dy = inputs(case, scenario, dtype)
    args = arguments(primitive, case, x, w, b, dy)
    want = getattr(ref, primitive)(*args)
    got = to_host(getattr(be, primitive)(*(to_dev(a) if isinstance(a, np.ndarray) else a for a in args)))
    tol = conformance.TOL[np.dtype(dtype).type] if tol is None else tol
    assert_same(got, want, dtype, tol, f"{be.NAME} {primitive} {scenario} {case}")


SCENARIO_CASES = [(p, s, c) for p in CONV for s in SCENARIOS if affected(p, s) for c in CASES]


def _id(item):
    p, s, c = item
    return f"{p}-{s}-case{CASES.index(c)}"


# -- the reference follows the rule -------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("item", SCENARIO_CASES + [(p, s, DIRECT) for p in CONV for s in SCENARIOS
                                                   if affected(p, s)],
                         ids=lambda it: f"{it[0]}-{it[1]}-{'direct' if it[2] is DIRECT else CASES.index(it[2])}")
def test_numpy_reference_follows_the_rule(item, dtype):
    primitive, scenario, case = item
    x, w, b, dy = inputs(case, scenario, dtype)
    got = getattr(ref, primitive)(*arguments(primitive, case, x, w, b, dy))
    want = rule(primitive, case, x, w, b, dy)
    assert np.isnan(want).any() or primitive != "conv2d_forward" or scenario != "inf_weight", \
        "the Inf weight must meet the padding in this case"
    assert_same(got, want, dtype, conformance.TOL[np.dtype(dtype).type], f"numpy {primitive} {scenario}")


def test_the_rule_is_what_it_says():
    """An Inf weight over the padding: NaN at the border of y, never NaN in dx; an Inf dy at a
    border output: NaN in dw (its window reaches the padding), never NaN in dx from missing dy."""
    case = CASES[0]
    x, w, b, dy = inputs(case, "inf_weight", np.float64)
    y = rule("conv2d_forward", case, x, w, b, dy)
    assert np.isnan(y[:, 0, 0, 0]).all() and np.isinf(y[:, 0, 2, 2]).all()   # padding vs real x
    dx = rule("conv2d_backward_input", case, x, w, b, dy)
    assert not np.isnan(dx).any() and np.isinf(dx).any()
    x, w, b, dy = inputs(case, "inf_dy", np.float64)
    dw = rule("conv2d_backward_weight", case, x, w, b, dy)
    assert np.isnan(dw[0, :, 0, 0]).all()
    assert not np.isnan(rule("conv2d_backward_input", case, x, w, b, dy)).any()


# -- every C step --------------------------------------------------------------------------------

C_ENABLED = backends.available_backends().get("c") == "enabled"


def _c_items():
    if not C_ENABLED:
        return []
    return [(p, st.number, s, c) for p, s, c in SCENARIO_CASES + [(p, s, DIRECT) for p in CONV for s in SCENARIOS
                                                                   if affected(p, s)]
            for st in pyconv.kernels.available(p, backend="c")]


@pytest.mark.skipif(not C_ENABLED, reason="the C backend is not built")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("item", _c_items(), ids=lambda it: f"{it[0]}-{it[1]}-{it[2]}-"
                         f"{'direct' if it[3] is DIRECT else 'case%d' % CASES.index(it[3])}")
def test_c_steps_follow_the_rule(item, dtype):
    primitive, step, scenario, case = item
    be = backends.module("c")
    with pyconv.kernels.use(primitive, step, backend="c"):
        check(be, primitive, case, scenario, dtype)


# -- every CUDA variant, on the CPU emulation ------------------------------------------------------

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


emu = _load("pyconv_cuda_emu", os.path.join(HERE, "cuda_emu", "__init__.py"))


@pytest.fixture
def emulated(monkeypatch):
    """cuda_cupy on numpy arrays, its kernels on CPU threads (as in test_cuda_emulated.py)."""
    monkeypatch.setattr(cu, "xp", np)
    monkeypatch.setattr(cu, "_function", emu.function)
    monkeypatch.setattr(cu, "_sm_count", lambda: 4)
    monkeypatch.setattr(cu, "SPLIT_MIN_K", 16)
    monkeypatch.setattr(cu, "REDUCE_MIN_CHUNK", 16)
    return cu


# the first two cases: the third is for the c backend's C >= 16 paths (one thread per CUDA
# thread makes every emulated launch cost ~ms)
CUDA_ITEMS = [(p, v, s, c) for p, s, c in SCENARIO_CASES if c is not CASES[2]
              for v in range(1, len(cu.STEPS[cu._family(p)]) + 1)]


@pytest.mark.skipif(emu.compiler() is None, reason="no C++ compiler for the CUDA emulation")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("item", CUDA_ITEMS,
                         ids=lambda it: f"{it[0]}-{it[1]}-{it[2]}-case{CASES.index(it[3])}")
def test_cuda_variants_follow_the_rule(emulated, item, dtype):
    primitive, v, scenario, case = item
    tol = None
    if cu.TF32_VARIANT.get(primitive) == v and dtype == np.float32:
        tol = 5e-3   # TF32 tensor cores: 10-bit mantissa operands
    with pyconv.kernels.use(primitive, v, backend="cuda"):
        check(cu, primitive, case, scenario, dtype, tol=tol)
