"""Build script: the pure-Python package plus the optional cffi extension `pyconv._cconv`.

The C backend is optional: if the compiler or OpenMP is missing, or the build fails, the
package still installs and `pyconv.available_backends()["c"]` says why it is disabled.
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


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


options = {"cmdclass": {"build_ext": OptionalBuildExt}}
if os.path.exists(os.path.join(os.path.dirname(os.path.abspath(__file__)), "pyconv", "_build_c.py")):
    options["cffi_modules"] = ["pyconv/_build_c.py:ffibuilder"]

setup(**options)
