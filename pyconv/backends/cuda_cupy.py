"""The CUDA backend: pyconv's own kernels (csrc/cuda/*.cu), compiled by CuPy and launched on CuPy arrays.

Each primitive validates its arguments (device, dtype, rank, shapes), makes them C-contiguous, allocates
its outputs with CuPy, computes the launch configuration and launches one kernel (two for the
split reduction of conv2d's weight gradient). The kernels themselves, with their FLOPs, bytes and
launch configurations, are described at the top of each .cu file.

Sources are compiled at first use, once per process per (file, dtype), with NVRTC through
`cupy.RawModule`; float32 builds them as they are, float64 with `-DPYCONV_DOUBLE`. The shared
header `common.cuh` is pasted into each source before compiling, so CuPy's on-disk cache (keyed
by the source text) never serves a build of an older header. That cache is what makes the
first use cheap the second time: NVRTC takes seconds per (file, dtype) (`nvcc -cubin` of
conv2d.cu takes 4-8 s on one core), CuPy stores the cubin under ~/.cupy/kernel_cache (or
$CUPY_CACHE_DIR), keyed by source, options, NVRTC version and GPU architecture, and a later
process loads it in milliseconds. Point CUPY_CACHE_DIR at a persistent folder in containers.
Within a process each kernel's `RawKernel` is looked up once per (file, name, dtype) and kept
(`_kernels`): `RawModule.get_function` builds a new RawKernel on every call, which re-keys the
module cache by the whole source text.

Supported GPUs: compute capability 7.5 (Turing) and newer; `available()` refuses older ones.
7.5 is the oldest architecture CUDA 13 compiles for and the oldest the tests compile the
kernels for (tests/test_cuda_compile.py, sm_75/sm_80/sm_90). The cp.async variants become plain
copies below 8.0, and the TF32 variants need 8.0 (`tf32_available()`).

Every kernel exists as a ladder of numbered variants (`conv2d_forward_1` naive,
`conv2d_forward_2` tiled implicit GEMM, ...), which are the steps of `pyconv.kernels` for the
backend "cuda": STEPS lists them, DEFAULTS is the one place where the default of each primitive
is chosen, and `variant()` is the one place that picks the variant a call runs
(`with pyconv.kernels.use("conv2d_forward", 1, backend="cuda"): ...` overrides it).

CuPy is optional: without it (or without a GPU) this module still imports and `available()`
says why the backend is disabled.
"""
import math
import os
import re
import threading

import numpy as np

from . import geometry
from .contract import PRIMITIVES

try:
    import cupy as xp
except Exception:  # not installed, or installed without a usable CUDA runtime
    xp = None

NAME = "cuda"
DEVICE = "cuda"

# -- the kernel ladder ------------------------------------------------------------------------
# Each kernel family of the .cu files, `<family>_<n>`, by variant n = 1, 2, ...: (short name,
# what it is). Each variant adds one idea to the one before; the .cu headers give the details.
# The rungs on common.cuh's GEMM cores (gemm_core_shared, gemm_core_async, gemm_core_tf32):
_GEMM_ASYNC = ("gemm_async", "+ cp.async pipeline, GEMM_STAGES k-tiles in flight")
_GEMM_TF32 = ("gemm_tf32", "+ TF32 tensor cores (mma.sync): ~1e-3 relative error, opt-in")
_GEMM_ASYNC64 = ("gemm_async64", "+ 64x128 tiles (gemm_async's core, 4x8 outputs per thread): "
                 "for few rows, the default where short_tile_pays")
_MATMUL = (("naive", "one thread per output element, k loop in registers"),
           ("gemm_shared", "+ 128x128x8 shared-memory tiles, 8x8 outputs per thread"),
           _GEMM_ASYNC, _GEMM_TF32, _GEMM_ASYNC64)
STEPS = {
    "conv2d_forward": (
        ("naive", "one thread per output y[n,k,p,q], loops over c,r,s"),
        ("gemm_shared", "+ implicit GEMM w . im2col(x) on 128x128x8 shared-memory tiles"),
        _GEMM_ASYNC, _GEMM_TF32, _GEMM_ASYNC64),
    "conv2d_backward_input": (
        ("naive", "gather: one thread per dx[n,c,h,w], no atomics"),
        ("gemm_shared", "+ implicit GEMM w^T . col2im(dy) per stride phase, shared-memory tiles"),
        _GEMM_ASYNC, _GEMM_TF32, _GEMM_ASYNC64),
    "conv2d_backward_weight": (
        ("naive", "one thread per dw[k,c,r,s] sums over n,p,q"),
        ("block_reduce", "+ one block per (dw element, split of n,p,q), fixed-order tree reduction"),
        ("gemm_shared", "+ implicit GEMM dy . im2col(x)^T, shared-memory tiles, split reduction"),
        _GEMM_ASYNC, _GEMM_TF32, _GEMM_ASYNC64),
    "conv2d_backward_bias": (("block_reduce", "one block per (channel, split of n,p,q), fixed-order tree reduction"),),
    "max_pool2d_forward": (("naive", "one thread per output: value and argmax"),),
    "min_pool2d_forward": (("naive", "one thread per output: value and argmin"),),
    "pool2d_backward_argmax": (
        ("atomic", "scatter with atomicAdd; not bitwise deterministic with overlapping windows"),
        ("per_plane", "+ deterministic: one thread per plane, outputs in row-major order"),
        ("first_owner", "+ parallel: count per pixel, then its first output sums them in order")),
    "avg_pool2d_forward": (("naive", "one thread per output"),),
    "avg_pool2d_backward": (("gather", "one thread per input pixel sums its windows, no atomics"),),
    "matmul": _MATMUL,
    "matmul_backward_a": _MATMUL,
    "matmul_backward_b": _MATMUL,
}
# The primitives whose kernels are another family's (both argmax backwards scatter by idx).
FAMILY = {"max_pool2d_backward": "pool2d_backward_argmax", "min_pool2d_backward": "pool2d_backward_argmax"}

