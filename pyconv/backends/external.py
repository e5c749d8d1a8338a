"""Backends from outside pyconv: a student's module joins the registry and is checked.

A backend module only has to define the primitives it implements, with the contract's names and
parameters (contract.py); `external_backend` wraps it into a complete backend whose other
primitives run on numpy_ref, and warns once, naming them, the first time one of those runs (a
slow fallback must never be silent). `check` compares every primitive the module provides with
the reference on the conformance cases, forward and backward, float32 and float64:

    import pyconv
    pyconv.backends.register("mine", "my_kernels")   # my_kernels.py defines conv2d_forward
    print(pyconv.backends.check("mine"))             # one line per primitive: passed / failed
    with pyconv.backend("mine"):
        ...                                          # the ops now call my_kernels.conv2d_forward
"""
import types
import warnings

import numpy as np

from . import conformance, numpy_ref
from .contract import PRIMITIVES


def external_backend(name, module):
    """A complete backend namespace around `module` (see the module docstring)."""
    provided = [p for p in PRIMITIVES if callable(getattr(module, p, None))]
    if not provided:
        raise ValueError(f"backend {name!r} ({getattr(module, '__name__', module)!r}) defines none of "
                         f"the primitives: {', '.join(PRIMITIVES)}")
    missing = tuple(p for p in PRIMITIVES if p not in provided)
    ns = types.SimpleNamespace(
        NAME=name, DEVICE=getattr(module, "DEVICE", "cpu"), xp=getattr(module, "xp", np),
        MODULE=module, PROVIDED=tuple(provided), FALLBACKS=missing,
        available=getattr(module, "available", lambda: (True, "")),
        kernel_steps=lambda: _steps(module, provided),
        default_step=getattr(module, "default_step", lambda primitive: 1),
    )
    for p in provided:
        setattr(ns, p, getattr(module, p))
    warned = []
    for p in missing:
        setattr(ns, p, _fallback(name, p, missing, warned))
    return ns


def _steps(module, provided):
    own = getattr(module, "kernel_steps", None)
    steps = dict(own()) if own else {}
    for p in PRIMITIVES:
        if p not in steps:
            origin = "yours" if p in provided else "numpy_ref (not provided: the fallback)"
            steps[p] = (("external" if p in provided else "fallback", origin),)
    return steps


def _fallback(name, primitive, missing, warned):
    reference = getattr(numpy_ref, primitive)

    def run(*args, **kwargs):
        if not warned:
            warned.append(True)
            warnings.warn(f"backend {name!r} does not provide {', '.join(missing)}: they run on the "
                          f"numpy reference", RuntimeWarning, stacklevel=3)
        return reference(*args, **kwargs)
    run.__name__ = primitive
    return run


class CheckReport:
    """What `check` found: rows of (primitive, dtype, cases passed, cases, first problem)."""

    def __init__(self, name, rows, fallbacks):
        self.name, self.rows, self.fallbacks = name, rows, fallbacks

    @property
    def ok(self):
        return all(passed == total for _, _, passed, total, _ in self.rows)

    def __str__(self):
        lines = [f"backend {self.name!r} against numpy_ref on the conformance cases:"]
        for primitive, dtype, passed, total, problem in self.rows:
            verdict = "ok" if passed == total else f"FAILED: {problem}"
            lines.append(f"  {primitive:<24} {dtype:<8} {passed:>3}/{total:<3} {verdict}")
        if self.fallbacks:
            lines.append(f"  not provided (run on numpy_ref): {', '.join(self.fallbacks)}")
        lines.append("all provided primitives agree" if self.ok else "some primitives disagree")
        return "\n".join(lines)


def check(name):
    """Run the conformance cases of every primitive backend `name` provides; a CheckReport."""
    from . import import_module
    be = import_module(name)
    provided = getattr(be, "PROVIDED", PRIMITIVES)
    rows = []
    for primitive in provided:
        for dtype in (np.float32, np.float64):
            problems = []
            for case in conformance.CASES[primitive]:
                try:
                    problem = conformance.mismatch(be, primitive, case, dtype)
                except Exception as exc:  # a student's kernel may raise anything: report it
                    problem = f"{primitive} {case}: raised {type(exc).__name__}: {exc}"
                problems.append(problem)
            bad = [p for p in problems if p]
            rows.append((primitive, np.dtype(dtype).name, len(problems) - len(bad), len(problems),
                         bad[0] if bad else ""))
    return CheckReport(name, rows, tuple(getattr(be, "FALLBACKS", ())))
