"""IDX files, the format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout, all integers big-endian: two zero bytes, a type code, the number of dimensions n,
then n 4-byte sizes, then the values in row-major order.
"""
import gzip
import math
import os
import struct
import zlib

import numpy as np

# type code -> big-endian numpy dtype
IDX_DTYPES = {
    0x08: np.dtype(">u1"), 0x09: np.dtype(">i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}


class IDXError(ValueError):
    """A file that is not a valid IDX file (bad magic number, truncated, corrupt)."""


MAX_BYTES = 4 << 30  # the largest data read_idx accepts by default; MNIST's biggest is 47 MB
MAX_DIMS = 4
_CHUNK = 1 << 20
# what a damaged gzip stream raises (BadGzipFile also covers a .gz file that is not gzip)
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


def _open(path):
    with open(path, "rb") as f:
        head = f.read(2)
    compressed = head == b"\x1f\x8b" or str(path).endswith(".gz")
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _read_into(f, buffer):
    """Fill the byte memoryview `buffer` from `f` in chunks, so that no copy of the whole data
    is ever made; returns how many bytes were read (fewer at the end of the stream)."""
    got = 0
    while got < len(buffer):
        n = f.readinto(buffer[got:got + _CHUNK])
        if not n:
            break
        got += n
    return got


def _read_exactly(f, n):
    buffer = bytearray(n)
    return bytes(buffer[:_read_into(f, memoryview(buffer))])


def _header(f, path, max_bytes):
    """(shape, big-endian dtype) from the header, checked before any data is read."""
    raw = _read_exactly(f, 4)
    if len(raw) < 4:
        raise IDXError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw)
    if zero != 0 or code not in IDX_DTYPES:
        what = "unknown type code" if zero == 0 else "the first two bytes must be zero"
        raise IDXError(f"{path}: bad magic number 0x{raw.hex()}: {what} "
                       f"(expected 0x0000 followed by a type code in "
                       f"{', '.join(hex(c) for c in IDX_DTYPES)} and the number of dimensions)")
    if not 1 <= ndim <= MAX_DIMS:
        raise IDXError(f"{path}: the header gives {ndim} dimensions; IDX data has 1 to {MAX_DIMS}")
    sizes = _read_exactly(f, 4 * ndim)
    if len(sizes) < 4 * ndim:
        raise IDXError(f"{path}: truncated header ({4 + len(sizes)} bytes, need {4 + 4 * ndim} "
                       f"for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = IDX_DTYPES[code]
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: cannot overflow
    if nbytes > max_bytes:
        raise IDXError(f"{path}: the header promises shape {shape} of {dtype.name}, {nbytes} bytes, "
                       f"more than max_bytes={max_bytes} (pass a larger max_bytes to read it)")
    return shape, dtype


def _body(f, path, shape, dtype):
    data = np.empty(shape, dtype=dtype)
    got = _read_into(f, memoryview(data.reshape(-1).view(np.uint8)))
    header = 4 + 4 * len(shape)
    if got < data.nbytes:
        raise IDXError(f"{path}: truncated: {header + got} bytes, the header (shape {shape}, "
                       f"{dtype.name}) needs {header + data.nbytes}")
    if f.read(1):  # one byte tells; reading the rest would let a gzip bomb fill memory
        raise IDXError(f"{path}: unexpected bytes after the data (shape {shape}, {dtype.name}): "
                       f"the file is longer than its header says")
    if not dtype.isnative:  # swap in place: astype would hold two copies at once
        data = data.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return data


def read_idx(path, max_bytes=None):
    """Read an IDX file (plain or .gz) into a numpy array of its native dtype and shape.

    The header is checked first and then exactly the data it promises is read into the array,
    so a corrupt or malicious file costs no more memory than its header admits; `max_bytes`
    (default MAX_BYTES) caps that. Any mismatch raises IDXError.
    """
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    with _open(path) as f:
        try:
            shape, dtype = _header(f, path, max_bytes)
            return _body(f, path, shape, dtype)
        except _GZIP_ERRORS as exc:
            raise IDXError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def write_idx(path, array):
    """Write a numpy array as an IDX file (gzip-compressed when `path` ends in .gz)."""
    array = np.asarray(array)
    if not 1 <= array.ndim <= MAX_DIMS:  # read_idx would refuse the file
        raise ValueError(f"IDX data has 1 to {MAX_DIMS} dimensions, got shape {array.shape}")
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise TypeError(f"IDX has no type code for dtype {array.dtype}")
    body = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    body += np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    tmp = f"{path}.tmp{os.getpid()}"
    with opener(tmp, "wb") as f:
        f.write(body)
    os.replace(tmp, path)