# The variant each primitive runs on a large problem when nothing is chosen (see variant()).
DEFAULTS = {
    "conv2d_forward": 2,            # gemm_shared
    "conv2d_backward_input": 2,     # gemm_shared
    "conv2d_backward_weight": 3,    # gemm_shared (2, a block per element, is for small filter banks)
    "conv2d_backward_bias": 1,
    "max_pool2d_forward": 1,
    "max_pool2d_backward": 3,       # first_owner: deterministic and parallel
    "min_pool2d_forward": 1,
    "min_pool2d_backward": 3,
    "avg_pool2d_forward": 1,
    "avg_pool2d_backward": 1,
    "matmul": 2,                    # gemm_shared
    "matmul_backward_a": 2,
    "matmul_backward_b": 2,
}

# Bitwise determinism (same inputs, same bits on every run): every kernel but
# pool2d_backward_argmax_1, whose atomicAdd order varies when a pixel is the argmax of three or
# more overlapping windows (3x3/2 pooling); 2 and 3 are deterministic, 3 the fast one. The
# split weight gradient and the bias reduction add in a fixed order (sum_splits, a fixed tree).

# Problems that would leave most of a 128x128 GEMM tile empty (the LeNet layers) go to a simpler
# kernel instead of the default (see variant()).
SMALL_ROWS = 32          # GEMM rows (K for forward, C for the input gradient) below this ...
SMALL_REDUCTION = 1024   # ... and a reduction (C*R*S forward, K*R*S input gradient) at most this: small
SMALL_PROBLEM = {
    "conv2d_forward": 1,            # K < SMALL_ROWS, C*R*S <= SMALL_REDUCTION: naive, a thread per output
    "conv2d_backward_input": 1,     # C < SMALL_ROWS, K*R*S <= SMALL_REDUCTION: naive gather
    "conv2d_backward_weight": 2,    # _small_weight: fewer cycles than the tiled GEMM by the napkin model
}

# The block reductions (weight gradient 2, bias 1) split their reduction over gridDim.y so that
# a few outputs over a big batch still fill the GPU; sum_splits adds the splits in order.
REDUCE_BLOCKS_PER_SM = 8   # 256-thread blocks an SM holds at once (2048 threads): the target
REDUCE_MIN_CHUNK = 2048    # the shortest split: 8 elements per thread
# The napkin model of _small_weight (benchmarks/NOTES.md; constants to calibrate on a GPU):
BLOCK_REDUCE_CLK = 1280    # weight gradient 2: cycles per round of one product per thread, a full
                           # wave (64 warps/SM x ~80 instructions (3 integer divisions, 2 loads) / 4 per clock)
GEMM_STEP_CLK = 4096       # tiled GEMM: cycles per k-step of a full wave (2 blocks/SM x 8 warps x
                           # 512 FMAs / 4 warp-instructions per clock, at 50% of peak)

# The variants of the GEMM-based primitives on each core of common.cuh, by core: "shared",
# "async" and "tf32" on 128x128 tiles, "async64" the cp.async core on 64x128 tiles (appended
# last, so the older numbers stay). The weight gradient has one more rung below them (2, a
# block per element), so its cores are one number up.
GEMM_CORES = ("shared", "async", "tf32", "async64")
GEMM_VARIANTS = {
    "conv2d_forward": {"shared": 2, "async": 3, "tf32": 4, "async64": 5},
    "conv2d_backward_input": {"shared": 2, "async": 3, "tf32": 4, "async64": 5},
    "conv2d_backward_weight": {"shared": 3, "async": 4, "tf32": 5, "async64": 6},
    "matmul": {"shared": 2, "async": 3, "tf32": 4, "async64": 5},
    "matmul_backward_a": {"shared": 2, "async": 3, "tf32": 4, "async64": 5},
    "matmul_backward_b": {"shared": 2, "async": 3, "tf32": 4, "async64": 5},
}
GEMM_PRIMITIVES = tuple(GEMM_VARIANTS)
# Rows of C per block of each core's variants (the GEMM's rows: K for the forward and the weight
# gradient, C for the input gradient, M for the matmuls): GEMM_BM and GEMM_BM_SHORT of
# common.cuh. The columns are GEMM_TILE (128) for all.
CORE_ROWS = {"shared": 128, "async": 128, "tf32": 128, "async64": 64}
SHORT_TILE = CORE_ROWS["async64"]

# TF32 tensor cores (the variant above the cp.async one, below the 64-row tile): ~1e-3 relative error
# instead of ~1e-6, so off unless asked for (set_tf32(True)), like
# torch.backends.cuda.matmul.allow_tf32. float64 is never rounded to TF32 (the TF32 variants
# run the cp.async variant's code in the double build).
TF32_VARIANT = {p: cores["tf32"] for p, cores in GEMM_VARIANTS.items()}
_tf32 = [False]


MIN_CAPABILITY = (7, 5)    # the oldest GPU generation pyconv's kernels are built and tested for
TF32_CAPABILITY = (8, 0)   # mma.sync ... tf32 and cvt.rna.tf32 (Ampere)


def set_tf32(enabled):
    """Let float32 convolutions and matrix products run on TF32 tensor cores (off by default).
    On a GPU without TF32 (compute capability below 8.0) it has no effect: see tf32_available."""
    _tf32[0] = bool(enabled)


def tf32_enabled():
    return _tf32[0]


# Which source file holds each kernel family (the names before `_<variant>`).
KERNELS = {
    "conv2d.cu": ("conv2d_forward", "conv2d_backward_input", "conv2d_backward_weight", "conv2d_backward_bias"),
    "pool2d.cu": ("max_pool2d_forward", "min_pool2d_forward", "pool2d_backward_argmax",
                  "avg_pool2d_forward", "avg_pool2d_backward"),
    "matmul.cu": ("matmul", "matmul_backward_a", "matmul_backward_b"),
}
HELPER_KERNELS = {"conv2d.cu": ("sum_splits", "nonfinite_flag"), "pool2d.cu": ("pool2d_argmax_count",)}
SOURCES = tuple(KERNELS)
HEADER = "common.cuh"

