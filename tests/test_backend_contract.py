"""The backend contract as code: every backend module against the Protocol in contract.py, and
the geometry module against hand-computed sizes and its error cases."""
import importlib
import inspect
import types

import numpy as np
import pytest

from pyconv import backends
from pyconv.backends import contract, geometry

# -- the Protocol --------------------------------------------------------------------------------


def protocol_parameters(name):
    """Parameter names of a primitive as the Protocol declares it, without `self`."""
    return list(inspect.signature(getattr(contract.Primitives, name)).parameters)[1:]


def contract_violations(module):
    """What `module` gets wrong: missing primitives, and parameters that differ from the
    Protocol's. Extra parameters are allowed only keyword-only with a default (`fast=False`)."""
    problems = []
    for name in contract.PRIMITIVES:
        fn = getattr(module, name, None)
        if not callable(fn):
            problems.append(f"{name}: missing")
            continue
        params = list(inspect.signature(fn).parameters.values())
        want = protocol_parameters(name)
        leading = params[:len(want)]
        positional = all(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in leading)
        if [p.name for p in leading] != want or not positional:
            problems.append(f"{name}{inspect.signature(fn)}: the contract has {name}({', '.join(want)})")
        extra = [p for p in params[len(want):] if p.kind != p.KEYWORD_ONLY or p.default is p.empty]
        if extra:
            problems.append(f"{name}: extra parameters must be keyword-only with a default, got "
                            f"{', '.join(p.name for p in extra)}")
    return problems


def import_backend(name):
    """The backend module, imported even when the backend is disabled (cuda_cupy imports without
    CuPy: its `available()` then says why); skips if the module itself cannot be imported."""
    try:
        return importlib.import_module(backends._MODULES[name])
    except ImportError as exc:
        pytest.skip(f"backend {name!r} cannot be imported here: {exc}")


def test_primitives_are_read_from_the_protocol():
    declared = [n for n, v in vars(contract.Primitives).items()
                if inspect.isfunction(v) and not n.startswith("_")]
    assert backends.PRIMITIVES == contract.PRIMITIVES == tuple(declared)
    assert len(backends.PRIMITIVES) == 13 and "conv2d_forward" in backends.PRIMITIVES


@pytest.mark.parametrize("name", contract.PRIMITIVES)
def test_every_primitive_documents_its_shapes(name):
    doc = inspect.getdoc(getattr(contract.Primitives, name))
    assert doc and "(" in doc, f"{name} needs a docstring giving its shapes"


@pytest.mark.parametrize("name", backends.registered())
def test_backend_module_follows_the_protocol(name):
    module = import_backend(name)
    assert contract_violations(module) == []
    assert isinstance(module, contract.Backend)  # NAME, DEVICE, xp, available() and the primitives
    assert module.NAME == name


def test_the_check_catches_a_backend_that_breaks_the_contract():
    good = import_backend("numpy")
    broken = types.SimpleNamespace(**{n: getattr(good, n) for n in contract.PRIMITIVES})
    del broken.matmul_backward_b
    broken.matmul = lambda b, a: None                                     # operands swapped
    broken.conv2d_backward_bias = lambda dy, scale=1: None                # extra positional
    broken.avg_pool2d_forward = lambda x, kernel, stride, padding, *, fast=False: None  # allowed
    problems = contract_violations(broken)
    assert [p.split(":")[0].split("(")[0] for p in problems] == \
        ["conv2d_backward_bias", "matmul", "matmul_backward_b"]


# -- geometry: output sizes ----------------------------------------------------------------------

@pytest.mark.parametrize("args,want", [
    ((5, 6, 3, 3, (1, 1), (1, 1, 1, 1), (1, 1)), (5, 6)),          # "same" for a 3x3 kernel
    ((28, 28, 5, 5, (1, 1), (2, 2, 2, 2), (1, 1)), (28, 28)),      # LeNet c1
    ((56, 56, 3, 3, (2, 2), (1, 1, 1, 1), (1, 1)), (28, 28)),      # ResNet stride 2
    ((10, 10, 3, 3, (1, 1), (0, 0, 0, 0), (2, 3)), (6, 4)),        # dilated reach 5 and 7
    ((5, 6, 2, 3, (2, 2), (0, 1, 2, 0), (1, 1)), (3, 3)),          # asymmetric padding
    ((7, 300, 2, 3, (1, 2 ** 40), (0, 0, 0, 0), (1, 1)), (6, 1)),  # huge stride: one column
    ((4, 4, 5, 5, (1, 1), (0, 0, 0, 0), (1, 1)), (0, 0)),          # does not fit: below 1
])
def test_conv_output_size(args, want):
    assert geometry.conv_output_size(*args) == want


