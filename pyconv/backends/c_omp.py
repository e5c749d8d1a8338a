"""The C backend: pyconv's own C/OpenMP kernels (csrc/*.c), called through cffi.

Every primitive follows contract.py beside this file. The wrappers here validate everything the
C code relies on (dtype, rank, shapes, contiguity, sizes; the geometry through geometry.py, as
the op layer does, since tests and benchmarks call them directly) before the call, allocate the outputs,
pass numpy buffers to C without copying (`ffi.from_buffer`) and turn C error codes into
exceptions. conv2d, pooling forward and matmul exist in C as numbered steps (the kernel ladder:
1 the plain loop nest ... the fast default); `pyconv.kernels.use(primitive, step)` chooses one,
and the step that ran is reported back to `pyconv.kernels.ran`.

Threads: `set_num_threads(n)` / `get_num_threads()`; the default is OMP_NUM_THREADS, else the
number of cores. Results are bitwise identical for any thread count. The backend survives fork:
a child gets a fresh call lock, and runs single-threaded if the parent's kernels ran in parallel.
"""
import os
import threading
import warnings

import numpy as np

from .. import kernels
from . import geometry

NAME = "c"
DEVICE = "cpu"
xp = np

# OpenMP threads that spin without limit while waiting for work keep their core busy after every
# call; on a machine shared with other processes (or other thread pools: OpenBLAS, PyTorch) a
# spinning team makes its own late thread wait a whole scheduler time slice, which turned a 3 ms
# LeNet layer into 40 ms here. Sleeping at once (OMP_WAIT_POLICY=PASSIVE) has the opposite cost:
# waking the sleeping thread of a 2-core virtual machine took 40-60 us per parallel region, which
# made a 6 MFLOP matmul 2x slower on 2 threads than on 1. So the threads spin a bounded while, then
# sleep: GOMP_SPINCOUNT=2000 is ~60-90 us of spinning on the development machine (measured as the
# extra CPU time per call), long enough to bridge the gap between the calls of one training step,
# short enough to bound what a descheduled partner can waste. The runtime reads these when the
# extension loads, so they are set first; a user's OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "2000"

try:
    from pyconv._cconv import ffi, lib
    _IMPORT_ERROR = None
    from .._allocator import tune_malloc
    tune_malloc()   # activations on reused heap pages, not fresh mmaps (see pyconv/_allocator.py)
except ImportError as exc:  # not built: the backend reports itself disabled
    ffi = lib = None
    _IMPORT_ERROR = exc

_CTYPE = {np.dtype(np.float32): ("float[]", "_f32"), np.dtype(np.float64): ("double[]", "_f64")}
_INT64_MAX = np.iinfo(np.int64).max
# The C kernels share per-thread workspaces: one call at a time (cffi releases the GIL).
_lock = threading.Lock()


def _reset_lock_in_child():
    """A fork copies the lock as it is: held, if another thread was inside a kernel then, and
    that thread does not exist in the child, which would wait for it forever. The child starts
    with a fresh lock (the C side drops to one thread by itself: see csrc/gemm.c)."""
    global _lock
    _lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_lock_in_child)


def available():
    if lib is None:
        return False, (f"the C extension pyconv._cconv is not built ({_IMPORT_ERROR}); "
                       f"build it with `pip install -e . --no-build-isolation` or "
                       f"`python pyconv/_build_c.py`")
    return True, ""


def openmp_enabled():
    """Whether the extension was built with OpenMP (else every kernel runs single-threaded)."""
    return bool(lib is not None and lib.pc_openmp_enabled())


def build_info():
    """One line describing how the extension was built (tile, vector width, OpenMP, ISA)."""
    return ffi.string(lib.pc_build_info()).decode() if lib is not None else "not built"


def workspace_bytes():
    """Bytes of the per-thread workspaces the C kernels keep between calls."""
    return int(lib.pc_workspace_bytes()) if lib is not None else 0


def release_workspaces():
    """Free the C kernels' workspaces (the next call grows what it needs again)."""
    if lib is not None:
        with _lock:
            lib.pc_workspace_release()


