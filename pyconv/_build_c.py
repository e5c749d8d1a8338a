"""cffi build script of the C backend: compiles csrc/*.c into the extension `pyconv._cconv`.

Out-of-line API mode: `ffibuilder.cdef` gets the prototype block of csrc/pyconv.h (between its
`cdef-begin` / `cdef-end` markers) and `set_source` compiles the kernels with the system compiler.

Flags: `-O3 -fopenmp -fno-math-errno` and `-march=native` (no kernel reads errno; with it set, gcc
will not vectorise a loop that calls sqrt: Adam's update ran 5x slower); environment switches:
  PYCONV_PORTABLE=1   build for generic x86-64 (no -march=native), e.g. for wheels
  PYCONV_SANITIZE=1   add -fsanitize=address,undefined (tests/test_c_sanitize.py uses it)
  PYCONV_NO_OPENMP=1  build single-threaded (also chosen when the compiler lacks OpenMP)
  PYCONV_CFLAGS=...   extra compiler flags, e.g. "-DPC_KC=128" to try other cache blocks

Run directly to build the extension in place (next to this file):
    python pyconv/_build_c.py [output_dir]
`setup.py` names it in `cffi_modules`, so `pip install -e . --no-build-isolation` builds it too.
"""
import os
import sys

# Run as a script, this file's folder (the package) comes first on sys.path, where pyconv's own
# random.py would shadow the standard library's (which tempfile imports below): drop it.
if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]

import hashlib  # noqa: E402
import platform  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402

from cffi import FFI  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CSRC = os.path.join(ROOT, "csrc")
# every C file in csrc/ is one translation unit of the extension; every header a dependency
SOURCES = sorted(name for name in os.listdir(CSRC) if name.endswith(".c"))
HEADERS = sorted(name for name in os.listdir(CSRC) if name.endswith(".h"))


def _cdef():
    with open(os.path.join(CSRC, "pyconv.h")) as f:
        text = f.read()
    return text.split("/* cdef-begin */")[1].split("/* cdef-end */")[0]


def _compiler():
    return (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()


def _compiles(flags):
    """Whether the C compiler accepts `flags` on a tiny OpenMP program (compile and link)."""
    src = "#include <omp.h>\nint main(void) { return omp_get_max_threads() > 0 ? 0 : 1; }\n"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.c")
        with open(path, "w") as f:
            f.write(src)
        try:
            result = subprocess.run(_compiler() + flags + [path, "-o", os.path.join(tmp, "t")],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except OSError:
            return False
        return result.returncode == 0


def _flags():
    compile_args, link_args = ["-O3", "-std=gnu11", "-fno-math-errno"], []
    if os.environ.get("PYCONV_PORTABLE") == "1":
        if platform.machine() in ("x86_64", "AMD64"):
            compile_args.append("-march=x86-64")
    else:
        compile_args.append("-march=native")
    if os.environ.get("PYCONV_NO_OPENMP") != "1" and _compiles(["-fopenmp"]):
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    compile_args += os.environ.get("PYCONV_CFLAGS", "").split()
    if os.environ.get("PYCONV_SANITIZE") == "1":
        san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g"]
        compile_args += san
        link_args += san
        compile_args[0] = "-O1"
    return compile_args, link_args


def _set_source(builder, base):
    """Sources are named relative to `base`: the project root for setup.py, "" for absolute paths."""
    def path(name):
        return os.path.join(base, "csrc", name) if base else os.path.join(CSRC, name)
    builder.set_source(
        "pyconv._cconv",
        '#include "pyconv.h"',
        sources=[path(name) for name in SOURCES],
        include_dirs=[path("")],
        depends=[path(name) for name in HEADERS],
        extra_compile_args=_compile_args,
        extra_link_args=_link_args,
    )


_compile_args, _link_args = _flags()
ffibuilder = FFI()
ffibuilder.cdef(_cdef())
_set_source(ffibuilder, ".")


def build(out_dir=None):
    """Compile the extension and copy it to `out_dir` (default: the pyconv package). Returns its path."""
    out_dir = out_dir or os.path.join(ROOT, "pyconv")
    # one build folder per set of flags: distutils reuses object files that look up to date
    flags = hashlib.sha1(" ".join(_compile_args + _link_args).encode()).hexdigest()[:10]
    tmp = os.path.join(ROOT, "build", f"cffi-{flags}")
    builder = FFI()
    builder.cdef(_cdef())
    _set_source(builder, "")
    lib = builder.compile(tmpdir=tmp, verbose=False)
    target = os.path.join(out_dir, os.path.basename(lib))
    if os.path.abspath(lib) != os.path.abspath(target):
        # copy then rename: processes that have the old library loaded keep their (unlinked) copy
        # instead of seeing the file rewritten under them
        staging = target + ".new"
        shutil.copy(lib, staging)
        os.replace(staging, target)
    return target


if __name__ == "__main__":
    print(build(sys.argv[1] if len(sys.argv) > 1 else None))
