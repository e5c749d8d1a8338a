"""Why the C extension `pyconv._cconv` is missing, and how to fix it (for `python -m pyconv info`).

    diagnose_c_extension()            # {"state": ..., "reason": ..., "fix": ...}, no compiling
    diagnose_c_extension(build=True)  # also tries the build in a temporary folder

States:
  "built"          the extension loads;
  "no-compiler"    no C compiler on PATH ($CC, else the compiler Python was built with, else cc);
  "no-cffi"        the build needs cffi, which is not installed;
  "no-sources"     an installed copy without csrc/: reinstall to rebuild;
  "load-error"     an extension file is there but does not load (built for another Python,
                   a stale build whose functions differ from the wrapper's, a missing libgomp);
  "compile-error"  (build=True) the compiler failed on csrc/: the last lines of its errors;
  "not-built"      everything needed is there, the extension was just never built.
"""
import glob
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

PACKAGE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PACKAGE)
BUILD_SCRIPT = os.path.join(PACKAGE, "_build_c.py")
BUILD_COMMANDS = ("`python pyconv/_build_c.py` in the source folder, or "
                  "`pip install -e . --no-build-isolation`")


def _import_extension():
    """The import error of pyconv._cconv, None when it loads."""
    try:
        importlib.import_module("pyconv._cconv")
    except ImportError as exc:
        return exc
    return None


def _extension_files():
    return sorted(glob.glob(os.path.join(PACKAGE, "_cconv*.so")) + glob.glob(os.path.join(PACKAGE, "_cconv*.pyd")))


def compiler():
    """(the compiler command the build would use, its path or None), as pyconv/_build_c.py picks it."""
    command = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()
    return command, (shutil.which(command[0]) if command else None)


def _has_cffi():
    try:
        importlib.import_module("cffi")
    except ImportError:
        return False
    return True


def _has_sources():
    return os.path.isfile(os.path.join(ROOT, "csrc", "pyconv.h")) and os.path.isfile(BUILD_SCRIPT)


def _try_build():
    """(ok, the tail of the compiler's output): builds into a temporary folder, never over the
    package's own extension."""
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run([sys.executable, BUILD_SCRIPT, tmp], capture_output=True, text=True,
                                cwd=ROOT, check=False)
    text = (result.stderr or "") + (result.stdout or "")
    errors = [line for line in text.splitlines() if "error" in line.lower()]
    return result.returncode == 0, "\n".join((errors or text.splitlines())[-8:])


def diagnose_c_extension(build=False):
    """{"state", "reason", "fix"} for the C extension (see the module docstring)."""
    error = _import_extension()
    if error is None:
        return {"state": "built", "reason": "the C extension pyconv._cconv loads", "fix": ""}
    files = _extension_files()
    if files:
        return {"state": "load-error",
                "reason": f"{os.path.basename(files[0])} is there but does not load: {error}",
                "fix": f"rebuild it for this Python and these sources: {BUILD_COMMANDS}"}
    command, path = compiler()
    if path is None:
        return {"state": "no-compiler",
                "reason": f"no C compiler found (looked for {command[0] if command else 'cc'!r} on PATH; "
                          f"$CC chooses another)",
                "fix": "install gcc or clang with OpenMP (Debian/Ubuntu: apt install build-essential; "
                       "macOS: brew install gcc libomp; conda: conda install c-compiler), "
                       f"then {BUILD_COMMANDS}"}
    if not _has_cffi():
        return {"state": "no-cffi", "reason": "the build needs cffi, which is not installed",
                "fix": f"pip install cffi, then {BUILD_COMMANDS}"}
    if not _has_sources():
        return {"state": "no-sources",
                "reason": "this installed copy has no csrc/ to build from, and no extension was built at install",
                "fix": "reinstall from a source folder with a compiler present: pip install --force-reinstall "
                       "--no-binary pyconv pyconv (the install log shows the compiler's error if it fails)"}
    if build:
        ok, tail = _try_build()
        if not ok:
            return {"state": "compile-error",
                    "reason": f"the C sources do not compile with {path}:\n{tail}",
                    "fix": "fix the error above (a compiler too old for C11, a missing omp.h: set "
                           "PYCONV_NO_OPENMP=1 to build single-threaded), then " + BUILD_COMMANDS}
        return {"state": "not-built", "reason": "the extension compiles here but was never built in place",
                "fix": BUILD_COMMANDS}
    return {"state": "not-built",
            "reason": f"the extension was not built yet (compiler {path} found; no pyconv/_cconv*.so)",
            "fix": f"{BUILD_COMMANDS}; if that fails, `python -m pyconv info --build` tries it and shows "
                   f"the compiler's error"}