def peak_gflops(dtype=np.float32, threads=0, seconds=0.25):
    """This machine's fused multiply-add peak in GFLOP/s for `dtype`, measured now for about
    `seconds` on `threads` threads (0: the kernels' thread count). See csrc/peak.c."""
    _require()
    probe = lib.pc_peak_gflops_f32 if np.dtype(dtype) == np.float32 else lib.pc_peak_gflops_f64
    return float(probe(int(threads), float(seconds)))


def max_threads():
    """The most threads set_num_threads accepts: 4 per core, at least 64.

    More threads than cores only take turns on them, and every thread gets its own workspaces
    (one padded image and packed panels, megabytes on large layers), so past a few per core a
    request is a mistake; and the OpenMP runtime aborts the whole process when it cannot create
    a thread (100000 threads do that), which a bound turns into a ValueError."""
    return max(64, 4 * (os.cpu_count() or 1))


def set_num_threads(n):
    """Threads used by the C kernels, 1 <= n <= max_threads(); n <= 0 restores the default
    (OMP_NUM_THREADS or all cores). In a process forked after the kernels ran in parallel they
    stay single-threaded whatever n is (OpenMP's thread pool does not survive fork)."""
    _require()
    n = int(n)
    if n > max_threads():
        raise ValueError(f"set_num_threads({n}): at most {max_threads()} threads (4 per core): more "
                         f"only oversubscribe the cores, each costs its own workspaces, and the "
                         f"OpenMP runtime aborts the process when it cannot create them")
    if n > 1 and lib.pc_forked_single_threaded():
        warnings.warn("this process was forked after the C kernels ran in parallel: they stay "
                      "single-threaded here", RuntimeWarning, stacklevel=2)
    lib.pc_set_num_threads(n)


def get_num_threads():
    _require()
    return int(lib.pc_get_num_threads())


# -- validation -------------------------------------------------------------------------------

def _require():
    if lib is None:
        raise RuntimeError(available()[1])


def _arrays(names, *arrays):
    """Check that every array is a float32/float64 ndarray of one dtype; make them contiguous and
    aligned. A buffer at an odd address (np.frombuffer(..., offset=1)) is copied: the C code
    reads elements as float/double, which must sit at multiples of their size."""
    _require()
    out = []
    for name, a in zip(names, arrays):
        if type(a) is np.ndarray and a.dtype in _CTYPE and a.flags.c_contiguous and a.flags.aligned:
            out.append(a)   # the common case: nothing to check further or copy
            continue
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
        if a.dtype not in _CTYPE:
            raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
        out.append(np.require(a, requirements=("C_CONTIGUOUS", "ALIGNED")))
    dtypes = {a.dtype for a in out}
    if len(dtypes) > 1:
        raise TypeError(f"{', '.join(names)} must share one dtype, got {', '.join(str(a.dtype) for a in out)}")
    return out


def _rank(name, a, ndim):
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")


def _shape(name, shape):
    shape = geometry.ints(name, shape, 4)
    if min(shape) < 0:
        raise ValueError(f"{name} must be 4 ints >= 0, got {shape!r}")
    return shape


def _check_size(*shapes):
    """Reject sizes whose element count or byte size would overflow int64."""
    for shape in shapes:
        total = 1
        for d in shape:
            total *= int(d)
        if total * 8 > _INT64_MAX:
            raise MemoryError(f"an array of shape {tuple(shape)} is too large")


def _ptr(a):
    return ffi.from_buffer(_CTYPE[a.dtype][0], a)


def _functions(name):
    """{dtype: C function} of one entry point: named in full, so grep finds them in csrc/."""
    return {np.dtype(np.float32): getattr(lib, name + "_f32"), np.dtype(np.float64): getattr(lib, name + "_f64")}