GEMM_TILE = 128          # GEMM_BM == GEMM_BN in common.cuh (GEMM_BM_SHORT: SHORT_TILE)
GEMM_BK = 8              # GEMM_BK in common.cuh
GEMM_THREADS = 256
THREADS = 256            # block size of the one-thread-per-element kernels
SPLIT_MIN_K = 256        # the smallest reduction length worth giving its own split
MAX_GRID_X = 2**31 - 1   # CUDA's limit on gridDim.x
MAX_GRID_Z = 65535       # CUDA's limit on gridDim.z, and on gridDim.y
INT_MAX = 2**31 - 1      # the kernels index with 32-bit ints


# -- availability, sources, compilation -------------------------------------------------------

def source_dir():
    """Folder of the .cu sources: $PYCONV_CUDA_SRC, else pyconv/cuda (installed package data),
    else csrc/cuda of the source tree this package sits in. None when none of them has them."""
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.environ.get("PYCONV_CUDA_SRC"),
                  os.path.join(here, "..", "cuda"),
                  os.path.join(here, "..", "..", "csrc", "cuda")]
    for folder in candidates:
        if folder and all(os.path.isfile(os.path.join(folder, f)) for f in SOURCES + (HEADER,)):
            return os.path.normpath(folder)
    return None


def read_source(file):
    """The text of one .cu file with `#include "common.cuh"` replaced by the header itself."""
    folder = source_dir()
    if folder is None:
        raise RuntimeError("the CUDA sources (csrc/cuda/*.cu) were not found; set PYCONV_CUDA_SRC")
    with open(os.path.join(folder, HEADER)) as f:
        header = f.read().replace("#pragma once", "")
    with open(os.path.join(folder, file)) as f:
        text = f.read()
    return text.replace(f'#include "{HEADER}"', header)


def compile_options(dtype):
    """NVRTC options of one build: float64 selects `real = double` with -DPYCONV_DOUBLE."""
    options = ("--std=c++14",)
    return options + (("-DPYCONV_DOUBLE",) if np.dtype(dtype) == np.float64 else ())


def compute_capability():
    """(major, minor) of the current GPU; None without one (no CuPy, or the CPU emulation of the
    tests, whose `xp` is numpy)."""
    try:
        cc = str(xp.cuda.Device().compute_capability)   # CuPy gives e.g. "75", "90", "100"
    except Exception:
        return None
    return (int(cc[:-1]), int(cc[-1])) if cc.isdigit() and len(cc) >= 2 else None


def tf32_available():
    """(ok, reason): whether the TF32 variants can run on TF32 tensor cores on the current GPU.
    Below compute capability 8.0 the modules build them as the cp.async variants (common.cuh),
    variant() never picks them and pyconv.kernels refuses them (check_step). Unknown (no GPU,
    the emulation) counts as available."""
    cc = compute_capability()
    if cc is not None and cc < TF32_CAPABILITY:
        return False, (f"TF32 tensor cores need compute capability 8.0 (Ampere) or newer; "
                       f"this GPU is {cc[0]}.{cc[1]}")
    return True, ""


def available():
    if xp is None:
        return False, "cupy is not installed (pip install -e '.[cuda]', or the cupy-cudaXXx wheel matching your CUDA)"
    try:
        count = xp.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"no CUDA device: {exc}"
    if count < 1:
        return False, "no CUDA device: cudaGetDeviceCount() returned 0"
    cc = compute_capability()
    if cc is not None and cc < MIN_CAPABILITY:
        return False, (f"the current GPU has compute capability {cc[0]}.{cc[1]}; pyconv's CUDA "
                       f"kernels need {MIN_CAPABILITY[0]}.{MIN_CAPABILITY[1]} (Turing, e.g. T4 "
                       "or RTX 20xx) or newer")
    if source_dir() is None:
        return False, "the CUDA sources (csrc/cuda/*.cu) were not found; set PYCONV_CUDA_SRC"
    return True, ""


_modules = {}
_kernels = {}
_modules_lock = threading.Lock()


def _function(file, name, dtype):
    """The kernel `name` of `file` for `dtype`, a `RawKernel`; compiles the file on first use.
    Kept per (file, name, dtype): a launch then costs one dict lookup instead of
    RawModule.get_function's new RawKernel (whose module lookup hashes the ~30 KB source).
    One RawKernel serves every GPU: CuPy loads (and if need be compiles) its module per device."""
    key = (file, name, np.dtype(dtype).name)
    kernel = _kernels.get(key)
    if kernel is not None:
        return kernel
    with _modules_lock:
        module_key = key[0], key[2]
        module = _modules.get(module_key)
        if module is None:
            module = xp.RawModule(code=read_source(file), options=compile_options(dtype))
            _modules[module_key] = module
        kernel = _kernels.get(key)
        if kernel is None:
            kernel = _kernels[key] = module.get_function(name)
    return kernel


def _launch(file, name, dtype, grid, block, *args):
    """Launch a kernel; Python ints go as 32-bit ints, arrays as device pointers."""
    args = tuple(np.int32(a) if isinstance(a, (int, np.integer)) else a for a in args)
    _function(file, name, dtype)(tuple(grid), tuple(block), args)


# -- variants: the steps of pyconv.kernels ------------------------------------------------------

def _family(primitive):
    """The kernel family (the .cu name before `_<variant>`) that runs `primitive`."""
    return FAMILY.get(primitive, primitive)


def kernel_steps():
    """{primitive: ((name, doc), ...)} for every primitive of the backend contract: step n is
    variant n of its kernel family. pyconv.kernels lists and checks the steps with it; it
    needs neither CuPy nor a GPU."""
    return {p: STEPS[_family(p)] for p in PRIMITIVES}


def default_step(primitive, rows=None):
    """The variant `primitive` runs on a large problem when nothing is chosen: rules 3 to 5 of
    variant(). `rows`: the GEMM's row count when the caller knows it (rule 4); without it (the
    default pyconv.kernels lists), DEFAULTS'."""
    if _tf32[0] and primitive in TF32_VARIANT and tf32_available()[0]:
        return TF32_VARIANT[primitive]
    step, cores = DEFAULTS[primitive], GEMM_VARIANTS.get(primitive)
    if rows is not None and cores and step in (cores["shared"], cores["async"]) and short_tile_pays(rows):
        return cores["async64"]
    return step


