"""pyconv: a reverse-mode autograd engine whose conv2d, pooling and matmul run on our own
numpy, C/OpenMP and CUDA kernels."""
from .backends import available_backends, backend, get_backend, set_backend
from .tensor import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor

__version__ = "0.1.0"
