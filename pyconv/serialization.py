"""pyconv.save and pyconv.load: PyTorch's torch.save/torch.load, without pickle.

A saved file is a safetensors file (https://huggingface.co/docs/safetensors): an 8-byte
little-endian header length, a JSON header naming each tensor's dtype, shape and byte range, then
the raw little-endian bytes. Every Tensor and numpy array of the saved object is one safetensors
tensor, named by its path in the object (`fc.weight`, `state/3/exp_avg`); the rest of the object
(dicts, lists, tuples, numbers, strings, bools, None) is one JSON string under the key "pyconv"
of the header's `__metadata__`:

    {"format": "pyconv", "version": 1, "tree": ...}

where the tree is pyconv.checkpoint's encoding with one more kind of leaf: {"__tensor__": name}
for a CPU Tensor, {"__cuda_tensor__": name} for a CUDA one (saved from a host copy), beside
{"__array__": name} and {"__scalar__": name} for numpy arrays and scalars.

A flat state dict ({name: Tensor or array}, as Module.state_dict() gives) is thereby stored
under its own names, so `safetensors.torch.load_file(path)` of a pyconv-saved state dict is the
{name: tensor} dict that PyTorch's load_state_dict takes. The other way, a safetensors file with
no "pyconv" metadata (written by safetensors.torch.save_file, say) loads as an OrderedDict of
name -> Tensor, in the order of its header.

Reading never runs code from the file: safetensors and json only build arrays and plain values.
Pickles (torch.save's legacy format), zip archives (torch.save's default .pt format) and
anything else that is not a whole safetensors file are refused with a SerializationError before
safetensors sees them.
"""
import io
import json
import os
import struct
from collections import OrderedDict

import numpy as np
import safetensors.numpy
from safetensors import SafetensorError

from .checkpoint import ARRAY_MARKERS, TreeEncoder, array_leaf, atomic_write, decode_tree
from .device import check_device, cuda_available, move
from .tensor import Tensor

FORMAT = "pyconv"
VERSION = 1
METADATA_KEY = "pyconv"
_TENSOR_MARKERS = {"cpu": "__tensor__", "cuda": "__cuda_tensor__"}
_MARKERS = ARRAY_MARKERS + tuple(_TENSOR_MARKERS.values())

# The dtypes that both numpy and safetensors know, by their safetensors names.
_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "U16": np.uint16, "I16": np.int16,
           "U32": np.uint32, "I32": np.int32, "U64": np.uint64, "I64": np.int64,
           "F16": np.float16, "F32": np.float32, "F64": np.float64}
_NUMPY_DTYPES = {np.dtype(t) for t in _DTYPES.values()}


class SerializationError(ValueError):
    """A file that pyconv.load cannot, or must not, read."""


# -- saving ------------------------------------------------------------------------------------
def save(obj, f):
    """Write `obj` to `f` (a path, written atomically, or a binary file object) as safetensors.

    `obj` is a Tensor, numpy array, or nested dicts/lists/tuples of those, numbers, strings,
    bools and None: a Module's or optimizer's state_dict(), a training checkpoint. Modules and
    other objects are refused (saving them would need pickle): save model.state_dict().
    """
    encoder = TreeEncoder(leaf=_leaf, markers=_MARKERS, reserved=("__metadata__",), owner="pyconv.save")
    document = {"format": FORMAT, "version": VERSION, "tree": encoder.encode(obj)}
    data = safetensors.numpy.save(encoder.arrays, metadata={METADATA_KEY: json.dumps(document)})
    if hasattr(f, "write"):
        f.write(data)
    else:
        atomic_write(os.fspath(f), lambda file: file.write(data))


def _leaf(value):
    if isinstance(value, Tensor):
        found = _TENSOR_MARKERS[value.device], value.numpy()  # numpy(): the host copy of a CUDA tensor
    elif hasattr(value, "state_dict"):  # a Module, an optimizer: torch.save would pickle them
        raise TypeError(f"pyconv.save cannot hold a {type(value).__name__}: objects are saved by pickle, "
                        f"which pyconv never uses. Save its .state_dict() and load that into one "
                        f"built by your code")
    else:
        found = array_leaf(value)
    if found is None:
        return None
    marker, array = found
    little = array.dtype.newbyteorder("<")
    if little not in _NUMPY_DTYPES:
        raise TypeError(f"pyconv.save cannot hold arrays of dtype {array.dtype}; safetensors "
                        f"stores {', '.join(sorted(str(d) for d in _NUMPY_DTYPES))}")
    # safetensors copies raw bytes from the start of the buffer: a strided view would be saved
    # as the wrong elements, a big-endian array byte-swapped.
    return marker, np.asarray(array, dtype=little, order="C")