# The C entry point of each primitive, and the C step table it runs (None: a single step).
_ENTRY = {
    "conv2d_forward": ("pc_conv2d_forward", "conv2d_forward"),
    "conv2d_backward_input": ("pc_conv2d_backward_input", "conv2d_backward_input"),
    "conv2d_backward_weight": ("pc_conv2d_backward_weight", "conv2d_backward_weight"),
    "conv2d_backward_bias": ("pc_conv2d_backward_bias", None),
    "max_pool2d_forward": ("pc_max_pool2d_forward", "max_pool2d_forward"),
    "max_pool2d_backward": ("pc_index_pool2d_backward", None),
    "min_pool2d_forward": ("pc_min_pool2d_forward", "min_pool2d_forward"),
    "min_pool2d_backward": ("pc_index_pool2d_backward", None),
    "avg_pool2d_forward": ("pc_avg_pool2d_forward", "avg_pool2d_forward"),
    "avg_pool2d_backward": ("pc_avg_pool2d_backward", None),
    "matmul": ("pc_matmul", "matmul"),
    "matmul_backward_a": ("pc_matmul", "matmul"),
    "matmul_backward_b": ("pc_matmul", "matmul"),
}
# the primitives that are one loop over their output (bandwidth-bound: no ladder to climb)
_SINGLE = {
    "conv2d_backward_bias": "sum of dy over N, P, Q; OpenMP over the filters",
    "max_pool2d_backward": "dy added at the saved argmax; OpenMP over the planes",
    "min_pool2d_backward": "dy added at the saved argmin; OpenMP over the planes",
    "avg_pool2d_backward": "each window's share of dy spread back; OpenMP over the planes",
}
_FUNCTIONS = {}


def _fn(name, dtype):
    """The C function of primitive `name` for `dtype`."""
    if name not in _FUNCTIONS:
        _FUNCTIONS[name] = _functions(_ENTRY[name][0])
    return _FUNCTIONS[name][np.dtype(dtype)]


def kernel_steps():
    """{primitive: ((name, doc), ...)}: the C step tables (csrc/steps.c), step 1 first."""
    _require()
    out = {}
    for primitive, (_, table) in _ENTRY.items():
        if table is None:
            out[primitive] = (("direct", _SINGLE[primitive]),)
            continue
        key = table.encode()
        out[primitive] = tuple((ffi.string(lib.pc_kernel_step_name(key, i)).decode(),
                                ffi.string(lib.pc_kernel_step_doc(key, i)).decode())
                               for i in range(1, lib.pc_kernel_steps(key) + 1))
    return out


def default_step(primitive):
    """The default step: the last of each table (the fast path)."""
    return len(kernel_steps()[primitive])


def _stepped(primitive, out, fn, *args):
    """Call a laddered C entry point that fills `out` with the chosen step; report the step that
    ran. An empty output needs no call: nothing runs, and kernels.ran() says None."""
    if not out.size:
        kernels.record(NAME, primitive, None)
        return
    ran = ffi.new("int *")
    _call(fn, *args, kernels.chosen(NAME, primitive) or 0, ran)
    kernels.record(NAME, primitive, ran[0])


def _call(fn, *args):
    with _lock:
        err = fn(*args)
    if err == lib.PC_ENOMEM:
        raise MemoryError("the C backend could not allocate its workspace")
    if err == lib.PC_ENOTIMPL:
        raise NotImplementedError("this C kernel step is a lab stub, not written yet (see labs/ and "
                                  "`python -m pyconv lab list`)")
    if err != lib.PC_OK:
        raise ValueError("the C backend rejected its arguments (a size it cannot index, or a pooling "
                         "index outside its plane)")


# -- conv2d -----------------------------------------------------------------------------------

@geometry.checked_once
def _conv_shape(x_shape, w_shape, stride, padding, dilation):
    """The checked pc_conv_shape of these arguments (kept per argument tuple: C only reads it)."""
    x_shape, w_shape = _shape("x shape", x_shape), _shape("w shape", w_shape)
    stride, dilation = geometry.ints("stride", stride, 2), geometry.ints("dilation", dilation, 2)
    padding = geometry.ints("padding", padding, 4)
    P, Q = geometry.check_conv(x_shape, w_shape, stride, padding, dilation)
    (N, C, H, W), (K, _, R, S) = x_shape, w_shape
    _check_size((N, C, H, W), (K, C, R, S), (N, K, P, Q), (C * R * S, P * Q))
    (sh, sw), (pt, _, pl, _), (dh, dw) = stride, padding, dilation
    return ffi.new("pc_conv_shape *", dict(N=N, C=C, H=H, W=W, K=K, R=R, S=S, P=P, Q=Q, sh=sh, sw=sw,
                                           pt=pt, pl=pl, dh=dh, dw=dw))


