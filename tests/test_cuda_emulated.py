"""The CUDA backend's kernels and wrapper, run on the CPU through tests/cuda_emu (no GPU needed).

The .cu files are compiled with g++ against a small CUDA shim (one OS thread per CUDA thread,
__syncthreads a barrier) and the wrapper `cuda_cupy` runs unchanged on numpy arrays. This
checks the index math, the tiling (edges, several tiles, split reductions), the NaN rules
and the Python side; speed and true GPU concurrency are left to tests/test_cuda_backend.py.
"""
import importlib.util
import os

import numpy as np
import pytest

from pyconv.backends import cuda_cupy as cu

HERE = os.path.dirname(os.path.abspath(__file__))


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


emu = _load("pyconv_cuda_emu", os.path.join(HERE, "cuda_emu", "__init__.py"))
cases = _load("pyconv_cuda_cases", os.path.join(HERE, "cuda_cases.py"))

pytestmark = pytest.mark.skipif(emu.compiler() is None, reason="no C++ compiler for the CUDA emulation")
DTYPES = [np.float32, np.float64]


def same(a):
    return a


@pytest.fixture
def emulated(monkeypatch):
    """cuda_cupy on numpy arrays, kernels on CPU threads; small SM count and split lengths so
    that the split reductions (weight gradient 2-5, bias) really split on small problems."""
    monkeypatch.setattr(cu, "xp", np)
    monkeypatch.setattr(cu, "_function", emu.function)
    monkeypatch.setattr(cu, "_sm_count", lambda: 4)
    monkeypatch.setattr(cu, "SPLIT_MIN_K", 16)
    monkeypatch.setattr(cu, "REDUCE_MIN_CHUNK", 16)
    return cu


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.CONV_ODD, ids=lambda c: "x{}w{}".format(*c[:2]))
def test_conv2d(emulated, case, core, dtype):
    with cases.use_core(cu, core, cases.CONV):
        cases.check_conv(cu, same, same, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.CONV_ODD, ids=lambda c: "x{}w{}".format(*c[:2]))
def test_conv2d_small_filter_bank_kernels(emulated, case, dtype):
    """The kernels SMALL_PROBLEM picks: naive forward and input gradient, block-per-element
    weight gradient (variant 2)."""
    with cases.use_steps(cu.SMALL_PROBLEM):
        cases.check_conv(cu, same, same, case, dtype)


def _tf32_tol(dtype):
    return cases.TF32_TOL if dtype == np.float32 else None   # doubles run exact (cp.async core)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.CONV_ODD, ids=lambda c: "x{}w{}".format(*c[:2]))
def test_conv2d_tf32(emulated, case, dtype):
    """The TF32 variants, tensor cores: the mma.sync fragment layouts, emulated lane by lane."""
    with cases.use_core(cu, "tf32", cases.CONV):
        cases.check_conv(cu, same, same, case, dtype, tol=_tf32_tol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", cases.MATMUL_ODD, ids=lambda c: "B{}M{}K{}N{}".format(*c))
def test_matmul_tf32(emulated, case, dtype):
    with cases.use_core(cu, "tf32", cases.MATMUL):
        cases.check_matmul(cu, same, same, case, dtype, tol=_tf32_tol(dtype))


def test_tf32_rounds_operands(emulated):
    """TF32 is not float32: with operands that need more than 10 mantissa bits the result moves
    by about 2^-11 relative, so the TF32 kernels really round (and the tests above are not
    passing on float32 arithmetic)."""
    a = np.full((1, 1, 8), 1 + 2.0 ** -12, np.float32)      # rounds to 1 in TF32
    b = np.ones((1, 8, 1), np.float32)
    with cases.use_core(cu, "tf32", ["matmul"]):
        assert cu.matmul(a, b)[0, 0, 0] == 8.0
    with cases.use_core(cu, "async", ["matmul"]):
        assert cu.matmul(a, b)[0, 0, 0] == np.float32(8 * (1 + 2.0 ** -12))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [1, 2, 3])
