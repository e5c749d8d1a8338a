"""The backend registry: which module runs the heavy primitives, and how to choose it.

Every backend module exposes the primitives of the `contract.Backend` Protocol (their names,
in order, are PRIMITIVES), with the conventions of CONTRACT.md beside this file; `numpy_ref` is
their executable specification, and `geometry` computes and checks the output sizes for all.

CPU tensors use the *active CPU backend*: `PYCONV_BACKEND` if set, else "c" when the extension
is built, else "numpy" (with a one-time warning that says why). CUDA tensors always use "cuda".

Backends from outside the package (a student's kernels in Numba, Cython, C or CuPy) join with
`register("mine", "my_module")`, `PYCONV_BACKEND=my_module:mine`, or an entry point in the
group "pyconv.backends". Such a module may provide only some primitives: the others run on
numpy_ref, and `fallbacks("mine")` (and a one-time warning) says which. `check("mine")` runs the
conformance cases of every primitive it provides against numpy_ref.
"""
import contextlib
import importlib
import os
import threading
import warnings

from .contract import PRIMITIVES, Backend  # noqa: F401  (the registry's public names)
from .external import check, external_backend  # noqa: F401

_MODULES = {
    "numpy": "pyconv.backends.numpy_ref",
    "c": "pyconv.backends.c_omp",
    "cuda": "pyconv.backends.cuda_cupy",
}
_loaded = {}
_state = threading.local()
_default = None


_BUILTIN = tuple(_MODULES)
_external = {}            # name -> the wrapped module of an external backend
_entry_points_read = False


def registered():
    """Names of all registered backends, enabled or not."""
    _read_entry_points()
    return tuple(_MODULES)


def register(name, module):
    """Register a backend from outside pyconv: `module` is a module or its import path, defining
    some or all primitives of contract.py (the rest run on numpy_ref). Replaces a previous
    registration of `name`; the built-in names cannot be replaced."""
    if name in _BUILTIN:
        raise ValueError(f"{name!r} is a built-in backend; register yours under another name")
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a backend name must be an identifier, got {name!r}")
    _MODULES[name] = module
    _loaded.pop(name, None)
    _external.pop(name, None)


def _read_entry_points():
    """Backends that installed packages declare: [project.entry-points."pyconv.backends"]."""
    global _entry_points_read
    if _entry_points_read:
        return
    _entry_points_read = True
    from importlib.metadata import entry_points
    for ep in entry_points(group="pyconv.backends"):
        if ep.name not in _MODULES:
            _MODULES[ep.name] = ep.value


def import_module(name):
    """The module of backend `name`, imported even when it cannot run here (its `available()`
    says why); an external backend comes wrapped, its missing primitives filled from numpy_ref."""
    registered()
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; registered backends: {', '.join(_MODULES)}")
    target = _MODULES[name]
    if name in _BUILTIN:
        return importlib.import_module(target)
    if name not in _external:
        module = importlib.import_module(target) if isinstance(target, str) else target
        _external[name] = external_backend(name, module)
    return _external[name]


def fallbacks(name):
    """The primitives backend `name` does not provide (they run on numpy_ref)."""
    mod = import_module(name)
    return tuple(getattr(mod, "FALLBACKS", ()))


def _load(name):
    """(module or None, reason it is disabled or "")."""
    registered()
    if name not in _MODULES:
        raise ValueError(f"unknown backend {name!r}; registered backends: {', '.join(_MODULES)}")
    if name not in _loaded:
        try:
            module = import_module(name)
            ok, reason = module.available()
        except Exception as exc:  # a broken optional backend must not break `import pyconv`
            module, ok, reason = None, False, f"{type(exc).__name__}: {exc}"
        _loaded[name] = (module if ok else None, "" if ok else reason)
    return _loaded[name]


def module(name):
    """The module of an enabled backend; raises with the reason when it is disabled."""
    mod, reason = _load(name)
    if mod is None:
        raise RuntimeError(f"backend {name!r} is not available: {reason}")
    return mod


def available_backends():
    """{name: "enabled" or the reason it is disabled} for every registered backend."""
    return {name: (_load(name)[1] or "enabled") for name in _MODULES}


def _check_cpu(name):
    mod = module(name)
    if mod.DEVICE != "cpu":
        raise ValueError(f"backend {name!r} runs on {mod.DEVICE!r}; set_backend chooses the CPU backend "
                         f"(CUDA tensors always use 'cuda': move them with .to('cuda'))")
    return name


def _default_cpu():
    global _default
    if _default is None:
        env = os.environ.get("PYCONV_BACKEND")
        if env and ":" in env:          # my_module:mine, an external backend
            target, _, name = env.rpartition(":")
            register(name, target)
            env = name
        if env:
            _default = _check_cpu(env)
        else:
            c, reason = _load("c")
            if c is None:
                warnings.warn(f"pyconv: the C backend is disabled ({reason}); using the slower numpy "
                              f"reference backend", RuntimeWarning, stacklevel=3)
            _default = "c" if c is not None else "numpy"
    return _default


def get_backend():
    """Name of the active CPU backend."""
    return getattr(_state, "name", None) or _default_cpu()


def set_backend(name):
    """Make `name` the active CPU backend for this thread (and the default of new threads)."""
    global _default
    _default = _check_cpu(name)
    _state.name = _default


@contextlib.contextmanager
def backend(name):
    """Use CPU backend `name` inside the block: `with pyconv.backend("numpy"): ...`."""
    _check_cpu(name)
    previous = getattr(_state, "name", None)
    _state.name = name
    try:
        yield module(name)
    finally:
        _state.name = previous


def for_device(device):
    """The backend module that runs primitives for tensors on `device`."""
    if device == "cuda":
        return module("cuda")
    return module(get_backend())
