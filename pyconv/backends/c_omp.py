"""The C backend: pyconv's own C/OpenMP kernels (csrc/*.c), called through cffi.

Every primitive follows contract.py beside this file. The wrappers here validate everything the
C code relies on (dtype, rank, shapes, contiguity, sizes; the geometry through geometry.py, as
the op layer does, since tests and benchmarks call them directly) before the call, allocate the outputs,
pass numpy buffers to C without copying (`ffi.from_buffer`) and turn C error codes into
exceptions. Each primitive with a plain loop-nest twin in C takes `naive=True` to run that one
instead (tests compare the two).

Threads: `set_num_threads(n)` / `get_num_threads()`; the default is OMP_NUM_THREADS, else the
number of cores. Results are bitwise identical for any thread count. The backend survives fork:
a child gets a fresh call lock, and runs single-threaded if the parent's kernels ran in parallel.
"""
import os
import threading
import warnings

import numpy as np

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


def _fn(name, dtype, naive=False):
    return getattr(lib, f"pc_{name}{'_naive' if naive else ''}{_CTYPE[np.dtype(dtype)][1]}")


def _call(fn, *args):
    with _lock:
        err = fn(*args)
    if err == lib.PC_ENOMEM:
        raise MemoryError("the C backend could not allocate its workspace")
    if err != lib.PC_OK:
        raise ValueError("the C backend rejected its arguments (a size it cannot index, or a pooling "
                         "index outside its plane)")


# -- conv2d -----------------------------------------------------------------------------------

def _conv_shape(x_shape, w_shape, stride, padding, dilation):
    x_shape, w_shape = _shape("x shape", x_shape), _shape("w shape", w_shape)
    stride, dilation = geometry.ints("stride", stride, 2), geometry.ints("dilation", dilation, 2)
    padding = geometry.ints("padding", padding, 4)
    P, Q = geometry.check_conv(x_shape, w_shape, stride, padding, dilation)
    (N, C, H, W), (K, _, R, S) = x_shape, w_shape
    _check_size((N, C, H, W), (K, C, R, S), (N, K, P, Q), (C * R * S, P * Q))
    (sh, sw), (pt, _, pl, _), (dh, dw) = stride, padding, dilation
    return ffi.new("pc_conv_shape *", dict(N=N, C=C, H=H, W=W, K=K, R=R, S=S, P=P, Q=Q, sh=sh, sw=sw,
                                           pt=pt, pl=pl, dh=dh, dw=dw))


def conv2d_forward(x, w, b, stride, padding, dilation, *, naive=False):
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
    if y.size:
        _call(_fn("conv2d_forward", x.dtype, naive), s, _ptr(x), _ptr(w),
              ffi.NULL if b is None else _ptr(b), _ptr(y))
    return y


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, *, naive=False):
    dy, w = _arrays(("dy", "w"), dy, w)
    _rank("dy", dy, 4)
    _rank("w", w, 4)
    s = _conv_shape(x_shape, w.shape, stride, padding, dilation)
    if dy.shape != (s.N, s.K, s.P, s.Q):
        raise ValueError(f"dy must have shape {(s.N, s.K, s.P, s.Q)}, got {dy.shape}")
    dx = np.empty((s.N, s.C, s.H, s.W), dtype=dy.dtype)
    if dx.size:
        _call(_fn("conv2d_backward_input", dy.dtype, naive), s, _ptr(dy), _ptr(w), _ptr(dx))
    return dx


def conv2d_backward_weight(dy, x, w_shape, stride, padding, dilation, *, naive=False):
    dy, x = _arrays(("dy", "x"), dy, x)
    _rank("dy", dy, 4)
    _rank("x", x, 4)
    s = _conv_shape(x.shape, w_shape, stride, padding, dilation)
    if dy.shape != (s.N, s.K, s.P, s.Q):
        raise ValueError(f"dy must have shape {(s.N, s.K, s.P, s.Q)}, got {dy.shape}")
    dw = np.empty((s.K, s.C, s.R, s.S), dtype=dy.dtype)
    if dw.size:
        _call(_fn("conv2d_backward_weight", dy.dtype, naive), s, _ptr(dy), _ptr(x), _ptr(dw))
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


def _arg_pool_forward(name, x, kernel, stride, padding, naive):
    (x,) = _arrays(("x",), x)
    _rank("x", x, 4)
    s = _pool_shape(name.removesuffix("_forward"), x.shape, kernel, stride, padding)
    y = np.empty((s.N, s.C, s.P, s.Q), dtype=x.dtype)
    idx = np.empty((s.N, s.C, s.P, s.Q), dtype=np.int64)
    if y.size:
        _call(_fn(name, x.dtype, naive), s, _ptr(x), _ptr(y), ffi.from_buffer("int64_t[]", idx))
    return y, idx


