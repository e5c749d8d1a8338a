"""pyconv's random numbers: one global generator, reset by `manual_seed(seed)`.

Everything random in pyconv draws from it unless it is given its own `generator=` (or `seed=`):
rand/randn and the other random creation functions, nn.init and so every layer's initial
weights, dropout, DataLoader shuffling and its workers' seeds, random_split and the random
transforms. So after `pyconv.manual_seed(0)` a run repeats exactly.

The global generator is a numpy Generator (PCG64) on the host. Dropout on the GPU draws its
mask there, from a CuPy generator that `manual_seed` (or `pyconv.cuda.manual_seed`) seeds too.

`Generator` is the counterpart of torch.Generator: a numpy Generator with `manual_seed`,
`initial_seed`, `seed`, `get_state` and `set_state`, accepted wherever pyconv takes a
`generator=`. States are the numpy bit generator's state dicts.
"""
import numpy as np

from . import device as _device

DEFAULT_SEED = 67280421310721  # a fresh Generator's seed, as torch.Generator's


def _fresh_seed():
    """A 64-bit seed from the operating system's entropy."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0])


class Generator(np.random.Generator):
    """A numpy Generator that can be re-seeded in place: `Generator().manual_seed(42)`."""

    def __init__(self, device="cpu"):
        super().__init__(np.random.PCG64())
        self.device = _device.Device(device)
        self.manual_seed(DEFAULT_SEED)

    def manual_seed(self, seed):
        """Restart the stream from `seed` (an int; negative ones wrap as 64-bit); returns self."""
        seed = int(seed) % 2**64
        self.bit_generator.state = np.random.PCG64(seed).state
        self._initial_seed = seed
        return self

    def initial_seed(self):
        return self._initial_seed

    def seed(self):
        """Re-seed from the operating system's entropy; returns the new seed."""
        seed = _fresh_seed()
        self.manual_seed(seed)
        return seed

    def get_state(self):
        return self.bit_generator.state

    def set_state(self, state):
        self.bit_generator.state = state
        return self

    def __reduce__(self):  # numpy's own would come back as a plain numpy Generator
        return _rebuild, (str(self.device), self._initial_seed, self.get_state())


def _rebuild(device, initial_seed, state):
    generator = Generator(device).manual_seed(initial_seed)
    return generator.set_state(state)


_global = Generator()
_global.seed()
_cuda = {"seed": _global.initial_seed(), "generator": None}  # the generator is made on first use


def manual_seed(seed):
    """Seed the global generator (and the GPU's); returns the global generator."""
    _global.manual_seed(seed)
    manual_seed_cuda(seed)
    return _global


def seed():
    """Seed the global generator from the operating system's entropy; returns the seed."""
    value = _global.seed()
    manual_seed_cuda(value)
    return value


def initial_seed():
    """The seed the global generator last started from."""
    return _global.initial_seed()


def get_rng_state():
    return _global.get_state()


def set_rng_state(state):
    _global.set_state(state)


def default_generator():
    """The global Generator."""
    return _global


def generator_from(generator):
    """The Generator to draw from: the global one for None, a new one for an int seed, else
    `generator` itself (any numpy Generator)."""
    if generator is None:
        return _global
    if isinstance(generator, np.random.Generator):
        return generator
    return Generator().manual_seed(generator)


def manual_seed_cuda(seed):
    """Seed the GPU's generator alone (it is made again, from this seed, on its next use)."""
    _cuda["seed"], _cuda["generator"] = int(seed) % 2**63, None


def cuda_generator():
    """The CuPy RandomState behind GPU dropout, seeded from the last manual_seed."""
    if _cuda["generator"] is None:
        _cuda["generator"] = _device.array_module("cuda").random.RandomState(_cuda["seed"])
    return _cuda["generator"]


def uniform(shape, generator=None, device="cpu"):
    """Samples of U[0, 1) as a float64 array on `device`. `generator`: anything with
    `.random(shape)` (a numpy Generator draws on the host and is copied over; a CuPy one draws on
    the GPU), or None for the global generator (on the GPU, the CuPy one seeded with it)."""
    if generator is not None:
        return _device.array_module(device).asarray(generator.random(shape))
    if _device.check_device(device) == "cpu":
        return _global.random(shape)
    return cuda_generator().random_sample(shape)