@pytest.mark.parametrize("case", cases.POOL_ODD, ids=lambda c: "x{}k{}s{}p{}".format(*c))
def test_pool2d(emulated, case, v, dtype):
    with cases.use_step(v, cases.ARGMAX_BACKWARD):
        cases.check_pool(cu, same, same, case, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("v", [2, 3])
def test_pool2d_backward_deterministic_variants_add_in_row_major_order(emulated, v, dtype):
    """Overlapping 3x3/1 windows on a plane whose centre is the maximum: one pixel gets nine
    gradients, whose float sum depends on their order (1e8 + 1 - 1e8 ...). Variants 2 and 3 add
    them in row-major order of the outputs, bit for bit as a sequential loop does."""
    x = np.zeros((2, 1, 5, 5), dtype)
    x[:, :, 2, 2] = 1
    _, idx = cu.max_pool2d_forward(x, (3, 3), (1, 1), (0, 0))
    assert (idx == 12).all()
    dy = np.array([1e8, 1, -1e8, 3, 1e-3, -7, 1e7, 0.5, -1e7], dtype).reshape(1, 1, 3, 3)
    dy = np.concatenate([dy, dy[:, :, ::-1, ::-1]])
    want = np.zeros((2, 1, 5, 5), dtype)
    for n in range(2):
        acc = dtype(0)
        for g in dy[n].ravel():
            acc = dtype(acc + g)
        want[n, 0, 2, 2] = acc
    with cases.use_step(v, cases.ARGMAX_BACKWARD):
        np.testing.assert_array_equal(cu.max_pool2d_backward(dy, idx, x.shape), want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool2d_nan_and_inf(emulated, dtype):
    cases.check_pool_nan(cu, same, same, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["naive", "shared", "async", "async64"])
@pytest.mark.parametrize("case", cases.MATMUL_ODD, ids=lambda c: "B{}M{}K{}N{}".format(*c))
def test_matmul(emulated, case, core, dtype):
    with cases.use_core(cu, core, cases.MATMUL):
        cases.check_matmul(cu, same, same, case, dtype)


@pytest.mark.parametrize("v", [1, 2, 5])
def test_matmul_launches_any_row_count(emulated, monkeypatch, v):
    """Rows past 65535 blocks (9M rows) launch within CUDA's limits (emu.check_launch), each
    kernel's rows on gridDim.x. Recorded, not run: the emulation runs a CUDA thread as an OS
    thread, and 9M rows are ~36M of them; test_matmul runs the same mapping on small grids."""
    launched = []

    def record(file, name, dtype):
        def launch(grid, block, args):
            launched.append((name, emu.check_launch(name, grid, block)[0]))
        return launch

    monkeypatch.setattr(cu, "_function", record)
    rows = 9_000_000
    tall = np.zeros((1, rows, 1), np.float32)
    one = np.zeros((1, 1, 1), np.float32)
    with cases.use_step(v, cases.MATMUL):
        assert cu.matmul(tall, one).shape == (1, rows, 1)               # c (M,N): M rows
        assert cu.matmul_backward_a(tall, one).shape == (1, rows, 1)    # da (M,K): M rows
        assert cu.matmul_backward_b(tall.reshape(1, 1, rows), one).shape == (1, rows, 1)  # db (K,N)
    tile = 16 if v == 1 else cu.tile_rows("matmul", v)     # 128, or 64 for variant 5
    assert [grid for _, grid in launched] == [(-(-rows // tile), 1, 1)] * 3
    assert -(-rows // tile) > cu.MAX_GRID_Z


CORES64 = os.path.join(HERE, "cuda_emu", "cores64.cu")


def _run_cores64(name, primitive, out, lhs, rhs, M, N, Kd):
    grid, block = cu.matmul_grid(primitive, cu.GEMM_VARIANTS[primitive]["async64"], M, N, out.shape[0])
    emu.function(CORES64, name, out.dtype)(grid, block, (out, lhs, rhs, np.int32(M), np.int32(N), np.int32(Kd)))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("core", ["shared64", "tf32_64"])
@pytest.mark.parametrize("case", cases.MATMUL_ODD, ids=lambda c: "B{}M{}K{}N{}".format(*c))
def test_64_row_instantiations_of_the_other_cores(case, core, dtype):
    """gemm_core_shared and gemm_core_tf32 at BM = 64, which no variant runs (the ladders' 64-row
    variants are on gemm_core_async): c = a @ b (A loaded K8) and db = a^T @ dc (A loaded MN4)
    from tests/cuda_emu/cores64.cu, on the 64-row grid of matmul_5."""
    B, M, K, N = case
    rng = np.random.default_rng(0)
    a, b, dc = (rng.standard_normal(s).astype(dtype) for s in ((B, M, K), (B, K, N), (B, M, N)))
    tol = _tf32_tol(dtype) if core == "tf32_64" else None
    tol = tol or cases.TOL[dtype]
    c = _run_cores64(f"matmul_{core}", "matmul", np.empty((B, M, N), dtype), a, b, M, N, K)
    db = _run_cores64(f"matmul_backward_b_{core}", "matmul_backward_b", np.empty((B, K, N), dtype), a, dc, K, N, M)
    a, b, dc = (m.astype(np.float64) for m in (a, b, dc))
    assert cases.conformance.error(c, a @ b) <= tol, "c = a @ b"
    assert cases.conformance.error(db, a.transpose(0, 2, 1) @ dc) <= tol, "db = a^T @ dc"


def _altered_sources(tmp_path, *edits):
    """A copy of csrc/cuda in tmp_path with each (old, new) of `edits` applied to common.cuh
    (`old` must occur there exactly once)."""
    import shutil
    for name in os.listdir(emu.SRC):
        shutil.copy(os.path.join(emu.SRC, name), tmp_path)
    common = tmp_path / "common.cuh"
    text = common.read_text()
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    common.write_text(text)
    return str(tmp_path)


def _use_kernels_from(monkeypatch, src):
    monkeypatch.setattr(cu, "_function", lambda file, name, dtype: emu.function(file, name, dtype, src=src))


def test_emulation_guard_cp_async_lands_only_when_waited_for(emulated, monkeypatch, tmp_path):
    """Guards the emulation itself: the cp.async core waiting for one group too few reads
    stages whose copies have not landed yet, so its product is wrong here, as on a GPU."""
    src = _altered_sources(tmp_path, ("cp_async_wait<GEMM_STAGES - 2>();", "cp_async_wait<GEMM_STAGES - 1>();"))
    _use_kernels_from(monkeypatch, src)
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1, 70, 40)).astype(np.float32), rng.standard_normal((1, 40, 50)).astype(np.float32)
    with cases.use_core(cu, "async", ["matmul"]):
        assert not np.allclose(cu.matmul(a, b), a @ b, atol=1e-3)


def test_emulation_guard_no_copies_in_flight_at_block_end(emulated, monkeypatch, tmp_path):
    """The cp.async core without its final drain, issuing copies past the last k-tile: those
    are never waited for, and the launch is refused."""
    src = _altered_sources(tmp_path, ("if (next < tiles) {", "if (true) {"),
                           ("    cp_async_wait<0>();   // no copy", "    // no copy"))
    _use_kernels_from(monkeypatch, src)
    a, b = np.ones((1, 8, 16), np.float32), np.ones((1, 16, 8), np.float32)
    with cases.use_core(cu, "async", ["matmul"]), pytest.raises(RuntimeError, match="still in flight"):
        cu.matmul(a, b)


def test_weight_gradient_really_splits(emulated):
    """The fixture's settings give the split path several splits on a small problem."""
    N, P, Q, K, CRS = 3, 8, 9, 130, 2
    splits, chunk = cu.split_reduction(2 * 1, N * P * Q, cu._sm_count())
    assert splits > 1 and chunk % cu.GEMM_BK == 0 and (splits - 1) * chunk < N * P * Q


def test_empty_batch(emulated):
    x = np.zeros((0, 3, 5, 5), np.float32)
    w = np.ones((2, 3, 3, 3), np.float32)
    assert cu.conv2d_forward(x, w, None, (1, 1), (0, 0, 0, 0), (1, 1)).shape == (0, 2, 3, 3)
    dw = cu.conv2d_backward_weight(np.zeros((0, 2, 3, 3), np.float32), x, w.shape, (1, 1), (0, 0, 0, 0), (1, 1))
    assert dw.shape == w.shape and not dw.any()


def test_validation_errors(emulated):
    x = np.zeros((1, 3, 5, 5), np.float32)
    w = np.zeros((2, 3, 3, 3), np.float32)
    conv = ((1, 1), (0, 0, 0, 0), (1, 1))
    with pytest.raises(TypeError, match="float32 or float64"):
        cu.conv2d_forward(x.astype(np.int32), w, None, *conv)
    with pytest.raises(TypeError, match="one dtype"):
        cu.conv2d_forward(x, w.astype(np.float64), None, *conv)
    with pytest.raises(ValueError, match="4 dimensions"):
        cu.conv2d_forward(x[0], w, None, *conv)
    with pytest.raises(ValueError, match="channels"):
        cu.conv2d_forward(x, w[:, :2], None, *conv)
    with pytest.raises(ValueError, match="b must have shape"):
        cu.conv2d_forward(x, w, np.zeros(3, np.float32), *conv)
    with pytest.raises(ValueError, match="larger than the padded input"):
        cu.conv2d_forward(x[:, :, :2], w, None, *conv)
    with pytest.raises(ValueError, match="dy must have shape"):
        cu.conv2d_backward_input(np.zeros((1, 2, 4, 4), np.float32), w, x.shape, *conv)
    with pytest.raises(ValueError, match="matmul needs"):
        cu.matmul(np.zeros((1, 2, 3), np.float32), np.zeros((1, 2, 3), np.float32))
    with pytest.raises(TypeError, match="int64"):
        cu.max_pool2d_backward(np.zeros((1, 3, 2, 2), np.float32), np.zeros((1, 3, 2, 2), np.int32), x.shape)
    with pytest.raises(ValueError, match="half the kernel size"):
        cu.avg_pool2d_forward(x, (2, 2), (2, 2), (2, 2))


def test_non_contiguous_inputs_are_made_contiguous(emulated):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((1, 9, 6)).astype(np.float32).transpose(0, 2, 1)   # (1, 6, 9) view
    b = rng.standard_normal((1, 9, 4)).astype(np.float32)
    np.testing.assert_allclose(cu.matmul(a, b), a @ b, rtol=1e-5, atol=1e-5)


def test_gradcheck_through_the_autograd(emulated, monkeypatch):
    """The ops layer driving the (emulated) cuda backend: float64 gradients by central differences."""
    try:
        from pyconv.gradcheck import gradcheck
    except ImportError:
        pytest.skip("pyconv.gradcheck is not available")
    import pyconv
    import pyconv.nn.functional as F
    from pyconv import backends
    monkeypatch.setattr(backends, "for_device", lambda device: cu)
    rng = np.random.default_rng(0)

    def t(shape):
        return pyconv.tensor(rng.standard_normal(shape), requires_grad=True)

    x, w, b = t((1, 2, 4, 3)), t((2, 2, 2, 2)), t((2,))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)), x, w, b)
    xp = pyconv.tensor(rng.permutation(5 * 5).reshape(1, 1, 5, 5) / 10.0, requires_grad=True)
    assert gradcheck(lambda x: F.max_pool2d(x, 2), xp)
    assert gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1), xp)
    a, m = t((2, 3, 2)), t((2, 2, 3))
    assert gradcheck(lambda a, m: a @ m, a, m)


