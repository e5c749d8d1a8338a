"""The conformance cases: one table of odd shapes every backend and every kernel step must get
right, and one way to compare a primitive with the numpy reference on them.

Used by the tests (tests/test_kernel_ladder.py for the c backend's steps, the CUDA tests for its
variants, on a GPU or the emulation) and by `python -m pyconv bench`, which validates every
backend and every ladder step before it times anything.

    from pyconv.backends import conformance, c_omp
    for case in conformance.CASES["conv2d_forward"]:
        conformance.check(c_omp, "conv2d_forward", case, np.float32)   # AssertionError if off

A case is a tuple of sizes (see the tables); `evaluate` builds seeded random inputs for it, runs
the backend and the reference, and `error` measures max |got - want| / max(1, max |want|).
Pooling indices must match exactly (the inputs are permutations: no ties).
"""
import numpy as np

from . import numpy_ref as ref
from .geometry import conv_output_size, pool_output_size

TOL = {np.float32: 1e-4, np.float64: 1e-10}

# (x shape, w shape, stride, padding (top, bottom, left, right), dilation)
CONV = [
    ((1, 1, 7, 5), (1, 1, 3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),        # batch 1, one channel
    ((2, 3, 11, 9), (4, 3, 3, 2), (2, 3), (1, 2, 0, 1), (1, 1)),        # uneven stride, asymmetric pad
    ((3, 5, 10, 13), (7, 5, 3, 3), (1, 2), (2, 1, 1, 0), (2, 2)),       # dilation 2
    ((2, 6, 9, 8), (9, 6, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),         # 1x1: x is its own column matrix
    ((2, 4, 9, 8), (3, 4, 1, 1), (2, 2), (1, 0, 0, 1), (1, 1)),         # 1x1 strided, padded
    ((1, 2, 6, 17), (3, 2, 2, 5), (3, 1), (0, 2, 2, 2), (1, 3)),        # wide, rectangular dilation
    ((2, 3, 40, 37), (37, 3, 5, 4), (1, 1), (2, 2, 1, 2), (1, 1)),      # more than one panel of pixels
    ((1, 70, 6, 5), (10, 70, 2, 2), (1, 1), (1, 1, 1, 1), (1, 1)),      # C*R*S past one cache block
    ((2, 16, 9, 11), (5, 16, 3, 2), (1, 1), (0, 2, 1, 0), (2, 3)),      # unit stride, dilated, C >= 16
    ((1, 17, 7, 8), (4, 17, 2, 3), (1, 1), (3, 0, 2, 4), (1, 1)),       # padding wider than the kernel
    ((2, 32, 9, 8), (5, 32, 3, 3), (2, 1), (1, 0, 2, 1), (1, 2)),       # C a multiple of the panel width
    ((2, 3, 13, 12), (4, 3, 3, 3), (2, 3), (1, 1, 2, 0), (3, 2)),       # stride phases, odd dilation
    ((1, 20, 30, 30), (9, 20, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1)),     # stride 2, past one pixel block
    ((1, 2, 3, 3), (2, 2, 1, 1), (4, 4), (0, 0, 0, 0), (1, 1)),         # stride > input: 1x1 output
    ((3, 2, 8, 9), (130, 2, 1, 1), (1, 1), (0, 0, 0, 0), (1, 1)),       # K = 130: two GPU row tiles
    ((1, 131, 3, 4), (3, 131, 1, 2), (2, 1), (1, 1, 0, 1), (1, 2)),     # C = 131: two GPU tiles of dx
    ((2, 5, 7, 6), (6, 5, 5, 5), (1, 1), (2, 2, 2, 2), (1, 1)),         # 5x5, C*R*S = 125 (not /8)
    ((2, 3, 11, 10), (4, 3, 3, 3), (2, 2), (2, 1, 2, 2), (2, 2)),       # stride 2 with dilation 2
    ((1, 3, 8, 8), (2, 3, 3, 3), (2, 2), (0, 1, 0, 1), (1, 1)),         # "same" at stride 2
]
# (x shape, kernel, stride, padding)
POOL = [
    ((1, 1, 5, 7), (2, 2), (2, 2), (0, 0)),        # 2x2/2 with an odd last column
    ((2, 3, 8, 70), (2, 2), (2, 2), (0, 0)),       # 2x2/2, rows long enough for vector runs
    ((2, 3, 7, 8), (3, 3), (2, 2), (1, 1)),        # overlapping windows, padding
    ((2, 2, 9, 6), (3, 2), (1, 2), (1, 0)),        # non-square window, stride 1 rows
    ((1, 2, 6, 6), (4, 4), (3, 3), (2, 2)),        # padding = half the window
    ((1, 2, 9, 75), (3, 3), (1, 1), (1, 1)),       # stride 1, interior runs past one chunk
    ((1, 2, 5, 11), (1, 4), (3, 3), (0, 2)),       # 1-row window, stride past the window
    ((2, 3, 7, 41), (2, 2), (2, 2), (0, 0)),       # 2x2/2: a full vector of outputs and a tail
]
# (B, M, K, N)
MATMUL = [(1, 1, 1, 1), (3, 37, 45, 29), (2, 9, 300, 70), (1, 130, 17, 530), (2, 70, 33, 130),
          (3, 5, 129, 7), (1, 257, 9, 131)]

# The subsets the CUDA tests run on the CPU emulation (one OS thread per CUDA thread: slow, and
# rerun under sanitizers), chosen to reach every tile edge of the GPU kernels: one tiny case,
# uneven strides, dilation, "same" at stride 2, two row tiles (K = 130), two tiles of dx
# (C = 131), a reduction length not a multiple of 8, stride with dilation, a 1x1 output.
CONV_EMULATED = [CONV[i] for i in (0, 1, 2, 18, 14, 15, 16, 17, 13)]
POOL_EMULATED = [POOL[i] for i in (0, 2, 3, 4)]
MATMUL_EMULATED = [MATMUL[i] for i in (0, 4, 5, 6)]

_FAMILY = {
    "conv2d_forward": CONV, "conv2d_backward_input": CONV, "conv2d_backward_weight": CONV,
    "conv2d_backward_bias": CONV,
    "max_pool2d_forward": POOL, "max_pool2d_backward": POOL, "min_pool2d_forward": POOL,
    "min_pool2d_backward": POOL, "avg_pool2d_forward": POOL, "avg_pool2d_backward": POOL,
    "matmul": MATMUL, "matmul_backward_a": MATMUL, "matmul_backward_b": MATMUL,
}
CASES = {primitive: list(table) for primitive, table in _FAMILY.items()}


def _same(a):
    return a


def _conv_inputs(case, dtype, rng):
    x_shape, w_shape, stride, padding, dilation = case
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal(w_shape).astype(dtype)
    b = rng.standard_normal(w_shape[0]).astype(dtype)
    y = ref.conv2d_forward(x, w, b, stride, padding, dilation)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, b, dy, (stride, padding, dilation)


def _pool_inputs(case, dtype, rng):
    x_shape, kernel, stride, padding = case
    x = (rng.permutation(int(np.prod(x_shape))).reshape(x_shape) / 7).astype(dtype)
    y = ref.avg_pool2d_forward(x, kernel, stride, padding)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, dy, (kernel, stride, padding)


def _conv_arguments(primitive, case, dtype, rng):
    x, w, b, dy, geo = _conv_inputs(case, dtype, rng)
    return {
        "conv2d_forward": (x, w, b, *geo),
        "conv2d_backward_input": (dy, w, x.shape, *geo),
        "conv2d_backward_weight": (dy, x, w.shape, *geo),
        "conv2d_backward_bias": (dy,),
    }[primitive]


def _pool_arguments(primitive, case, dtype, rng):
    x, dy, geo = _pool_inputs(case, dtype, rng)
    kind = primitive.split("_")[0]
    if primitive.endswith("_forward"):
        return (x, *geo)
    if kind == "avg":
        return (dy, x.shape, *geo)
    _, idx = getattr(ref, f"{kind}_pool2d_forward")(x, *geo)
    return (dy, idx, x.shape)


def _matmul_arguments(primitive, case, dtype, rng):
    B, M, K, N = case
    a = rng.standard_normal((B, M, K)).astype(dtype)
    b = rng.standard_normal((B, K, N)).astype(dtype)
    dc = rng.standard_normal((B, M, N)).astype(dtype)
    return {"matmul": (a, b), "matmul_backward_a": (dc, b), "matmul_backward_b": (a, dc)}[primitive]


def arguments(primitive, case, dtype, seed=0):
    """Seeded random arguments of `primitive` for `case` (numpy arrays and shape tuples)."""
    rng = np.random.default_rng(seed)
    family = _FAMILY[primitive]
    make = _conv_arguments if family is CONV else _pool_arguments if family is POOL else _matmul_arguments
    return make(primitive, case, np.dtype(dtype), rng)


def flops(primitive, case):
    """Floating-point operations of one call: 2 per multiply-add of conv2d and matmul, one per
    window element of pooling, one per dy element of the bias gradient."""
    family = _FAMILY[primitive]
    if family is MATMUL:
        B, M, K, N = case
        return 2.0 * B * M * N * K
    if family is CONV:
        (N, C, H, W), (K, _, R, S), stride, padding, dilation = case
        P, Q = conv_output_size(H, W, R, S, stride, padding, dilation)
        return float(N * K * P * Q) * (1 if primitive == "conv2d_backward_bias" else 2 * C * R * S)
    (N, C, H, W), kernel, stride, padding = case
    P, Q = pool_output_size(H, W, kernel, stride, padding)
    return float(N * C * P * Q * kernel[0] * kernel[1])


def evaluate(be, primitive, case, dtype, *, to_dev=_same, to_host=np.asarray, seed=0):
    """(got, want): `be`'s and the reference's results of `primitive` on `case`, same inputs.
    Pooling forwards return (y, idx) pairs."""
    args = arguments(primitive, case, dtype, seed)
    want = getattr(ref, primitive)(*args)
    got = getattr(be, primitive)(*(to_dev(a) if isinstance(a, np.ndarray) else a for a in args))
    got = tuple(to_host(g) for g in got) if isinstance(got, tuple) else to_host(got)
    return got, want


def error(got, want):
    """max |got - want| / max(1, max |want|), in float64; inf for a shape mismatch."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    if not want.size:
        return 0.0
    return float(np.max(np.abs(got - want))) / max(1.0, float(np.max(np.abs(want))))


def mismatch(be, primitive, case, dtype, *, tol=None, **devices):
    """"" when `be` agrees with the reference on `case`, else a one-line description."""
    got, want = evaluate(be, primitive, case, dtype, **devices)
    tol = TOL[np.dtype(dtype).type] if tol is None else tol
    if isinstance(want, tuple):                  # pooling forward: values, then exact indices
        (got, got_idx), (want, want_idx) = got, want
        if got_idx.shape != want_idx.shape or not np.array_equal(got_idx, want_idx):
            return f"{primitive} {case}: indices differ from the reference"
    err = error(got, want)
    if not err <= tol:
        return f"{primitive} {case} {np.dtype(dtype).name}: relative error {err:.3g} > {tol:g}"
    if np.asarray(got).dtype != np.dtype(dtype):
        return f"{primitive} {case}: returned {np.asarray(got).dtype}, not {np.dtype(dtype).name}"
    return ""


def check(be, primitive, case, dtype, **options):
    """Assert that `be` agrees with the reference on `case` (see `mismatch`)."""
    problem = mismatch(be, primitive, case, dtype, **options)
    assert not problem, problem
