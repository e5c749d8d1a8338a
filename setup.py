"""Build script: the pure-Python package plus the optional cffi extension `pyconv._cconv`.

The C backend is optional: if the compiler or OpenMP is missing, or the build fails, the
package still installs and `pyconv.available_backends()["c"]` says why it is disabled.
"""
import glob
import os
import shutil
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPyWithCuda(build_py):
    """Ship csrc/cuda/*.cu and *.cuh inside the package as pyconv/cuda/, where the cuda backend
    looks for them in an installed (non-editable) copy."""

    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "pyconv", "cuda")
        os.makedirs(target, exist_ok=True)
        for path in glob.glob(os.path.join(HERE, "csrc", "cuda", "*.cu*")):
            shutil.copy(path, target)


class OptionalBuildExt(build_ext):
    """Build extensions, but never fail the install because the C backend did not compile."""

    def run(self):
        try:
            super().run()
        except Exception as exc:
            self._warn(exc)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc):
        print(f"WARNING: the pyconv C extension was not built ({exc}); "
              f"the 'c' backend will be disabled and pyconv falls back to numpy.", file=sys.stderr)


options = {"cmdclass": {"build_ext": OptionalBuildExt, "build_py": BuildPyWithCuda}}
if os.path.exists(os.path.join(HERE, "pyconv", "_build_c.py")):
    options["cffi_modules"] = ["pyconv/_build_c.py:ffibuilder"]

setup(**options)
