"""Run pyconv's CUDA kernels on the CPU: a test harness for machines without a GPU.

Each csrc/cuda/*.cu file is compiled with g++ against shim.h (one OS thread per CUDA thread,
blocks in sequence, __syncthreads as a barrier, and CPU versions of common.cuh's sm_80
instruction wrappers: cp.async a copy deferred until waited for, mma.sync computed lane by
lane) into one shared library per (file, dtype).
`function(file, name, dtype)` returns a callable with the signature of a CuPy RawModule kernel,
`fn(grid, block, args)`, taking numpy arrays and numpy ints; tests put it in place of
`cuda_cupy._function` and numpy in place of `cuda_cupy.xp`, so the whole Python wrapper and the
kernels' index math run here. With PYCONV_EMU_CFLAGS="-fsanitize=address" (and libasan in
LD_PRELOAD, ASAN_OPTIONS=detect_leaks=0) every out-of-bounds read or write of a kernel, in
global or shared memory, stops the run: a CPU stand-in for compute-sanitizer's memcheck.
With "-fsanitize=thread" (libtsan preloaded) two threads of a block touching the same word
with no barrier between them is a reported race: a stand-in for racecheck.
A launch past CUDA's grid and block limits is refused, as a GPU refuses it.
What it cannot check: speed, memory coalescing, real concurrency
between blocks, anything warp-synchronous.
"""
import ctypes
import hashlib
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.normpath(os.path.join(HERE, "..", "..", "csrc", "cuda"))
_libs = {}


def compiler():
    return shutil.which("g++") or shutil.which("clang++")


def kernel_names(file):
    with open(os.path.join(SRC, file)) as f:
        text = f.read()
    return re.findall(r'extern\s+"C"\s+__global__\s+void\s+(?:__launch_bounds__\([^)]*\)\s+)?(\w+)', text)


def _build(file, dtype, src):
    names = kernel_names(file)
    flags = ["-O1", "-std=c++17", "-shared", "-fPIC", "-pthread", "-w",
             f"-I{HERE}", f"-I{src}", f'-DEMU_SOURCE="{file}"',
             "-DEMU_KERNELS=" + "".join(f"EMU_KERNEL({n})" for n in names)]
    if np.dtype(dtype) == np.float64:
        flags.append("-DPYCONV_DOUBLE")
    flags += os.environ.get("PYCONV_EMU_CFLAGS", "").split()
    digest = hashlib.sha256()
    # every source of src too: a file outside it (tests/cuda_emu/cores64.cu, given by its full
    # path) includes one of the .cu files, not only common.cuh
    sources = sorted(os.path.join(src, f) for f in os.listdir(src) if f.endswith((".cu", ".cuh")))
    for path in [os.path.join(src, file), *sources, os.path.join(HERE, "shim.h"),
                 os.path.join(HERE, "launch.cpp")]:
        with open(path, "rb") as f:
            digest.update(f.read())
    digest.update(" ".join(flags).encode())
    out = os.path.join(tempfile.gettempdir(), f"pyconv_emu_{digest.hexdigest()[:16]}.so")
    if not os.path.exists(out):
        tmp = out + f".{os.getpid()}"
        subprocess.run([compiler(), *flags, os.path.join(HERE, "launch.cpp"), "-o", tmp],
                       check=True, capture_output=True, text=True)
        os.replace(tmp, out)
    return ctypes.CDLL(out)


# CUDA's launch limits (compute capability 3.0 and later): a launch past them fails with
# cudaErrorInvalidConfiguration on a GPU, so the emulation refuses it too.
MAX_GRID = (2**31 - 1, 65535, 65535)
MAX_BLOCK = (1024, 1024, 64)
MAX_THREADS_PER_BLOCK = 1024


def check_launch(name, grid, block):
    """Raise ValueError, as a GPU would fail the launch, for a grid or block past CUDA's limits."""
    grid = tuple(grid) + (1,) * (3 - len(grid))
    block = tuple(block) + (1,) * (3 - len(block))
    if any(not 1 <= g <= m for g, m in zip(grid, MAX_GRID)) or \
            any(not 1 <= b <= m for b, m in zip(block, MAX_BLOCK)) or \
            block[0] * block[1] * block[2] > MAX_THREADS_PER_BLOCK:
        raise ValueError(f"{name}: invalid launch configuration grid {grid} block {block} "
                         f"(limits: grid {MAX_GRID}, block {MAX_BLOCK}, {MAX_THREADS_PER_BLOCK} "
                         f"threads per block)")
    return grid, block


def function(file, name, dtype, src=SRC):
    """The launcher of kernel `name` of `src`/`file` (src: the folder of the .cu files, for
    tests of the emulation itself on altered sources; `file` may be a full path, for a test
    source that includes those of src)."""
    key = (file, np.dtype(dtype).name, src)
    if key not in _libs:
        _libs[key] = _build(file, dtype, src)
    lib = _libs[key]

    def launch(grid, block, args):
        grid, block = check_launch(name, grid, block)
        values = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, "kernels take C-contiguous arrays"
                values.append(ctypes.c_void_p(a.ctypes.data))
            elif isinstance(a, np.int32):
                values.append(ctypes.c_int(int(a)))
            else:
                raise TypeError(f"unexpected kernel argument {type(a).__name__}")
        pointers = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
        rc = lib.emu_launch(name.encode(), *[ctypes.c_uint(g) for g in grid],
                            *[ctypes.c_uint(b) for b in block], pointers)
        if rc == -1:
            raise LookupError(f"no kernel {name!r} in {file}")
        if rc == -2:
            raise RuntimeError(f"{name}: a block ended with cp.async copies still in flight")

    return launch
