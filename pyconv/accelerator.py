"""torch.accelerator's questions: the one accelerator pyconv knows is a CUDA GPU.

    device = pyconv.accelerator.current_accelerator() or pyconv.device("cpu")
"""
from . import cuda
from .device import Device


def is_available():
    return cuda.is_available()


def current_accelerator(check_available=False):
    """pyconv.device("cuda") when a GPU is usable, else None (`check_available` is accepted:
    pyconv only ever names an accelerator it can use)."""
    return Device("cuda") if cuda.is_available() else None


def device_count():
    return cuda.device_count()


def synchronize(device=None):
    cuda.synchronize(device)
