"""Collation: a list of samples becomes one batch, as torch's default_collate makes it.

Arrays, Tensors and numbers are stacked along a new first axis (Python ints become int64,
floats float64, as in torch); tuples, lists, named tuples and dicts are collated field by
field; strings are kept as a list. `collate_arrays` builds the batch of numpy arrays (what a
worker process sends back) and `to_tensors` turns its arrays into Tensors.
"""
import numbers

import numpy as np

from ..tensor import Tensor


def collate_arrays(samples):
    """The batch of `samples`, with numpy arrays where default_collate has Tensors."""
    first = samples[0]
    if isinstance(first, Tensor):
        return np.stack([s.numpy() for s in samples])
    if isinstance(first, (np.ndarray, np.generic, numbers.Number)):
        return np.stack([np.asarray(s) for s in samples])
    if isinstance(first, (str, bytes)):
        return list(samples)
    if isinstance(first, dict):
        return {key: collate_arrays([s[key] for s in samples]) for key in first}
    if isinstance(first, (tuple, list)):
        if any(len(s) != len(first) for s in samples):
            raise RuntimeError("each sample in a batch must have the same number of fields")
        fields = [collate_arrays(list(column)) for column in zip(*samples)]
        if hasattr(first, "_fields"):  # a named tuple
            return type(first)(*fields)
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate: samples must be Tensors, numpy arrays, numbers, strings, "
                    f"dicts, tuples or lists; got {type(first).__name__}")


def to_tensors(batch, device=None):
    """`batch` with every numpy array made a Tensor (and every Tensor moved to `device`)."""
    if isinstance(batch, Tensor):
        return batch if device is None else batch.to(device)
    if isinstance(batch, np.ndarray):
        return Tensor(batch, device=device or "cpu")
    if isinstance(batch, dict):
        return {key: to_tensors(value, device) for key, value in batch.items()}
    if isinstance(batch, (tuple, list)) and not isinstance(batch, (str, bytes)):
        fields = [to_tensors(value, device) for value in batch]
        if hasattr(batch, "_fields"):
            return type(batch)(*fields)
        return tuple(fields) if isinstance(batch, tuple) else fields
    return batch


def default_collate(samples):
    """Stack a list of samples into a batch of Tensors."""
    return to_tensors(collate_arrays(samples))