@pytest.mark.parametrize("args,want", [
    ((28, 28, (2, 2), (2, 2), (0, 0)), (14, 14)),
    ((5, 7, (3, 3), (2, 2), (1, 1)), (3, 4)),
    ((5, 5, (3, 2), (1, 3), (0, 1)), (3, 2)),
    ((5, 5, (2, 2), (2, 2), (0, 0), True), (3, 3)),     # ceil_mode keeps the half window
    ((5, 5, (1, 1), (5, 5), (0, 0), True), (1, 1)),     # ... unless it starts past the input
    ((6, 6, (2, 2), (2, 2), (0, 0), True), (3, 3)),     # exact division: as floor
])
def test_pool_output_size(args, want):
    assert geometry.pool_output_size(*args) == want


def test_ceil_mode_extra_pads_the_last_windows():
    assert geometry.ceil_mode_extra(5, 6, (2, 2), (2, 2), (0, 0)) == (1, 0)
    assert geometry.ceil_mode_extra(5, 5, (3, 3), (2, 2), (1, 1)) == (0, 0)


@pytest.mark.parametrize("args,want", [
    ((5, 3, 1, 1), (1, 1)),
    ((5, 4, 1, 1), (1, 2)),     # the odd pixel goes after
    ((6, 3, 2, 1), (0, 1)),     # out 3: (3-1)*2 + 3 - 6 = 1
    ((5, 3, 1, 2), (2, 2)),     # dilated reach 5
    ((1, 1, 4, 1), (0, 0)),
])
def test_same_padding(args, want):
    assert geometry.same_padding(*args) == want


# -- geometry: normalising user arguments ----------------------------------------------------------

@pytest.mark.parametrize("padding,want", [
    (1, (1, 1, 1, 1)), ((1, 2), (1, 1, 2, 2)), ([0, 1, 2, 3], (0, 1, 2, 3)), ("valid", (0, 0, 0, 0)),
    ("same", (0, 1, 1, 1)), (np.int64(2), (2, 2, 2, 2)),
])
def test_conv_padding(padding, want):
    assert geometry.conv_padding(padding, (1, 1, 6, 5), (1, 1, 3, 3), (2, 1), (1, 1)) == want


@pytest.mark.parametrize("padding,error,match", [
    ("full", ValueError, r"conv2d: unknown padding 'full'"),
    (1.5, TypeError, r"padding must be an int or a pair of ints, got 1.5"),
    (True, TypeError, r"padding must be an int"),
    (-1, ValueError, r"conv2d: padding must be non-negative, got -1"),
    ((0, 1, -1, 0), ValueError, r"padding must be non-negative"),
    ((1, 2, 3), TypeError, r"padding must be an int or a pair"),
])
def test_conv_padding_errors(padding, error, match):
    with pytest.raises(error, match=match):
        geometry.conv_padding(padding, (1, 1, 6, 5), (1, 1, 3, 3), (1, 1), (1, 1))


def test_pairs():
    assert geometry.pair(3, "stride") == (3, 3) and geometry.pair([2, 1], "stride") == (2, 1)
    assert geometry.positive_pair((1, 2), "stride", "conv2d") == (1, 2)
    assert geometry.pool_padding(1, "max_pool2d") == (1, 1)
    with pytest.raises(TypeError, match=r"stride must be an int or a pair of ints, got \(1, 2, 3\)"):
        geometry.pair((1, 2, 3), "stride")
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive, got \(1, 0\)"):
        geometry.positive_pair((1, 0), "stride", "conv2d")
    with pytest.raises(ValueError, match=r"max_pool2d: padding must be non-negative, got -1"):
        geometry.pool_padding(-1, "max_pool2d")


# -- geometry: checks ----------------------------------------------------------------------------

CONV_OK = ((2, 3, 5, 6), (4, 3, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1))