def _gcc_runtime(name):
    """Path of one of gcc's sanitizer runtimes (libasan.so, libtsan.so), or None."""
    import subprocess
    try:
        path = subprocess.run(["gcc", f"-print-file-name={name}"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return None
    return path if os.path.isabs(path) and os.path.exists(path) else None


TSAN = ("-fsanitize=thread", "libtsan.so", {"TSAN_OPTIONS": "halt_on_error=1 exitcode=66"})


def _sanitizer_env(cflags, runtime, options):
    """Environment of a child interpreter whose emulated kernels are built with `cflags` and
    which runs with gcc's sanitizer `runtime` preloaded, on the shapes that reach a tile edge
    (PYCONV_EMU_EDGES: tests/cuda_cases.py), every variant."""
    return dict(os.environ, PYCONV_EMU_CFLAGS=cflags, LD_PRELOAD=_gcc_runtime(runtime),
                PYCONV_EMU_EDGES="1", **options)


def _rerun_this_file(cflags, runtime, options, select=""):
    """This file's kernel tests in a child interpreter (see _sanitizer_env); -s so that a
    sanitizer's report reaches the captured stderr. Not the emulation guards: their
    deliberately broken kernels race. `select` narrows the run further (a -k expression)."""
    import subprocess
    import sys
    keep = "not sanitizer and not gradcheck and not emulation_guard" + (f" and {select}" if select else "")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-x", "-p", "no:cacheprovider",
                          __file__, "-k", keep],
                         env=_sanitizer_env(cflags, runtime, options), capture_output=True, text=True,
                         timeout=1800)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.skipif(_gcc_runtime("libasan.so") is None, reason="libasan (gcc's AddressSanitizer) not found")