def _index_pool_backward(dy, idx, x_shape):
    (dy,) = _arrays(("dy",), dy)
    _rank("dy", dy, 4)
    if not isinstance(idx, np.ndarray) or idx.dtype != np.int64:
        raise TypeError("idx must be an int64 numpy array")
    idx = np.ascontiguousarray(idx)
    N, C, H, W = _shape("x_shape", x_shape)
    if dy.shape[:2] != (N, C) or idx.shape != dy.shape:
        raise ValueError(f"dy {dy.shape} and idx {idx.shape} do not match x_shape {tuple(x_shape)}")
    _check_size((N, C, H, W))
    s = ffi.new("pc_pool_shape *", dict(N=N, C=C, H=H, W=W, P=dy.shape[2], Q=dy.shape[3]))
    dx = np.empty((N, C, H, W), dtype=dy.dtype)
    if dx.size:
        _call(_fn("index_pool2d_backward", dy.dtype), s, _ptr(dy), ffi.from_buffer("int64_t[]", idx),
              _ptr(dx))
    return dx


def max_pool2d_forward(x, kernel, stride, padding, *, naive=False):
    return _arg_pool_forward("max_pool2d_forward", x, kernel, stride, padding, naive)


def max_pool2d_backward(dy, idx, x_shape):
    return _index_pool_backward(dy, idx, x_shape)


def min_pool2d_forward(x, kernel, stride, padding, *, naive=False):
    return _arg_pool_forward("min_pool2d_forward", x, kernel, stride, padding, naive)


def min_pool2d_backward(dy, idx, x_shape):
    return _index_pool_backward(dy, idx, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding, *, naive=False):
    (x,) = _arrays(("x",), x)
    _rank("x", x, 4)
    s = _pool_shape("avg_pool2d", x.shape, kernel, stride, padding)
    y = np.empty((s.N, s.C, s.P, s.Q), dtype=x.dtype)
    if y.size:
        _call(_fn("avg_pool2d_forward", x.dtype, naive), s, _ptr(x), _ptr(y))
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

def _gemm(a, b, M, N, K, a_strides, b_strides, naive):
    """c[i] = A[i] . B[i] with A (M,K) and B (K,N) read through (row, column) element strides."""
    B = a.shape[0]
    _check_size((B, M, K), (B, K, N), (B, M, N))
    c = np.empty((B, M, N), dtype=a.dtype)
    if c.size:
        _call(_fn("matmul", a.dtype, naive), B, M, N, K, _ptr(a), *a_strides, _ptr(b), *b_strides,
              _ptr(c))
    return c


def matmul(a, b, *, naive=False):
    """(B,M,K) @ (B,K,N) -> (B,M,N)."""
    a, b = _arrays(("a", "b"), a, b)
    _rank("a", a, 3)
    _rank("b", b, 3)
    B, M, K = a.shape
    if b.shape[:2] != (B, K):
        raise ValueError(f"cannot multiply {a.shape} by {b.shape}")
    N = b.shape[2]
    return _gemm(a, b, M, N, K, (K, 1), (N, 1), naive)


def matmul_backward_a(dc, b, *, naive=False):
    """da = dc @ b^T: (B,M,N) x (B,K,N) -> (B,M,K)."""
    dc, b = _arrays(("dc", "b"), dc, b)
    _rank("dc", dc, 3)
    _rank("b", b, 3)
    B, M, N = dc.shape
    if b.shape[0] != B or b.shape[2] != N:
        raise ValueError(f"dc {dc.shape} does not match b {b.shape}")
    K = b.shape[1]
    return _gemm(dc, b, M, K, N, (N, 1), (1, N), naive)


def matmul_backward_b(a, dc, *, naive=False):
    """db = a^T @ dc: (B,M,K) x (B,M,N) -> (B,K,N)."""
    a, dc = _arrays(("a", "dc"), a, dc)
    _rank("a", a, 3)
    _rank("dc", dc, 3)
    B, M, K = a.shape
    if dc.shape[:2] != (B, M):
        raise ValueError(f"a {a.shape} does not match dc {dc.shape}")
    N = dc.shape[2]
    return _gemm(a, dc, K, N, M, (1, K), (N, 1), naive)