def short_tile_pays(rows):
    """Whether a GEMM of `rows` rows runs on 64-row tiles (rule 4 of variant()): when 128-row
    tiles would leave at least a quarter of their rows empty, ceil(rows/64)*64 <= 0.75 *
    ceil(rows/128)*128. True for rows <= 64 (half or more of one tile empty) and 129..192 (a
    quarter or more of two); never from 193 on (320 rows leave 64 of 384 empty, a sixth).
    The napkin math is in benchmarks/NOTES.md; a GPU run is to confirm the threshold."""
    return 4 * blocks(rows, SHORT_TILE) * SHORT_TILE <= 3 * blocks(rows, GEMM_TILE) * GEMM_TILE


def tile_rows(primitive, v):
    """Rows of C per block of variant v of a GEMM-based primitive (CORE_ROWS of its core)."""
    for core, step in GEMM_VARIANTS.get(primitive, {}).items():
        if step == v:
            return CORE_ROWS[core]
    return GEMM_TILE


def check_step(primitive, step):
    """Raise ValueError if variant `step` of `primitive` cannot run here: the TF32 variants on
    a GPU without TF32 tensor cores (tf32_available)."""
    if TF32_VARIANT.get(primitive) == step:
        ok, reason = tf32_available()
        if not ok:
            raise ValueError(f"cuda {primitive} step {step} (TF32 tensor cores) cannot run here: {reason}")


def variant(primitive, small=False, rows=None):
    """The variant `primitive` runs now; the one place that chooses, in this order:
      1. an explicit choice: `pyconv.kernels.use(primitive, n, backend="cuda")` (this thread,
         inside the block), `pyconv.kernels.set_step(...)`, or PYCONV_KERNELS=cuda:primitive=n;
      2. SMALL_PROBLEM's, when the caller says the problem is `small` (most of a 128x128 GEMM
         tile would be empty);
      3. the TF32 variant of a GEMM-based primitive after set_tf32(True), on a GPU with TF32
         tensor cores (tf32_available);
      4. the 64-row tile ("async64") of a GEMM-based primitive whose default (rule 5) is one of
         its 128-row variants (shared or cp.async), when the GEMM's `rows` would leave a quarter
         or more of those tiles empty (short_tile_pays): half the FMAs of a 64-channel layer
         are no longer spent on zero rows, whatever the core, which a GPU run is to time;
      5. DEFAULTS'.
    Rules 3 to 5 are default_step."""
    from .. import kernels   # pyconv.kernels imports the backends package: import at call time
    chosen = kernels.chosen(NAME, primitive)
    if chosen is not None:
        return chosen
    if small and primitive in SMALL_PROBLEM:
        return SMALL_PROBLEM[primitive]
    return default_step(primitive, rows)


def _run_variant(primitive, small=False, rows=None):
    """variant(), reported to pyconv.kernels as the step this call runs (kernels.ran)."""
    from .. import kernels
    v = variant(primitive, small, rows)
    kernels.record(NAME, primitive, v)
    return v


def _small_gemm(rows, reduction):
    """Too few GEMM rows to fill a tile, and a reduction short enough that a thread per output
    (which rereads its operands from cache instead of sharing them through shared memory) is
    cheaper than the tiled kernel's fixed cost. A long reduction keeps the tiled kernel: a
    10-class head on 256x3x3 features reads 2304 taps per output."""
    return rows < SMALL_ROWS and reduction <= SMALL_REDUCTION