def test_kernels_under_address_sanitizer():
    """This file's kernel tests again, with the kernels built with -fsanitize=address: any
    out-of-bounds access in global or shared memory fails the run (about a minute)."""
    _rerun_this_file("-fsanitize=address -fno-omit-frame-pointer", "libasan.so",
                     {"ASAN_OPTIONS": "detect_leaks=0"})


def _tsan_usable():
    """libtsan exists and this interpreter starts with it preloaded (a shell-script launcher,
    as a version manager's shim, may not)."""
    import subprocess
    import sys
    runtime = _gcc_runtime("libtsan.so")
    if runtime is None:
        return False
    run = subprocess.run([sys.executable, "-c", "pass"], env=dict(os.environ, LD_PRELOAD=runtime),
                         capture_output=True)
    return run.returncode == 0


@pytest.mark.slow
def test_kernels_under_thread_sanitizer():
    """A CPU stand-in for compute-sanitizer's racecheck: the kernels built with
    -fsanitize=thread, every CUDA thread an OS thread and __syncthreads a pthread barrier, so a
    shared-memory (or global) access by two threads of a block with no barrier between them is
    a reported data race. Blocks run one after another: races between blocks are not seen.
    float32 only: both dtypes run the same code with the same barriers (float64 tiles are the
    same shape in twice the bytes), and this run is the slowest of the suite (minutes per
    dtype on 2 cores); the AddressSanitizer run above covers both dtypes."""
    if not _tsan_usable():
        pytest.skip("libtsan (gcc's ThreadSanitizer) not usable with this interpreter")
    _rerun_this_file(*TSAN, select="not float64")


_RACY_MATMUL = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import cuda_emu
import pyconv.kernels
from pyconv.backends import cuda_cupy as cu
cu.xp = np
cu._function = lambda file, name, dtype: cuda_emu.function(file, name, dtype, src=sys.argv[2])
a = np.ones((1, 64, 64), np.float32)
with pyconv.kernels.use("matmul", cu.GEMM_VARIANTS["matmul"]["shared"], backend="cuda"):
    cu.matmul(a, a)
"""


@pytest.mark.slow
def test_emulation_guard_thread_sanitizer_sees_a_missing_barrier(tmp_path):
    """Guards the racecheck stand-in: the shared-memory core without the barrier that ends its
    k-step lets threads overwrite a tile others still read, and ThreadSanitizer stops the run."""
    import subprocess
    import sys
    if not _tsan_usable():
        pytest.skip("libtsan (gcc's ThreadSanitizer) not usable with this interpreter")
    barrier = ("        __syncthreads();\n        buf ^= 1;", "        buf ^= 1;")
    src = _altered_sources(tmp_path, barrier)
    run = subprocess.run([sys.executable, "-c", _RACY_MATMUL, HERE, src], env=_sanitizer_env(*TSAN),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 66 and "data race" in run.stderr, run.stderr[-4000:]
