"""pyconv: a reverse-mode autograd engine whose conv2d, pooling and matmul run on our own
numpy, C/OpenMP and CUDA kernels."""
from . import ops
from .backends import available_backends, backend, get_backend, set_backend
from .creation import *  # noqa: F401,F403
from .creation import __all__ as _creation_all
from .gradcheck import gradcheck
from .ops import *  # noqa: F401,F403
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


__all__ = (["Function", "Tensor", "Value", "tensor", "no_grad", "enable_grad", "is_grad_enabled",
            "gradcheck", "save", "load", "available_backends", "backend", "get_backend", "set_backend",
            "set_num_threads", "get_num_threads"] + list(ops.__all__) + list(_creation_all))