def conv2d_forward(x, w, b, stride, padding, dilation):
    if b is None:
        x, w = _arrays(("x", "w"), x, w)
    else:
        x, w, b = _arrays(("x", "w", "b"), x, w, b)
        if b.shape != (w.shape[0],):
            raise ValueError(f"b must have shape ({w.shape[0]},), got {b.shape}")
    _rank("x", x, 4)
    _rank("w", w, 4)
    s = _conv_shape(x.shape, w.shape, stride, padding, dilation)
    y = np.empty((s.N, s.K, s.P, s.Q), dtype=x.dtype)
    _stepped("conv2d_forward", y, _fn("conv2d_forward", x.dtype), s, _ptr(x), _ptr(w),
             ffi.NULL if b is None else _ptr(b), _ptr(y))
    return y


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation):
    dy, w = _arrays(("dy", "w"), dy, w)
    _rank("dy", dy, 4)
    _rank("w", w, 4)
    s = _conv_shape(x_shape, w.shape, stride, padding, dilation)
    if dy.shape != (s.N, s.K, s.P, s.Q):
        raise ValueError(f"dy must have shape {(s.N, s.K, s.P, s.Q)}, got {dy.shape}")
    dx = np.empty((s.N, s.C, s.H, s.W), dtype=dy.dtype)
    _stepped("conv2d_backward_input", dx, _fn("conv2d_backward_input", dy.dtype), s, _ptr(dy),
             _ptr(w), _ptr(dx))
    return dx


def conv2d_backward_weight(dy, x, w_shape, stride, padding, dilation):
    dy, x = _arrays(("dy", "x"), dy, x)
    _rank("dy", dy, 4)
    _rank("x", x, 4)
    s = _conv_shape(x.shape, w_shape, stride, padding, dilation)
    if dy.shape != (s.N, s.K, s.P, s.Q):
        raise ValueError(f"dy must have shape {(s.N, s.K, s.P, s.Q)}, got {dy.shape}")
    dw = np.empty((s.K, s.C, s.R, s.S), dtype=dy.dtype)
    _stepped("conv2d_backward_weight", dw, _fn("conv2d_backward_weight", dy.dtype), s, _ptr(dy),
             _ptr(x), _ptr(dw))
    return dw


def conv2d_backward_bias(dy):
    (dy,) = _arrays(("dy",), dy)
    _rank("dy", dy, 4)
    N, K, P, Q = dy.shape
    s = ffi.new("pc_conv_shape *", dict(N=N, K=K, P=P, Q=Q))
    db = np.empty((K,), dtype=dy.dtype)
    if db.size:
        _call(_fn("conv2d_backward_bias", dy.dtype), s, _ptr(dy), _ptr(db))
    return db


# -- pooling ----------------------------------------------------------------------------------

@geometry.checked_once
def _pool_shape(op, x_shape, kernel, stride, padding):
    x_shape = _shape("x shape", x_shape)
    kernel, stride = geometry.ints("kernel", kernel, 2), geometry.ints("stride", stride, 2)
    padding = geometry.ints("padding", padding, 2)
    P, Q = geometry.check_pool(x_shape, kernel, stride, padding, op)
    N, C, H, W = x_shape
    _check_size((N, C, H, W), (N, C, P, Q))
    (R, S), (sh, sw), (ph, pw) = kernel, stride, padding
    return ffi.new("pc_pool_shape *", dict(N=N, C=C, H=H, W=W, R=R, S=S, P=P, Q=Q, sh=sh, sw=sw,
                                           ph=ph, pw=pw))


def _arg_pool_forward(name, x, kernel, stride, padding):
    (x,) = _arrays(("x",), x)
    _rank("x", x, 4)
    s = _pool_shape(name.removesuffix("_forward"), x.shape, kernel, stride, padding)
    y = np.empty((s.N, s.C, s.P, s.Q), dtype=x.dtype)
    idx = np.empty((s.N, s.C, s.P, s.Q), dtype=np.int64)
    _stepped(name, y, _fn(name, x.dtype), s, _ptr(x), _ptr(y), ffi.from_buffer("int64_t[]", idx))
    return y, idx