# -- loading -----------------------------------------------------------------------------------
def load(f, map_location=None, weights_only=True):
    """The object pyconv.save wrote to `f` (a path or a binary file object), or the
    OrderedDict of name -> Tensor in any other safetensors file.

    map_location: None puts each Tensor back on the device it was saved from; "cpu" or "cuda"
    (or a dict such as {"cuda:0": "cpu"}) moves them. numpy arrays stay numpy arrays.
    weights_only: accepted for PyTorch's signature and ignored: whatever its value, pyconv files
    hold only tensors, arrays and plain values, and pyconv never unpickles (unpickling can run
    code), so a script that passes weights_only=False for an old checkpoint still loads only data.
    """
    name = _name_of(f)
    place = _placement(map_location)
    if isinstance(f, io.TextIOBase):
        raise TypeError(f"pyconv.load({name!r}): the file must be opened in binary mode ('rb')")
    data = f.read() if hasattr(f, "read") else _read(name)
    header = _check_header(data, name)
    arrays = _arrays(data, name)
    metadata = header.get("__metadata__") or {}
    if METADATA_KEY not in metadata:
        tensors = ((key, arrays[key]) for key in header if key != "__metadata__")
        return OrderedDict((key, _tensor(a, place("cpu"), name)) for key, a in tensors)
    return _decode(metadata[METADATA_KEY], arrays, place, name)


def _name_of(f):
    if hasattr(f, "read"):
        return str(getattr(f, "name", "the file object"))
    return os.fspath(f)


def _read(path):
    with open(path, "rb") as file:
        return file.read()


def _check_header(data, name):
    """The safetensors header of `data`, after refusing what is not a safetensors file."""
    if data[:1] == b"\x80":
        raise SerializationError(
            f"{name} is a pickle file (a torch.save .pt of the legacy format or similar); pyconv never "
            f"unpickles, since that can run code. Save it as safetensors: in PyTorch, "
            f"safetensors.torch.save_file(model.state_dict(), 'model.safetensors'); in pyconv, pyconv.save")
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        raise SerializationError(
            f"{name} is a zip archive (torch.save's .pt format, or a pyconv training checkpoint, which "
            f"pyconv.checkpoint.load_checkpoint reads), not a safetensors file; pyconv never unpickles, "
            f"since that can run code. Save it as safetensors: in PyTorch, "
            f"safetensors.torch.save_file(model.state_dict(), 'model.safetensors'); in pyconv, pyconv.save")
    if len(data) < 8:
        raise SerializationError(f"{name} is not a safetensors file: {len(data)} bytes, fewer than "
                                 f"the 8 of the header length")
    size, = struct.unpack("<Q", data[:8])
    if size > len(data) - 8:
        raise SerializationError(f"{name} is not a whole safetensors file: its header claims {size} "
                                 f"bytes, but only {len(data) - 8} follow (truncated, or not safetensors)")
    try:
        header = json.loads(data[8:8 + size])
    except (UnicodeDecodeError, ValueError, RecursionError):
        header = None
    if not isinstance(header, dict):
        raise SerializationError(f"{name} is not a safetensors file: its header is not a JSON object")
    _check_entries(header, name)
    return header


def _check_entries(header, name):
    for key, entry in header.items():
        if key == "__metadata__":
            if not isinstance(entry, dict):
                raise SerializationError(f"{name} is not a valid safetensors file: __metadata__ is not an object")
        elif not isinstance(entry, dict):
            raise SerializationError(f"{name} is not a valid safetensors file: entry {key!r} is not an object")
        elif entry.get("dtype") not in _DTYPES:
            raise SerializationError(
                f"{name}: tensor {key!r} has dtype {entry.get('dtype')!r}, which numpy (and so pyconv) has "
                f"no type for; convert it before saving (in PyTorch, .float() makes bfloat16 float32)")


def _arrays(data, name):
    try:
        arrays = safetensors.numpy.load(data)
    except (SafetensorError, KeyError, ValueError, TypeError) as e:
        raise SerializationError(f"{name} is a damaged safetensors file: {e}") from None
    # Each array owns a fresh buffer; copy only if a safetensors version hands out read-only views.
    return {k: a if a.flags.writeable else a.copy() for k, a in arrays.items()}


def _placement(map_location):
    """A function from the device a tensor was saved from to the device it loads onto."""
    if map_location is None:
        return check_device
    if isinstance(map_location, dict):
        mapping = {check_device(k): check_device(v) for k, v in map_location.items()}
        return lambda device: mapping.get(device, device)
    if callable(map_location):
        raise TypeError("pyconv.load takes map_location as None, a device or a dict of devices, not a function")
    device = check_device(map_location)
    return lambda _saved: device


def _decode(text, arrays, place, name):
    try:
        document = json.loads(text)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError("its pyconv metadata is not a pyconv document")
        if document.get("version") != VERSION:
            raise ValueError(f"format version {document.get('version')!r}; this pyconv reads {VERSION}")
        leaves = {"__array__": lambda key: arrays[key], "__scalar__": lambda key: arrays[key][()]}
        for device, marker in _TENSOR_MARKERS.items():
            leaves[marker] = lambda key, device=device: _tensor(arrays[key], place(device), name)
        return decode_tree(document["tree"], leaves)
    except (KeyError, ValueError, TypeError, RecursionError) as e:
        raise SerializationError(f"{name} is not a valid pyconv file: {e!r}") from None


def _tensor(array, device, name):
    if device == "cuda" and not cuda_available():
        raise RuntimeError(f"{name}: its tensors would load onto 'cuda', but CuPy or a GPU is missing "
                           f"here; pass map_location='cpu'")
    return Tensor(move(array, device))
