"""IDX files, the format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Layout, all integers big-endian: two zero bytes, a type code, the number of dimensions n,
then n 4-byte sizes, then the values in row-major order.
"""
import gzip
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


def _read_bytes(path):
    with open(path, "rb") as f:
        head = f.read(2)
    compressed = head == b"\x1f\x8b" or str(path).endswith(".gz")
    try:
        if compressed:
            with gzip.open(path, "rb") as f:
                return f.read()
        with open(path, "rb") as f:
            return f.read()
    except (EOFError, OSError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise IDXError(f"{path}: corrupt or truncated gzip stream ({exc})") from exc


def read_idx(path):
    """Read an IDX file (plain or .gz) into a numpy array of its native dtype and shape."""
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise IDXError(f"{path}: too short to be an IDX file ({len(raw)} bytes)")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in IDX_DTYPES:
        raise IDXError(f"{path}: bad magic number 0x{raw[:4].hex()} "
                       f"(expected 0x0000 followed by a type code in "
                       f"{', '.join(hex(c) for c in IDX_DTYPES)} and the number of dimensions)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise IDXError(f"{path}: truncated header ({len(raw)} bytes, need {header} for {ndim} dimensions)")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    dtype = IDX_DTYPES[code]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise IDXError(f"{path}: truncated: {len(raw)} bytes, the header (shape {shape}, {dtype.name}) "
                       f"needs {expected}")
    if len(raw) > expected:
        raise IDXError(f"{path}: {len(raw) - expected} unexpected bytes after the data "
                       f"(shape {shape}, {dtype.name})")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def write_idx(path, array):
    """Write a numpy array as an IDX file (gzip-compressed when `path` ends in .gz)."""
    array = np.asarray(array)
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