def reduction_splits(outputs, L, sm_count):
    """(splits, chunk) of a block reduction over `outputs` blocks of length-L sums (weight
    gradient 2, bias 1): enough splits for REDUCE_BLOCKS_PER_SM blocks per SM, none shorter
    than REDUCE_MIN_CHUNK, no empty split."""
    if L <= 0:
        return 1, 1
    want = max(1, -(-REDUCE_BLOCKS_PER_SM * sm_count // max(outputs, 1)))
    splits = max(1, min(want, L // REDUCE_MIN_CHUNK, MAX_GRID_Z))
    chunk = -(-L // splits)
    return -(-L // chunk), chunk


def weight_gradient_cycles(v, K, CRS, NPQ, sm_count):
    """Napkin cycles of the weight gradient's variant 2 (block reduction per element) or of the
    tiled GEMM (any other v) on a GPU of sm_count SMs: waves of resident blocks times the
    sequential work of one block. The GEMM issues a whole tile per block (128x128, or 64x128
    for the async64 variant: half the FMAs per k-step, so GEMM_STEP_CLK / 2 at the same 2 blocks
    per SM) however few of its K x CRS outputs are real; variant 2 issues only real products but
    pays ~20x more per product (index decode, two loads, no reuse). N*P*Q enters through the
    splits of each (how many blocks, how long each runs) and so through the waves."""
    if v == 2:
        splits, chunk = reduction_splits(K * CRS, NPQ, sm_count)
        waves = -(-K * CRS * splits // (REDUCE_BLOCKS_PER_SM * sm_count))
        return waves * -(-chunk // THREADS) * BLOCK_REDUCE_CLK
    rows = tile_rows("conv2d_backward_weight", v)
    tiles = blocks(K, rows) * blocks(CRS, GEMM_TILE)
    splits, chunk = split_reduction(tiles, NPQ, sm_count)
    waves = -(-tiles * splits // (2 * sm_count))
    return waves * -(-chunk // GEMM_BK) * (GEMM_STEP_CLK * rows // GEMM_TILE)


def _small_weight(K, CRS, NPQ, sm_count):
    """The weight gradient takes variant 2 (SMALL_PROBLEM) when the napkin model gives it fewer
    cycles than the tiled GEMM it would run otherwise (default_step's, 64-row tiles included):
    LeNet conv1 (6x1x5x5) up to a batch of ~64, LeNet conv2 (16x6x5x5) at batch 16, not at 256
    (2400 elements, ~3 waves of blocks, against 2 mostly full tiles)."""
    gemm = default_step("conv2d_backward_weight", rows=K)
    return weight_gradient_cycles(2, K, CRS, NPQ, sm_count) < weight_gradient_cycles(gemm, K, CRS, NPQ, sm_count)


def kernel_name(primitive, v):
    """The kernel of variant v of `primitive`, as named in its .cu file."""
    return f"{_family(primitive)}_{v}"


# -- launch configuration (pure Python) -------------------------------------------------------

def blocks(n, threads=THREADS):
    """Blocks of `threads` covering n elements, one thread each."""
    return max(1, -(-n // threads))


def gemm_grid(M, N, batch=1, rows=GEMM_TILE):
    """Grid of the tiled GEMM kernels of conv2d, `rows` x 128 tiles (tile_rows): x over the
    columns (N), y over the rows (M)."""
    return (blocks(N, GEMM_TILE), blocks(M, rows), batch)


def split_reduction(tiles, Kd, sm_count):
    """(splits, chunk) for a GEMM of `tiles` output tiles and reduction length Kd: enough splits
    for about two blocks per SM, none shorter than SPLIT_MIN_K, chunk a multiple of GEMM_BK (so
    no k-tile straddles two splits), and no empty split."""
    if Kd <= 0:
        return 1, GEMM_BK
    want = max(1, -(-2 * sm_count // tiles))
    splits = max(1, min(want, Kd // SPLIT_MIN_K, MAX_GRID_Z))
    chunk = -(-Kd // splits)
    chunk = -(-chunk // GEMM_BK) * GEMM_BK
    return -(-Kd // chunk), chunk


def stride_phases(size, pad, taps, stride, dilation):
    """One axis of the input gradient split by stride phase (see conv2d_backward_input_2 in
    conv2d.cu). For each a in [0, stride): the input positions h with (h + pad) % stride == a,
    as h = first + i*stride (i < count), and the only kernel taps that reach them from an output
    position, r = r0 + j*r_step (j < r_taps), with p = p0 + i - j*p_step the output position
    that tap j connects to input position i (in range only when 0 <= p < P). Phases without
    input positions are left out; one with no taps still comes (its gradient is zero).
    Returns [(first, count, r0, r_step, r_taps, p0, p_step)]."""
    g = math.gcd(dilation, stride)
    r_step, p_step = stride // g, dilation // g      # taps of one phase are stride/g apart
    phases = []
    for a in range(stride):
        first = (a - pad) % stride
        count = len(range(first, size, stride))
        if count == 0:
            continue
        r0 = next((r for r in range(min(taps, r_step)) if r * dilation % stride == a), None)
        if r0 is None:   # no tap lands on this phase
            phases.append((first, count, 0, 1, 0, 0, p_step))
            continue
        r_taps = len(range(r0, taps, r_step))
        p0 = (first + pad - r0 * dilation) // stride     # exact: both sides are = a mod stride
        phases.append((first, count, r0, r_step, r_taps, p0, p_step))
    return phases


def _sm_count():
    try:
        return int(xp.cuda.Device().attributes["MultiProcessorCount"])
    except Exception:
        return 132   # an H100 SXM


# -- validation -------------------------------------------------------------------------------

def _array(name, a, ndim, dtype=None):
    if xp is None:
        raise RuntimeError("the cuda backend needs CuPy")
    if not isinstance(a, xp.ndarray):
        raise TypeError(f"{name} must be a {xp.__name__} array, got {type(a).__name__}")
    _check_device(name, a)
    if a.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(a.shape)}")
    if dtype is None and a.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if dtype is not None and a.dtype != dtype:
        raise TypeError(f"{name} must be {np.dtype(dtype).name}, got {a.dtype}")
    if a.size > INT_MAX:
        raise ValueError(f"{name} has {a.size} elements; the CUDA kernels index with 32-bit ints")
    return xp.ascontiguousarray(a)


def _device_id(a):
    """The GPU that holds `a`; None for an array without one (numpy, under the CPU emulation)."""
    return getattr(getattr(a, "device", None), "id", None)


def _check_device(name, a):
    """Refuse an array held by another GPU than the current one. The kernels run on the current
    device and the outputs are allocated there; a pointer into another GPU's memory faults
    (an illegal address that poisons the CUDA context for the rest of the process) or, with
    peer access enabled, is read across the bus into a result on the wrong device."""
    where = _device_id(a)
    if where is None:
        return
    current = xp.cuda.runtime.getDevice()
    if where != current:
        raise ValueError(
            f"{name} is on GPU {where} but the current device is GPU {current}, where the kernels "
            f"run: call under `with cupy.cuda.Device({where}):`, or copy {name} to GPU {current} "
            f"first (cupy.copy({name}) under `with cupy.cuda.Device({current}):`)")


def _same_dtype(**arrays):
    dtypes = {a.dtype for a in arrays.values()}
    if len(dtypes) > 1:
        raise TypeError("arrays must share one dtype, got " +
                        ", ".join(f"{k} {a.dtype}" for k, a in arrays.items()))


def _conv_geometry(x_shape, w_shape, stride, padding, dilation):
    """The 15 ints of CONV_ARGS (N,C,H,W,K,R,S,P,Q,sh,sw,pt,pl,dh,dw), checked by
    geometry.check_conv like every backend, then against the kernels' 32-bit indexing."""
    x_shape, w_shape = geometry.ints("x shape", x_shape, 4), geometry.ints("w shape", w_shape, 4)
    stride, dilation = geometry.ints("stride", stride, 2), geometry.ints("dilation", dilation, 2)
    padding = geometry.ints("padding", padding, 4)
    if min(x_shape + w_shape) < 0:
        raise ValueError(f"shapes must be ints >= 0, got x {x_shape}, w {w_shape}")
    P, Q = geometry.check_conv(x_shape, w_shape, stride, padding, dilation)
    (N, C, H, W), (K, _, R, S) = x_shape, w_shape
    (sh, sw), (pt, _, pl, _), (dh, dw) = stride, padding, dilation
    for n in (N * C * H * W, K * C * R * S, N * K * P * Q):
        if n > INT_MAX:
            raise ValueError("tensor too large for the CUDA kernels' 32-bit indexing")
    return (N, C, H, W, K, R, S, P, Q, sh, sw, pt, pl, dh, dw)


def _x_shape(x_shape):
    """(N, C, H, W) of a pooling input, checked: the backward kernels write an x-shaped dx and
    index it with 32-bit ints, so a shape past INT_MAX elements would wrap into other memory."""
    shape = tuple(int(i) for i in x_shape)
    if len(shape) != 4 or min(shape) < 0:
        raise ValueError(f"x_shape must be four ints >= 0, got {shape}")
    if math.prod(shape) > INT_MAX:
        raise ValueError(f"x {shape} has {math.prod(shape)} elements; the CUDA kernels index "
                         "with 32-bit ints")
    return shape


def _pool_geometry(op, x_shape, kernel, stride, padding):
    """(NC, H, W, P, Q, R, S, sh, sw, ph, pw), checked by geometry.check_pool like every backend."""
    x_shape = _x_shape(x_shape)
    kernel, stride = geometry.ints("kernel", kernel, 2), geometry.ints("stride", stride, 2)
    padding = geometry.ints("padding", padding, 2)
    P, Q = geometry.check_pool(x_shape, kernel, stride, padding, op)
    N, C, H, W = x_shape
    (R, S), (sh, sw), (ph, pw) = kernel, stride, padding
    return (N * C, H, W, P, Q, R, S, sh, sw, ph, pw)


# -- conv2d -----------------------------------------------------------------------------------

def conv2d_forward(x, w, b, stride, padding, dilation):
    x, w = _array("x", x, 4), _array("w", w, 4)
    _same_dtype(x=x, w=w)
    g = _conv_geometry(x.shape, w.shape, stride, padding, dilation)
    N, C, H, W, K, R, S, P, Q = g[:9]
    if b is not None:
        b = _array("b", b, 1)
        _same_dtype(x=x, b=b)
        if b.shape != (K,):
            raise ValueError(f"b must have shape ({K},), got {tuple(b.shape)}")
    y = xp.empty((N, K, P, Q), dtype=x.dtype)
    if y.size == 0:
        return y
    v = _run_variant("conv2d_forward", small=_small_gemm(K, C * R * S), rows=K)
    if v == 1:
        grid, block = (blocks(y.size),), (THREADS,)
    else:
        grid, block = gemm_grid(K, N * P * Q, rows=tile_rows("conv2d_forward", v))[:2], (GEMM_THREADS,)
    _launch("conv2d.cu", kernel_name("conv2d_forward", v), x.dtype, grid, block,
            y, x, w, w if b is None else b, 0 if b is None else 1, *g)
    return y


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation):
    dy, w = _array("dy", dy, 4), _array("w", w, 4)
    _same_dtype(dy=dy, w=w)
    g = _conv_geometry(x_shape, w.shape, stride, padding, dilation)
    N, C, H, W, K, R, S, P, Q = g[:9]
    if dy.shape != (N, K, P, Q):
        raise ValueError(f"dy must have shape {(N, K, P, Q)}, got {tuple(dy.shape)}")
    dx = xp.empty((N, C, H, W), dtype=dy.dtype)
    if dx.size == 0:
        return dx
    if dy.size == 0:
        return xp.zeros((N, C, H, W), dtype=dy.dtype)
    v = _run_variant("conv2d_backward_input", small=_small_gemm(C, K * R * S), rows=C)
    name = kernel_name("conv2d_backward_input", v)
    if v == 1:
        _launch("conv2d.cu", name, dy.dtype, (blocks(dx.size),), (THREADS,), dx, dy, w, *g)
        return dx
    sh, sw, pt, pl, dh, dw = g[9:]
    # The NaN/Inf contract: with an Inf or NaN in w the GEMM kernels gather their tiles as
    # variant 1 does (conv2d.cu). The flag is set and read on the device: no host sync.
    w_nonfinite = xp.zeros((1,), dtype=np.int32)
    _launch("conv2d.cu", "nonfinite_flag", w.dtype, (min(blocks(w.size), 4 * _sm_count()),),
            (THREADS,), w_nonfinite, w, w.size)
    phases = [(row, col) for row in stride_phases(H, pt, R, sh, dh)
              for col in stride_phases(W, pl, S, sw, dw)]   # sh*sw, one with stride 1
    if any(row[4] * col[4] == 0 for row, col in phases):
        dx = xp.zeros_like(dx)   # pixels that no tap reaches (stride > kernel extent) stay zero
    for row, col in phases:
        if row[4] * col[4] > 0:
            grid = gemm_grid(C, N * row[1] * col[1], rows=tile_rows("conv2d_backward_input", v))[:2]
            _launch("conv2d.cu", name, dy.dtype, grid, (GEMM_THREADS,), dx, dy, w, w_nonfinite,
                    *g, *row, *col)
    return dx


def conv2d_backward_weight(dy, x, w_shape, stride, padding, dilation):
    dy, x = _array("dy", dy, 4), _array("x", x, 4)
    _same_dtype(dy=dy, x=x)
    g = _conv_geometry(x.shape, w_shape, stride, padding, dilation)
    N, C, H, W, K, R, S, P, Q = g[:9]
    if dy.shape != (N, K, P, Q):
        raise ValueError(f"dy must have shape {(N, K, P, Q)}, got {tuple(dy.shape)}")
    if K * C * R * S == 0 or N * P * Q == 0:
        return xp.zeros((K, C, R, S), dtype=dy.dtype)
    v = _run_variant("conv2d_backward_weight", small=_small_weight(K, C * R * S, N * P * Q, _sm_count()),
                     rows=K)
    if v == 1:
        dw = xp.empty((K, C, R, S), dtype=dy.dtype)
        _launch("conv2d.cu", kernel_name("conv2d_backward_weight", v), dy.dtype,
                (blocks(dw.size),), (THREADS,), dw, dy, x, *g)
        return dw
    if v == 2:   # a block per (element, split of N*P*Q), the splits added by sum_splits
        splits, chunk = reduction_splits(K * C * R * S, N * P * Q, _sm_count())
        if splits * K * C * R * S > INT_MAX:
            splits, chunk = 1, N * P * Q
        dw = xp.empty((K, C, R, S), dtype=dy.dtype)
        ws = dw if splits == 1 else xp.empty((splits, K, C, R, S), dtype=dy.dtype)
        _launch("conv2d.cu", kernel_name("conv2d_backward_weight", v), dy.dtype,
                (dw.size, splits), (THREADS,), ws, dy, x, chunk, *g)
        if splits > 1:
            _launch("conv2d.cu", "sum_splits", dy.dtype, (blocks(dw.size),), (THREADS,),
                    dw, ws, splits, dw.size)
        return dw
    tiles_n, tiles_m, _ = gemm_grid(K, C * R * S, rows=tile_rows("conv2d_backward_weight", v))
    splits, chunk = split_reduction(tiles_n * tiles_m, N * P * Q, _sm_count())
    if splits * K * C * R * S > INT_MAX:
        splits, chunk = 1, -(-N * P * Q // GEMM_BK) * GEMM_BK
    dw = xp.empty((K, C, R, S), dtype=dy.dtype)
    ws = dw if splits == 1 else xp.empty((splits, K, C, R, S), dtype=dy.dtype)
    _launch("conv2d.cu", kernel_name("conv2d_backward_weight", v), dy.dtype,
            (tiles_n, tiles_m, splits), (GEMM_THREADS,), ws, dy, x, chunk, *g)
    if splits > 1:   # second pass: add the splits in a fixed order
        _launch("conv2d.cu", "sum_splits", dy.dtype, (blocks(dw.size),), (THREADS,),
                dw, ws, splits, dw.size)
    return dw


def conv2d_backward_bias(dy):
    dy = _array("dy", dy, 4)
    N, K, P, Q = dy.shape
    if N * P * Q == 0:
        return xp.zeros((K,), dtype=dy.dtype)
    db = xp.empty((K,), dtype=dy.dtype)
    if K:
        name = kernel_name("conv2d_backward_bias", _run_variant("conv2d_backward_bias"))
        splits, chunk = reduction_splits(K, N * P * Q, _sm_count())   # fill the GPU (conv2d.cu)
        ws = db if splits == 1 else xp.empty((splits, K), dtype=dy.dtype)
        _launch("conv2d.cu", name, dy.dtype, (K, splits), (THREADS,), ws, dy, N, K, P * Q, chunk)
        if splits > 1:
            _launch("conv2d.cu", "sum_splits", dy.dtype, (blocks(K),), (THREADS,), db, ws, splits, K)
    return db


# -- pooling ----------------------------------------------------------------------------------

def _arg_pool_forward(primitive, x, kernel, stride, padding):
    x = _array("x", x, 4)
    g = _pool_geometry(primitive.removesuffix("_forward"), x.shape, kernel, stride, padding)
    N, C = x.shape[:2]
    P, Q = g[3], g[4]
    y = xp.empty((N, C, P, Q), dtype=x.dtype)
    idx = xp.empty((N, C, P, Q), dtype=np.int64)
    if y.size:
        name = kernel_name(primitive, _run_variant(primitive))
        _launch("pool2d.cu", name, x.dtype, (blocks(y.size),), (THREADS,), y, idx, x, *g)
    return y, idx


def _arg_pool_backward(primitive, dy, idx, x_shape):
    dy = _array("dy", dy, 4)
    idx = _array("idx", idx, 4, dtype=np.int64)
    N, C, H, W = _x_shape(x_shape)
    if idx.shape != dy.shape or dy.shape[:2] != (N, C):
        raise ValueError(f"dy {tuple(dy.shape)} and idx {tuple(idx.shape)} must be (N,C,P,Q) "
                         f"with N,C of x {(N, C, H, W)}")
    dx = xp.zeros((N, C, H, W), dtype=dy.dtype)
    P, Q = dy.shape[2:]
    if dy.size == 0 or dx.size == 0:   # an x without pixels: its windows hold only padding
        return dx
    v = _run_variant(primitive)
    bad = xp.zeros((1,), dtype=np.int32)
    if v == 3:   # deterministic in two passes, a thread per dy element each (see pool2d.cu)
        count = xp.zeros((N, C, H, W), dtype=np.int32)
        first = xp.full((N, C, H, W), INT_MAX, dtype=np.int32)
        grid = (blocks(dy.size),), (THREADS,)
        _launch("pool2d.cu", "pool2d_argmax_count", dy.dtype, *grid,
                count, first, idx, bad, N * C, H * W, P * Q)
        _launch("pool2d.cu", kernel_name(primitive, v), dy.dtype, *grid,
                dx, dy, idx, count, first, N * C, H * W, P * Q)
    else:
        grid, block = ((blocks(dy.size),), (THREADS,)) if v == 1 else ((blocks(N * C, 128),), (128,))
        _launch("pool2d.cu", kernel_name(primitive, v), dy.dtype, grid, block,
                dx, dy, idx, bad, N * C, H * W, P * Q)
    # The kernels skip (and count) indices outside a plane, so a wrong idx never writes outside
    # dx; reading the count waits for the kernel, which is the price of refusing such an idx
    # like the C backend does rather than returning a silently wrong gradient.
    skipped = int(bad[0])
    if skipped:
        raise ValueError(f"idx holds {skipped} indices outside [0, H*W) = [0, {H * W}) for x "
                         f"{(N, C, H, W)}: it is not the argmax of a pooling of such an x")
    return dx


def max_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool_forward("max_pool2d_forward", x, kernel, stride, padding)


def max_pool2d_backward(dy, idx, x_shape):
    return _arg_pool_backward("max_pool2d_backward", dy, idx, x_shape)


def min_pool2d_forward(x, kernel, stride, padding):
    return _arg_pool_forward("min_pool2d_forward", x, kernel, stride, padding)


def min_pool2d_backward(dy, idx, x_shape):
    return _arg_pool_backward("min_pool2d_backward", dy, idx, x_shape)


def avg_pool2d_forward(x, kernel, stride, padding):
    x = _array("x", x, 4)
    g = _pool_geometry("avg_pool2d", x.shape, kernel, stride, padding)
    y = xp.empty(x.shape[:2] + (g[3], g[4]), dtype=x.dtype)
    if y.size:
        name = kernel_name("avg_pool2d_forward", _run_variant("avg_pool2d_forward"))
        _launch("pool2d.cu", name, x.dtype, (blocks(y.size),), (THREADS,), y, x, *g)
    return y


def avg_pool2d_backward(dy, x_shape, kernel, stride, padding):
    dy = _array("dy", dy, 4)
    g = _pool_geometry("avg_pool2d", x_shape, kernel, stride, padding)
    if dy.shape != tuple(x_shape[:2]) + (g[3], g[4]):
        raise ValueError(f"dy must have shape {tuple(x_shape[:2]) + (g[3], g[4])}, got {tuple(dy.shape)}")
    dx = xp.empty(tuple(int(i) for i in x_shape), dtype=dy.dtype)
    if dx.size:
        name = kernel_name("avg_pool2d_backward", _run_variant("avg_pool2d_backward"))
        _launch("pool2d.cu", name, dy.dtype, (blocks(dx.size),), (THREADS,), dx, dy, *g)
    return dx


# -- matmul -----------------------------------------------------------------------------------

def matmul_grid(primitive, v, M, N, batch):
    """(grid, block) of matmul.cu's `primitive`, variant v, for a GEMM of M rows and N columns
    over `batch` matrices (at most MAX_GRID_Z: the caller slices the batch). Rows go on
    gridDim.x, whose MAX_GRID_X blocks cover any M the 32-bit indexing allows: the op layer folds
    the batch into M, so it is the axis that grows with the data. Columns go on gridDim.y.
    Tiles: 16x16 (variant 1), tile_rows(primitive, v) x 128 (the tiled variants)."""
    rows, tile, block = (16, 16, (16, 16)) if v == 1 else (tile_rows(primitive, v), GEMM_TILE, (GEMM_THREADS,))
    grid = (blocks(M, rows), blocks(N, tile), batch)
    if grid[1] > MAX_GRID_Z:   # gridDim.y, like z, stops at 65535
        raise ValueError(f"{primitive}: {N} output columns need {grid[1]} blocks along the grid's "
                         f"y axis, over CUDA's limit of {MAX_GRID_Z} ({MAX_GRID_Z * tile} columns "
                         f"for this kernel); the rows have no such limit: compute the transposed "
                         f"product (b^T @ a^T)^T")
    return grid, block


def _gemm(primitive, out_shape, lhs, rhs, M, N, Kd):
    """Launch one of the three matmul kernels over the batch (in slices of at most 65535)."""
    out = xp.empty(out_shape, dtype=lhs.dtype)
    if out.size == 0:
        return out
    if Kd == 0:
        out[...] = 0
        return out
    v = _run_variant(primitive, rows=M)
    if out.size > INT_MAX:
        raise ValueError(f"{primitive}: the output {tuple(out_shape)} has {out.size} elements; "
                         "the CUDA kernels index with 32-bit ints")
    for z0 in range(0, out_shape[0], MAX_GRID_Z):
        z1 = min(out_shape[0], z0 + MAX_GRID_Z)
        grid, block = matmul_grid(primitive, v, M, N, z1 - z0)
        _launch("matmul.cu", kernel_name(primitive, v), lhs.dtype, grid, block,
                out[z0:z1], lhs[z0:z1], rhs[z0:z1], M, N, Kd)
    return out


def matmul(a, b):
    a, b = _array("a", a, 3), _array("b", b, 3)
    _same_dtype(a=a, b=b)
    (B, M, K), (Bb, Kb, N) = a.shape, b.shape
    if Bb != B or Kb != K:
        raise ValueError(f"matmul needs a (B,M,K) and b (B,K,N), got {tuple(a.shape)} and {tuple(b.shape)}")
    return _gemm("matmul", (B, M, N), a, b, M, N, K)


def matmul_backward_a(dc, b):
    dc, b = _array("dc", dc, 3), _array("b", b, 3)
    _same_dtype(dc=dc, b=b)
    (B, M, N), (Bb, K, Nb) = dc.shape, b.shape
    if Bb != B or Nb != N:
        raise ValueError(f"matmul_backward_a needs dc (B,M,N) and b (B,K,N), got {tuple(dc.shape)} and {tuple(b.shape)}")
    return _gemm("matmul_backward_a", (B, M, K), dc, b, M, K, N)


def matmul_backward_b(a, dc):
    a, dc = _array("a", a, 3), _array("dc", dc, 3)
    _same_dtype(a=a, dc=dc)
    (B, M, K), (Bc, Mc, N) = a.shape, dc.shape
    if Bc != B or Mc != M:
        raise ValueError(f"matmul_backward_b needs a (B,M,K) and dc (B,M,N), got {tuple(a.shape)} and {tuple(dc.shape)}")
    return _gemm("matmul_backward_b", (B, K, N), a, dc, K, N, M)


# -- timing -----------------------------------------------------------------------------------

def time_ms(fn, *args, warmup=3, repeat=20):
    """Median time of fn(*args) in milliseconds, measured with CUDA events on the current stream
    (pyconv.timing.measure with cuda=True, which also gives the spread)."""
    from .. import timing
    return timing.measure(lambda: fn(*args), repeat=repeat, warmup=warmup, cuda=True).median_ms


def kernel_names_in_source(file):
    """Names of the `extern "C" __global__` kernels defined in one source file."""
    folder = source_dir()
    with open(os.path.join(folder, file)) as f:
        text = f.read()
    return set(re.findall(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)', text))