@geometry.checked_once
def _index_pool_shape(x_shape, dy_shape):
    """The checked pc_pool_shape of an argmax/argmin backward (kept per shape pair)."""
    N, C, H, W = _shape("x_shape", x_shape)
    if dy_shape[:2] != (N, C):
        raise ValueError(f"dy {dy_shape} does not match x_shape {tuple(x_shape)}")
    _check_size((N, C, H, W))
    return ffi.new("pc_pool_shape *", dict(N=N, C=C, H=H, W=W, P=dy_shape[2], Q=dy_shape[3]))


def _index_pool_backward(dy, idx, x_shape):
    (dy,) = _arrays(("dy",), dy)
    _rank("dy", dy, 4)
    if not isinstance(idx, np.ndarray) or idx.dtype != np.int64:
        raise TypeError("idx must be an int64 numpy array")
    idx = np.ascontiguousarray(idx)
    if idx.shape != dy.shape:
        raise ValueError(f"dy {dy.shape} and idx {idx.shape} do not match")
    s = _index_pool_shape(x_shape, dy.shape)
    dx = np.empty((s.N, s.C, s.H, s.W), dtype=dy.dtype)
    if dx.size:
        _call(_fn("max_pool2d_backward", dy.dtype), s, _ptr(dy), ffi.from_buffer("int64_t[]", idx),
              _ptr(dx))
    return dx


def max_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool_forward("max_pool2d_forward", x, kernel, stride, padding)


def max_pool2d_backward(dy, idx, x_shape):
    return _index_pool_backward(dy, idx, x_shape)


def min_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool_forward("min_pool2d_forward", x, kernel, stride, padding)


def min_pool2d_backward(dy, idx, x_shape):
    return _index_pool_backward(dy, idx, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding):
    (x,) = _arrays(("x",), x)
    _rank("x", x, 4)
    s = _pool_shape("avg_pool2d", x.shape, kernel, stride, padding)
    y = np.empty((s.N, s.C, s.P, s.Q), dtype=x.dtype)
    _stepped("avg_pool2d_forward", y, _fn("avg_pool2d_forward", x.dtype), s, _ptr(x), _ptr(y))
    return y


def avg_pool2d_backward(dy, x_shape, kernel, stride, padding):
    (dy,) = _arrays(("dy",), dy)
    _rank("dy", dy, 4)
    s = _pool_shape("avg_pool2d", x_shape, kernel, stride, padding)
    if dy.shape != (s.N, s.C, s.P, s.Q):
        raise ValueError(f"dy must have shape {(s.N, s.C, s.P, s.Q)}, got {dy.shape}")
    dx = np.empty((s.N, s.C, s.H, s.W), dtype=dy.dtype)
    if dx.size:
        _call(_fn("avg_pool2d_backward", dy.dtype), s, _ptr(dy), _ptr(dx))
    return dx


# -- matmul -----------------------------------------------------------------------------------

def _gemm(primitive, a, b, M, N, K, a_strides, b_strides):
    """c[i] = A[i] . B[i] with A (M,K) and B (K,N) read through (row, column) element strides."""
    B = a.shape[0]
    _check_size((B, M, K), (B, K, N), (B, M, N))
    c = np.empty((B, M, N), dtype=a.dtype)
    _stepped(primitive, c, _fn(primitive, a.dtype), B, M, N, K, _ptr(a), *a_strides, _ptr(b),
             *b_strides, _ptr(c))
    return c


def matmul(a, b):
    """(B,M,K) @ (B,K,N) -> (B,M,N)."""
    a, b = _arrays(("a", "b"), a, b)
    _rank("a", a, 3)
    _rank("b", b, 3)
    B, M, K = a.shape
    if b.shape[:2] != (B, K):
        raise ValueError(f"cannot multiply {a.shape} by {b.shape}")
    N = b.shape[2]
    return _gemm("matmul", a, b, M, N, K, (K, 1), (N, 1))


def matmul_backward_a(dc, b):
    """da = dc @ b^T: (B,M,N) x (B,K,N) -> (B,M,K)."""
    dc, b = _arrays(("dc", "b"), dc, b)
    _rank("dc", dc, 3)
    _rank("b", b, 3)
    B, M, N = dc.shape
    if b.shape[0] != B or b.shape[2] != N:
        raise ValueError(f"dc {dc.shape} does not match b {b.shape}")
    K = b.shape[1]
    return _gemm("matmul_backward_a", dc, b, M, K, N, (N, 1), (1, N))


