"""torch.cuda's everyday questions, answered for pyconv, which computes on one GPU (the current
one, chosen with CUDA_VISIBLE_DEVICES) through CuPy:

    device = pyconv.device("cuda" if pyconv.cuda.is_available() else "cpu")
"""
from . import device as _device
from . import random as _random


def is_available():
    """True when CuPy imports and sees a GPU."""
    return _device.cuda_available()


def device_count():
    """GPUs pyconv can compute on: 1 when CUDA is available (it uses the current GPU only), else 0."""
    return 1 if is_available() else 0


def current_device():
    _require()
    return 0


def get_device_name(device=None):
    """The name of the GPU, e.g. 'NVIDIA H200'."""
    cp = _require()
    name = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)["name"]
    return name.decode() if isinstance(name, bytes) else name


def synchronize(device=None):
    """Wait until every kernel queued on the GPU has finished (for timing)."""
    _require().cuda.Device().synchronize()


def empty_cache():
    """Give the memory CuPy keeps for reuse back to the driver."""
    cp = _device.cupy_or_none()
    if cp is not None and is_available():
        cp.get_default_memory_pool().free_all_blocks()


def manual_seed(seed):
    """Seed the GPU's generator (dropout masks on the GPU); pyconv.manual_seed seeds it too."""
    _random.manual_seed_cuda(seed)


manual_seed_all = manual_seed  # there is one GPU


def _require():
    return _device.array_module("cuda")
