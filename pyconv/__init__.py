"""pyconv: a reverse-mode autograd engine whose conv2d, pooling and matmul run on our own
numpy, C/OpenMP and CUDA kernels.

Laid out as torch is: pyconv.nn, pyconv.optim, pyconv.utils.data, pyconv.vision (torchvision's
datasets and transforms), pyconv.cuda, pyconv.device("cuda"), pyconv.manual_seed. The
subpackages are imported on first use, so that `import pyconv` stays quick.
"""
import importlib

from . import kernels, ops, random
from .backends import available_backends, backend, get_backend, set_backend
from .creation import *  # noqa: F401,F403
from .creation import __all__ as _creation_all
from .gradcheck import gradcheck
from .ops import *  # noqa: F401,F403
from .memory import empty_cache, memory_stats, reset_peak_memory_stats
from .random import Generator, get_rng_state, initial_seed, seed, set_rng_state
from .scalar import Value
from .serialization import load, save
from .tensor import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"


def set_num_threads(n):
    """Threads used by the c backend's kernels (OpenMP); honours OMP_NUM_THREADS by default."""
    from .backends import module
    module("c").set_num_threads(n)


def get_num_threads():
    """Threads the c backend uses (1 when it is disabled)."""
    from .backends import available_backends as _status, module
    return module("c").get_num_threads() if _status()["c"] == "enabled" else 1


# loaded by __getattr__ on first use: `import pyconv as pc; pc.nn.Linear(...)` just works
SUBMODULES = ("nn", "optim", "data", "utils", "vision", "models", "cuda", "accelerator", "train",
              "checkpoint")


def __getattr__(name):
    if name in SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'pyconv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(SUBMODULES))


__all__ = (["Function", "Tensor", "Value", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
            "Generator", "initial_seed", "seed", "get_rng_state", "set_rng_state", "device",
            "gradcheck", "save", "load", "available_backends", "backend", "get_backend", "set_backend",
            "set_num_threads", "get_num_threads", "memory_stats", "reset_peak_memory_stats",
            "empty_cache"] + list(ops.__all__) + list(_creation_all))
