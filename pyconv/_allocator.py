"""glibc malloc settings that keep a training loop's activations off fresh pages.

A training step allocates the same large arrays (activations, gradients: 1-10 MB each) and
frees them again, thousands of times. glibc serves allocations above its mmap threshold with a
fresh `mmap` and returns them to the kernel on `free`, so every use of such a buffer starts with
a page fault per 4 KiB page. The threshold starts at 128 KiB and rises by itself to the size of
the largest mmapped block freed so far, but only up to 32 MiB: a process that has ever freed a
bigger array (loading MNIST's 60,000 images as float32 is 188 MB) stays on fresh pages for its
1 MB activations. Measured on a LeNet-5 step (`python benchmarks/epoch_vs_torch.py --breakdown
--limit 60000`): 11.9 ms with glibc's defaults, 8.0 ms with the settings below; ReLU and pooling,
pure bandwidth, were 3-4x slower on fresh pages.

So when the c backend loads, pyconv fixes the mmap threshold at 4 MiB (smaller blocks come from
the heap and are reused) and the trim threshold at 64 MiB (the heap keeps up to that much free
memory instead of returning it at once): the process may hold up to that much more memory than
it uses. Not higher: numpy asks for transparent huge pages (madvise) on arrays of 4 MiB and more,
which it gets on fresh 2 MiB-aligned mmaps but not on heap memory, and the big kernels need
them. With a 64 MiB mmap threshold the conv of a 16x64x56x56 batch (12.8 MB arrays) ran 1.5x
slower, from TLB misses; at 4 MiB it runs as with glibc's defaults while LeNet-5's step keeps
its gain (8.0 ms). Set PYCONV_MALLOC_TUNING=0 to keep glibc's defaults; a MALLOC_MMAP_THRESHOLD_,
MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES in the environment is the user's choice and left alone.
Other C libraries (musl, macOS) are not touched.
"""
import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1     # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 4 << 20
TRIM_THRESHOLD = 64 << 20
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
_done = []


def tune_malloc(libc=None, environ=os.environ):
    """Apply the settings above once per process; returns whether they were applied."""
    if _done:
        return _done[0]
    applied = False
    if environ.get("PYCONV_MALLOC_TUNING", "1") != "0" and not any(k in environ for k in _USER_SETTINGS):
        if libc is None and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(None)
        mallopt = getattr(libc, "mallopt", None)
        if mallopt is not None:
            applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    _done.append(applied)
    return applied