def matmul_backward_b(a, dc):
    """db = a^T @ dc: (B,M,K) x (B,M,N) -> (B,K,N)."""
    a, dc = _arrays(("a", "dc"), a, dc)
    _rank("a", a, 3)
    _rank("dc", dc, 3)
    B, M, K = a.shape
    if dc.shape[:2] != (B, M):
        raise ValueError(f"a {a.shape} does not match dc {dc.shape}")
    N = dc.shape[2]
    return _gemm("matmul_backward_b", a, dc, K, N, M, (1, K), (N, 1))


# -- fast paths outside the contract: ReLU and the optimizer updates ------------------------------
# Not backend primitives (DESIGN: elementwise ops use the array module), but the training loop's
# most frequent memory-bound passes: pyconv/ops/activation.py and pyconv/optim take them when the
# active CPU backend is this one (see `fast_path`), and the numpy code stays the reference they
# are tested against (tests/test_c_fast_paths.py).

def fast_path(*arrays):
    """Whether these arrays can go to the C fast paths: the c backend is active for CPU tensors,
    and they are float32 or float64 numpy arrays of one dtype and shape, C-contiguous and
    aligned."""
    if lib is None:
        return False
    first = arrays[0]
    if type(first) is not np.ndarray or first.dtype not in _CTYPE:
        return False
    for a in arrays:
        if (type(a) is not np.ndarray or a.dtype != first.dtype or a.shape != first.shape
                or not (a.flags.c_contiguous and a.flags.aligned)):
            return False
    return _active_backend() == NAME


def _active_backend():
    global _active_backend
    from . import get_backend    # the registry imports this module: bind it at the first call
    _active_backend = get_backend
    return get_backend()


def _checked(names, *arrays):
    out = _arrays(names, *arrays)
    if len({a.shape for a in out}) > 1:
        raise ValueError(f"{', '.join(names)} must have one shape, got {', '.join(str(a.shape) for a in out)}")
    return out


def relu_forward(x):
    """max(x, 0) (NaN kept), one pass, OpenMP on large arrays."""
    (x,) = _checked(("x",), x)
    y = np.empty_like(x)
    _call(getattr(lib, "pc_relu_forward" + _CTYPE[x.dtype][1]), x.size, _ptr(x), _ptr(y))
    return y


def relu_backward(dy, y):
    """dy where y > 0, else 0 (y: the forward's output)."""
    dy, y = _checked(("dy", "y"), dy, y)
    dx = np.empty_like(dy)
    _call(getattr(lib, "pc_relu_backward" + _CTYPE[dy.dtype][1]), dy.size, _ptr(dy), _ptr(y), _ptr(dx))
    return dx


def _fused_checks(p, g, state):
    """The checks of adam_step and sgd_step. p and its state (None entries skipped) are written in
    place, so they must be usable as they are (a copy would lose the update): anything
    fast_path() refuses, or a read-only array, is an error; g must match p."""
    given = [p] + [a for a in state.values() if a is not None]
    if not (fast_path(*given) and all(a.flags.writeable for a in given)):
        raise ValueError(f"{', '.join(('p',) + tuple(state))} must be writeable C-contiguous float32/float64 "
                         f"arrays of one shape and dtype, with the c backend active")
    (g,) = _checked(("g",), g)
    if g.shape != p.shape or g.dtype != p.dtype:
        raise ValueError(f"g {g.dtype} {g.shape} does not match p {p.dtype} {p.shape}")


def adam_step(p, g, m, v, vmax, *, lr, beta1, beta2, eps, weight_decay, step, decoupled=False,
              maximize=False):
    """One Adam (decoupled: AdamW) update of p, m, v (and vmax with amsgrad) in place, by the
    rule of pyconv/optim/adam.py."""
    _fused_checks(p, g, {"m": m, "v": v, "vmax": vmax})
    fused_adam_(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize)


def fused_adam_(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, decoupled, maximize):
    """adam_step without its checks, for a caller that made them (pyconv.optim, through
    fast_path): one call per parameter per step, where ~20 us of checks cost more than the
    update of a small parameter."""
    h = ffi.new("pc_adam_hyper *", [lr, beta1, beta2, eps, weight_decay, int(step), bool(decoupled), bool(maximize)])
    fn = lib.pc_adam_step_f32 if p.dtype == np.float32 else lib.pc_adam_step_f64
    _call(fn, p.size, _ptr(p), _ptr(g), _ptr(m), _ptr(v), ffi.NULL if vmax is None else _ptr(vmax), h)


