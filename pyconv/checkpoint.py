"""Checkpoint files that cannot run code when read.

A checkpoint is one .npz (zip) file. Every numpy array of the saved structure is an .npy member
named by its path in the structure (`model/conv1.weight`, `optimizer/state/3/exp_avg`); the
rest (dicts, lists, tuples, numbers, strings, None) is the JSON member `checkpoint.json`, where
{"__array__": name} stands for an array. Reading uses np.load(allow_pickle=False) and json, which
only build arrays and plain values, unlike pickle, which runs whatever the file asks for: a
crafted checkpoint can at worst fail to load.

JSON cannot say everything Python can, so a few values are wrapped in a one-key object:
{"__tuple__": [...]} (np.random.get_state() must get a tuple back), {"__items__": [[key, value],
...]} for a dict with keys that are not strings (the optimizer's state is keyed by parameter
index) and {"__scalar__": name} for a numpy scalar, kept as a 0-d array so its dtype survives.
Python floats round-trip exactly, inf and nan included; big integers (PCG64 states) too.
pyconv.save (serialization.py) writes the same JSON tree into a safetensors file.
"""
import functools
import json
import os
import tempfile
import zipfile

import numpy as np

FORMAT = "pyconv-checkpoint"
VERSION = 1
TREE = "checkpoint.json"
TEMP_PREFIX = ".tmp-"


class CheckpointError(ValueError):
    """A checkpoint that cannot, or must not, be loaded."""


# -- writing -----------------------------------------------------------------------------------
def atomic_write(path, write):
    """Call write(file) on a temporary file beside `path`, then rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX, suffix=os.path.basename(path))
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; give it the usual mode
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_temporaries(directory):
    """Delete the temporary files that an atomic_write killed mid-way left in `directory`
    (a crash skips its cleanup); returns their names."""
    if not os.path.isdir(directory):
        return []
    names = sorted(n for n in os.listdir(directory)
                   if n.startswith(TEMP_PREFIX) and os.path.isfile(os.path.join(directory, n)))
    for name in names:
        os.remove(os.path.join(directory, name))
    return names


def save_checkpoint(path, tree):
    """Write a nested structure of dicts, lists, tuples, numpy arrays and scalars, Python numbers,
    strings and None to `path` atomically."""
    encoder = TreeEncoder(reserved=(TREE,))
    document = {"format": FORMAT, "version": VERSION, "tree": encoder.encode(tree)}
    text = json.dumps(document)
    atomic_write(path, lambda f: _write_archive(f, text, encoder.arrays))


def _write_archive(f, text, arrays):
    with zipfile.ZipFile(f, "w") as archive:
        archive.writestr(TREE, text)
        for name, array in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


# -- the JSON tree, shared with pyconv.save ----------------------------------------------------
ARRAY_MARKERS = ("__array__", "__scalar__")
_STRUCTURE_MARKERS = ("__tuple__", "__items__")


def array_leaf(value):
    """(marker, array) for a numpy array or scalar, None for anything else."""
    if isinstance(value, np.ndarray):
        return "__array__", np.asarray(value)  # a subclass (np.matrix) is saved as its plain array
    if isinstance(value, np.generic):  # kept as a 0-d array so that its dtype survives
        return "__scalar__", np.asarray(value)
    return None


class TreeEncoder:
    """Turns a nested structure into JSON data, setting its arrays aside in `self.arrays` under
    their path in the structure; {marker: name} stands for each. `leaf(value)` says which values
    are arrays ((marker, array), else None); pyconv.save adds Tensors to numpy's arrays and
    scalars. Names in `reserved` are left free (the container's own entries)."""

    def __init__(self, leaf=array_leaf, markers=ARRAY_MARKERS, reserved=(), owner="a checkpoint"):
        self.leaf, self.reserved, self.owner = leaf, set(reserved), owner
        self.markers = set(markers) | set(_STRUCTURE_MARKERS)
        self.arrays = {}

    def encode(self, value, path=""):
        found = self.leaf(value)  # first: np.float64 is a float, yet it is kept as an array
        if found is not None:
            return {found[0]: self._set_aside(found[1], path)}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, _join(path, i)) for i, v in enumerate(value)]}
        if isinstance(value, list):
            return [self.encode(v, _join(path, i)) for i, v in enumerate(value)]
        if isinstance(value, dict):
            return self._encode_dict(value, path)
        raise TypeError(f"{self.owner} cannot hold {type(value).__name__} (at {path or 'the top level'})")

    def _set_aside(self, array, path):
        if array.dtype.hasobject:
            raise TypeError(f"{self.owner} cannot hold object arrays, which need pickle (at {path})")
        name = path or "array"
        n = 1
        while name in self.arrays or name in self.reserved:  # keys containing "/" could otherwise collide
            n += 1
            name = f"{path}#{n}"
        self.arrays[name] = array
        return name

    def _encode_dict(self, value, path):
        if all(isinstance(k, str) for k in value) and not any(k in self.markers for k in value):
            return {k: self.encode(v, _join(path, k)) for k, v in value.items()}
        for k in value:
            if not (k is None or isinstance(k, (bool, int, float, str))):
                raise TypeError(f"{self.owner} cannot hold a dict key of type {type(k).__name__} (at {path})")
        return {"__items__": [[k, self.encode(v, _join(path, k))] for k, v in value.items()]}


def _join(path, key):
    return f"{path}/{key}" if path else str(key)


def decode_tree(node, leaves):
    """The structure TreeEncoder.encode turned into `node`; `leaves` maps each array marker to a
    function of the array's name that gives the value."""
    if isinstance(node, list):
        return [decode_tree(v, leaves) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        (key, value), = node.items()
        if key in leaves:
            return leaves[key](value)
        if key == "__tuple__":
            return tuple(decode_tree(v, leaves) for v in value)
        if key == "__items__":
            return {k: decode_tree(v, leaves) for k, v in value}
    return {k: decode_tree(v, leaves) for k, v in node.items()}


# -- reading -----------------------------------------------------------------------------------
def load_checkpoint(path):
    """The structure save_checkpoint wrote, read without running any code from the file; a file
    that is not such a checkpoint raises CheckpointError."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # numpy takes what is neither .npy nor .npz for a pickle and, rightly, refuses it
        raise CheckpointError(f"{path} is not a pyconv checkpoint: not an .npz archive "
                              f"(perhaps a pickle, which pyconv never loads)") from None
    except (EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path} is not a pyconv checkpoint: a damaged .npz archive ({e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise CheckpointError(f"{path} is a single .npy array, not a pyconv checkpoint")
    with archive:
        try:
            document = json.loads(archive[TREE])
            if not isinstance(document, dict) or document.get("format") != FORMAT:
                raise ValueError(f"its {TREE} is not a {FORMAT}")
            if document.get("version") != VERSION:
                raise ValueError(f"format version {document.get('version')!r}; this pyconv reads {VERSION}")
            read = functools.partial(_read_array, archive)
            return decode_tree(document["tree"], {"__array__": read, "__scalar__": lambda name: read(name)[()]})
        except (KeyError, ValueError, TypeError, EOFError, RecursionError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{path} is not a valid pyconv checkpoint: {e}") from None


def _read_array(archive, name):
    try:
        value = archive[name]  # allow_pickle=False: an object (pickled) member raises ValueError
    except ValueError as e:
        raise ValueError(f"member {name!r} cannot be read without pickle, which pyconv never uses ({e})") from None
    if not isinstance(value, np.ndarray):
        raise ValueError(f"member {name!r} is not an .npy array")
    return value
