"""Choosing a kernel step: one API for the numpy, c and cuda backends.

Every heavy primitive of a backend (the names of `backends.contract.Primitives`) exists as one
or more numbered *steps*: step 1 is the plain loop nest, each next step adds one idea (im2col,
cache blocking, packing and a register-tiled micro-kernel, threads, ...), and one of them, usually
the last, is the default. This module lists them and chooses one:

    import pyconv
    pyconv.kernels.available("conv2d_forward")          # the c backend's steps, with one line each
    with pyconv.kernels.use("conv2d_forward", 3):       # run step 3 inside the block
        y = F.conv2d(x, w)
    pyconv.kernels.use("conv2d_forward", 2, backend="cuda")   # CUDA tensors: the cuda backend's steps
    print(pyconv.kernels.table())                       # every backend's steps and defaults

`use` is a context manager (the choice holds in this thread inside the block); `set_step` makes
a choice for the whole process (until `reset`). The environment variable
`PYCONV_KERNELS` sets choices at start-up: `PYCONV_KERNELS=conv2d_forward=3,cuda:matmul=2`
(an entry without `backend:` applies to the default CPU backend).

A fast step that does not apply to a shape falls back to a lower one; `ran(primitive)` says which
step the last call of a primitive actually ran.

A backend module takes part by defining `kernel_steps()` ({primitive: ((name, doc), ...)},
step 1 first), `default_step(primitive)`, optionally `check_step(primitive, step)` (raises when a
step cannot run here), and by asking `chosen(NAME, primitive)` before each call.
"""
import contextlib
import os
import threading
from typing import NamedTuple

from . import backends

__all__ = ["Step", "available", "default", "use", "set_step", "reset", "chosen", "ran", "defaults", "table"]

ENV = "PYCONV_KERNELS"


class Step(NamedTuple):
    number: int
    name: str
    doc: str


_global = {}                 # {(backend, primitive): step} from PYCONV_KERNELS and plain use()
_local = threading.local()   # .choices: the same, set by `with use(...)` in this thread
_ran = {}                    # {(backend, primitive): the step the last call ran}
_env_read = False
_lock = threading.Lock()


def _module(backend):
    """The backend module, imported even when the backend cannot run here (its steps still list)."""
    if backend not in backends.registered():
        raise ValueError(f"unknown backend {backend!r}; registered backends: {', '.join(backends.registered())}")
    return backends.import_module(backend)


def _resolve(backend):
    return backends.get_backend() if backend is None else backend


def _steps(backend, primitive):
    mod = _module(backend)
    table = mod.kernel_steps()
    if primitive not in table:
        raise ValueError(f"unknown primitive {primitive!r} for backend {backend!r}; "
                         f"primitives: {', '.join(table)}")
    return tuple(Step(i, name, doc) for i, (name, doc) in enumerate(table[primitive], start=1))


def available(primitive, backend=None):
    """The steps of `primitive` on `backend` (default: the active CPU backend), step 1 first."""
    return _steps(_resolve(backend), primitive)


def default(primitive, backend=None):
    """The step `primitive` runs on `backend` when none is chosen."""
    backend = _resolve(backend)
    _steps(backend, primitive)
    return int(_module(backend).default_step(primitive))


def _check(backend, primitive, step):
    steps = _steps(backend, primitive)
    if isinstance(step, bool) or not isinstance(step, int) or not 1 <= step <= len(steps):
        raise ValueError(f"{backend} {primitive} has steps 1..{len(steps)}, not {step!r} "
                         f"(pyconv.kernels.available({primitive!r}, backend={backend!r}) lists them)")
    check = getattr(_module(backend), "check_step", None)
    if check is not None:
        check(primitive, step)


@contextlib.contextmanager
def use(primitive, step, *, backend=None):
    """Run step `step` of `primitive` on `backend` (default: the active CPU backend) inside the
    block, in this thread: `with pyconv.kernels.use("conv2d_forward", 3): ...`."""
    key = (_resolve(backend), primitive)
    _check(*key, step)
    previous = getattr(_local, "choices", {})
    _local.choices = {**previous, key: step}
    try:
        yield available(primitive, key[0])[step - 1]
    finally:
        _local.choices = previous


def set_step(primitive, step, *, backend=None):
    """Run step `step` of `primitive` on `backend` from now on, in every thread (None: the
    default again). A `with use(...)` block still wins inside it."""
    key = (_resolve(backend), primitive)
    if step is not None:
        _check(*key, step)
    with _lock:
        if step is None:
            _global.pop(key, None)
        else:
            _global[key] = step


def reset(primitive=None, *, backend=None):
    """Forget the process-wide choices (of one primitive, or all) made by `set_step` or PYCONV_KERNELS."""
    with _lock:
        for key in list(_global):
            if primitive is None or key == (_resolve(backend), primitive):
                del _global[key]


def _read_env():
    global _env_read
    if _env_read:
        return
    _env_read = True
    text = os.environ.get(ENV, "").strip()
    for entry in filter(None, (e.strip() for e in text.split(","))):
        target, sep, value = entry.partition("=")
        backend, colon, primitive = target.strip().rpartition(":")
        try:
            step = int(value)
            if not sep:
                raise ValueError("no '='")
            key = (backend if colon else backends.get_backend(), primitive)
            _check(*key, step)
        except ValueError as exc:
            _env_read = False
            raise ValueError(f"{ENV}={text!r}: cannot use {entry!r} ({exc}); write entries as "
                             f"[backend:]primitive=step, comma-separated") from None
        _global[key] = step


def chosen(backend, primitive):
    """The step chosen for `primitive` on `backend` (this thread's `with use(...)` first, then the
    process-wide choices), or None: the backend runs its default."""
    _read_env()
    step = getattr(_local, "choices", {}).get((backend, primitive))
    return step if step is not None else _global.get((backend, primitive))


def record(backend, primitive, step):
    """Backends report the step a call actually ran (a fast step may fall back to a lower one)."""
    _ran[(backend, primitive)] = step


def ran(primitive, backend=None):
    """The step the last call of `primitive` on `backend` ran, or None before any call."""
    return _ran.get((_resolve(backend), primitive))


def _listed(backend):
    """(module, its kernel_steps()) or (module, None) when it cannot list them here (the c
    backend without its extension)."""
    mod = _module(backend)
    try:
        return mod, mod.kernel_steps()
    except RuntimeError:
        return mod, None


def defaults():
    """{backend: {primitive: default step}} for every backend that can list its steps here."""
    out = {}
    for backend in backends.registered():
        mod, steps = _listed(backend)
        if steps is not None:
            out[backend] = {p: int(mod.default_step(p)) for p in steps}
    return out


def table(backends_=None):
    """The steps of every primitive of every backend as text, the default marked with '*'."""
    lines = []
    for backend in backends_ or backends.registered():
        mod, steps = _listed(backend)
        if steps is None:
            lines.append(f"{backend}: cannot list its steps here ({backends.available_backends()[backend]})")
            continue
        lines.append(f"{backend}:")
        for primitive, entries in steps.items():
            d = int(mod.default_step(primitive))
            lines.append(f"  {primitive}")
            for i, (name, doc) in enumerate(entries, start=1):
                mark = "*" if i == d else " "
                lines.append(f"   {mark}{i} {name:<22} {doc}")
    return "\n".join(lines)