def conv_args(**change):
    names = ("x_shape", "w_shape", "stride", "padding", "dilation")
    return {**dict(zip(names, CONV_OK)), **change}


def test_check_conv_returns_the_output_size():
    assert geometry.check_conv(*CONV_OK) == (5, 6)
    assert geometry.check_conv((1, 1, 4, 4), (1, 1, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1)) == (2, 2)


@pytest.mark.parametrize("change,match", [
    (dict(stride=(0, 1)), r"conv2d: stride must be positive, got \(0, 1\)"),
    (dict(dilation=(1, -1)), r"conv2d: dilation must be positive"),
    (dict(padding=(0, -1, 0, 0)), r"conv2d: padding must be non-negative"),
    (dict(w_shape=(4, 2, 3, 3)), r"input has 3 channels but the weight expects 2 \(x shape \(2, 3, 5, 6\)"),
    (dict(w_shape=(4, 3, 0, 3)), r"the kernel 0x3 has no taps"),
    (dict(x_shape=(1, 3, 4, 4), w_shape=(1, 3, 5, 5), padding=(0, 0, 0, 0)),
     r"kernel 5x5 is larger than the padded input 4x4 \(x shape \(1, 3, 4, 4\), w shape \(1, 3, 5, 5\)"),
    (dict(padding=(0, 0, 0, 0), dilation=(3, 1)), r"the \(dilated\) kernel 7x3 is larger than the padded input 5x6"),
    (dict(stride=(2 ** 62, 1)), r"conv2d: the padded input or the span of its windows .* exceeds 2\*\*62"),
    (dict(padding=(2 ** 62, 0, 0, 0)), r"exceeds 2\*\*62"),
])
def test_check_conv_errors(change, match):
    with pytest.raises(ValueError, match=match):
        geometry.check_conv(**conv_args(**change))


def test_check_pool_returns_the_output_size():
    assert geometry.check_pool((2, 3, 5, 7), (3, 3), (2, 2), (1, 1)) == (3, 4)


@pytest.mark.parametrize("args,match", [
    (((1, 1, 8, 8), (0, 2), (1, 1), (0, 0)), r"pooling: kernel_size must be positive"),
    (((1, 1, 8, 8), (2, 2), (1, 0), (0, 0)), r"pooling: stride must be positive"),
    (((1, 1, 8, 8), (2, 2), (1, 1), (-1, 0)), r"pooling: padding must be non-negative"),
    (((1, 1, 8, 8), (3, 3), (1, 1), (2, 2)), r"padding \(2, 2\) must be at most half the kernel size \(3, 3\)"),
    (((1, 1, 4, 4), (5, 5), (1, 1), (0, 0)),
     r"kernel 5x5 is larger than the padded input 4x4 \(x shape \(1, 1, 4, 4\), padding \(0, 0\)\)"),
    (((1, 1, 4, 4), (2, 2), (2 ** 62, 1), (0, 0)), r"exceeds 2\*\*62"),
])
def test_check_pool_errors(args, match):
    with pytest.raises(ValueError, match=match):
        geometry.check_pool(*args)


# -- one check, two callers: the op layer and the c backend refuse alike -------------------------

def test_c_backend_refuses_through_geometry():
    c = import_backend("c")
    if not c.available()[0]:
        pytest.skip(c.available()[1])
    x, w = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"conv2d: the \(dilated\) kernel 5x5 is larger than the padded input 4x4"):
        c.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(ValueError, match=r"conv2d: stride must be positive"):
        c.conv2d_backward_input(np.zeros((1, 1, 1, 1)), w, x.shape, (0, 1), (1, 1, 1, 1), (1, 1))
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half"):
        c.max_pool2d_forward(x, (2, 2), (2, 2), (2, 2))
    with pytest.raises(ValueError, match=r"avg_pool2d: kernel 5x5 is larger than the padded input 4x4"):
        c.avg_pool2d_backward(np.zeros((1, 1, 1, 1)), x.shape, (5, 5), (1, 1), (0, 0))
    with pytest.raises(ValueError, match=r"min_pool2d: the padded input .* exceeds 2\*\*62"):
        c.min_pool2d_forward(x, (2, 2), (2 ** 62, 1), (0, 0))