def sgd_step(p, g, buf, *, lr, momentum, dampening, weight_decay, nesterov, first, maximize=False):
    """One SGD update of p (and the momentum buffer buf, None without momentum) in place, by the
    rule of pyconv/optim/sgd.py; `first`: buf is set to the gradient (the first step)."""
    _fused_checks(p, g, {"buf": buf})
    fused_sgd_(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first, maximize)


def fused_sgd_(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first, maximize):
    """sgd_step without its checks (see fused_adam_)."""
    h = ffi.new("pc_sgd_hyper *", [lr, momentum, dampening, weight_decay, bool(nesterov), bool(maximize), bool(first)])
    fn = lib.pc_sgd_step_f32 if p.dtype == np.float32 else lib.pc_sgd_step_f64
    _call(fn, p.size, _ptr(p), _ptr(g), ffi.NULL if buf is None else _ptr(buf), h)


def _per_channel(names, C, dtype, *arrays):
    out = _arrays(names, *arrays)
    for name, a in zip(names, out):
        if a.shape != (C,) or a.dtype != dtype:
            raise ValueError(f"{name} must be a ({C},) {dtype} array, got {a.dtype} {a.shape}")
    return out


def _nlc(a):
    """(N, C, L): a (N, C, ...) array as the batch-norm kernels see it."""
    if a.ndim < 2:
        raise ValueError(f"batch norm needs an (N, C, ...) array, got shape {a.shape}")
    _check_size(a.shape)
    return a.shape[0], a.shape[1], int(np.prod(a.shape[2:], dtype=np.int64))


def batch_norm_forward(x, weight, bias, training, eps, mean=None, invstd=None):
    """Batch normalisation of x (N, C, ...) over every axis but 1 (csrc/batchnorm.c). training:
    returns (y, mean, var, invstd), the batch's statistics (var biased); else mean and invstd
    (C,) are given (from the running statistics) and returned as they are, var None."""
    (x,) = _arrays(("x",), x)
    N, C, L = _nlc(x)
    weight, bias = (None if a is None else _per_channel((name,), C, x.dtype, a)[0]
                    for name, a in (("weight", weight), ("bias", bias)))
    if training:
        mean, var, invstd = (np.empty(C, x.dtype) for _ in range(3))
    else:
        mean, invstd = _per_channel(("mean", "invstd"), C, x.dtype, mean, invstd)
        var = None
    y = np.empty_like(x)
    _call(getattr(lib, "pc_batch_norm_forward" + _CTYPE[x.dtype][1]), N, C, L, _ptr(x),
          *(ffi.NULL if a is None else _ptr(a) for a in (weight, bias)), int(bool(training)), float(eps),
          _ptr(mean), ffi.NULL if var is None else _ptr(var), _ptr(invstd), _ptr(y))
    return y, mean, var, invstd


def batch_norm_backward(dy, x, mean, invstd, weight, training, need=(True, True, True)):
    """(dx, dweight, dbias) of batch_norm_forward from dy, its input x and the mean and invstd it
    used; each None where `need` says so (dweight without a weight is None too)."""
    dy, x = _checked(("dy", "x"), dy, x)
    N, C, L = _nlc(dy)
    mean, invstd = _per_channel(("mean", "invstd"), C, dy.dtype, mean, invstd)
    if weight is not None:
        (weight,) = _per_channel(("weight",), C, dy.dtype, weight)
    dx = np.empty_like(dy) if need[0] else None
    dw = np.empty(C, dy.dtype) if need[1] and weight is not None else None
    db = np.empty(C, dy.dtype) if need[2] else None
    _call(getattr(lib, "pc_batch_norm_backward" + _CTYPE[dy.dtype][1]), N, C, L, _ptr(dy), _ptr(x),
          _ptr(mean), _ptr(invstd), ffi.NULL if weight is None else _ptr(weight), int(bool(training)),
          *(ffi.NULL if a is None else _ptr(a) for a in (dx, dw, db)))
    return dx, dw, db
