"""Counting the host reads of an array: on CuPy each bool(), int(), float(), .item() or
.tolist() of a device array waits for the GPU and copies the value back. Tests of code that should
stay on the device run it on numpy arrays that count these reads, through an array module that
keeps every result such an array (numpy itself turns 0-d results into scalars or, in asarray and
stack, drops the subclass)."""
import numpy as np


class HostReads(np.ndarray):
    """A numpy array whose results stay HostReads and whose reads back to Python are counted."""
    reads = 0

    def __array_wrap__(self, obj, context=None, return_scalar=False):
        return np.asarray(obj).view(HostReads)

    def _host(self, convert):
        HostReads.reads += 1
        return convert(self.view(np.ndarray))

    def __bool__(self):
        return self._host(bool)

    def __float__(self):
        return self._host(float)

    def __int__(self):
        return self._host(int)

    def __index__(self):
        return self._host(int)

    def item(self, *args):
        return self._host(lambda a: a.item(*args))

    def tolist(self):
        return self._host(lambda a: a.tolist())


def counting(a):
    """`a` (an array, or a numpy scalar) as a HostReads; other values unchanged."""
    if isinstance(a, (np.ndarray, np.generic)):
        return np.asarray(a).view(HostReads)
    return a


class CountingNumpy:
    """numpy whose functions return HostReads: an array module to patch in for array_module."""

    def __getattr__(self, name):
        f = getattr(np, name)
        return (lambda *args, **kwargs: counting(f(*args, **kwargs))) if callable(f) else f
