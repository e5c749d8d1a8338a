"""Build the C backend with AddressSanitizer + UndefinedBehaviorSanitizer and run its tests.

The sanitized extension goes into a copy of the package in a temporary directory, so the normal
build is untouched; the C tests run there in a child Python with libasan preloaded (a Python
interpreter is not itself built with ASan). Any out-of-bounds access, use-after-free or undefined
behaviour aborts the child and fails this test. Skipped where no C compiler or libasan exists.
"""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# every step of the kernel ladder on the conformance cases, the C kernels' own tests, the bounded
# fuzz against numpy_ref, and the absurd-input cases (misaligned buffers, huge geometry, fork),
# whose children inherit the sanitizer
SANITIZED_TESTS = ("test_kernel_ladder.py", "test_c_backend.py", "test_c_fuzz.py", "test_c_robust.py",
                   "test_c_fast_paths.py")


def _libasan():
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if not cc:
        return None
    try:
        out = subprocess.run([cc, "-print-file-name=libasan.so"], capture_output=True, text=True)
    except OSError:
        return None
    path = out.stdout.strip()
    return path if os.path.isabs(path) and os.path.exists(path) else None


@pytest.mark.slow
@pytest.mark.parametrize("portable", ["0", "1"], ids=["native", "portable"])
def test_c_kernels_under_asan_and_ubsan(tmp_path, portable):
    """native: the AVX-512/AVX2 tiles of this machine; portable: the generic x86-64 (SSE2) tiles,
    whose panel sizes (6 x 8 floats) exercise other edge cases of the blocking."""
    pytest.importorskip("cffi")
    libasan = _libasan()
    if libasan is None:
        pytest.skip("no C compiler with AddressSanitizer here")
    pkg = tmp_path / "pyconv"
    shutil.copytree(os.path.join(ROOT, "pyconv"), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.so", "_cconv.c", "*.o"))
    env = dict(os.environ, PYCONV_SANITIZE="1", PYCONV_PORTABLE=portable)
    build = subprocess.run([sys.executable, os.path.join(ROOT, "pyconv", "_build_c.py"), str(pkg)],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stdout + build.stderr
    env.update(PYTHONPATH=str(tmp_path), LD_PRELOAD=libasan, OMP_NUM_THREADS="2", PYCONV_FUZZ_CASES="60",
               PYCONV_TEST_BACKENDS="c",
               ASAN_OPTIONS="detect_leaks=0:abort_on_error=1",
               UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1")
    check = ("import pyconv._cconv as m, sys; "
             f"sys.exit(0 if m.__file__.startswith({str(tmp_path)!r}) else 'not the sanitized build')")
    where = subprocess.run([sys.executable, "-c", check], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert where.returncode == 0, where.stdout + where.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                          "-p", "no:randomly",
                          *(os.path.join(ROOT, "tests", name) for name in SANITIZED_TESTS)],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
