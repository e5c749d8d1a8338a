"""Datasets: anything with __len__ and __getitem__, as in torch.utils.data.

A dataset whose `__getitem__` also accepts an integer index array and returns whole batches
(numpy fancy indexing) sets `batched = True`; DataLoader then fetches a batch in one call
instead of one Python call per item.
"""
import bisect
import math

import numpy as np

from ..random import generator_from
from ..tensor import Tensor


def _to_array(x):
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


class Dataset:
    """Base class: subclasses define __len__ and __getitem__(i) -> sample (often a tuple)."""
    batched = False

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError

    def __add__(self, other):
        return ConcatDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long arrays (or Tensors), as Tensors: (x[i], y[i], ...).
    `transform` (pyconv's addition) maps the first array's rows, a whole batch at a time."""
    batched = True

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_to_array(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"all arrays must have the same first dimension, got {[len(a) for a in self.arrays]}")
        self.transform = transform

    @property
    def tensors(self):
        return tuple(Tensor(a) for a in self.arrays)

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        items = [a[index] for a in self.arrays]
        if self.transform is not None:
            items[0] = self.transform(items[0])
        return tuple(Tensor(item) for item in items)


class Subset(Dataset):
    """The items of `dataset` at `indices`, in that order."""

    def __init__(self, dataset, indices):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batched = getattr(dataset, "batched", False)

    def __len__(self):
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[self.indices[index]]


class ConcatDataset(Dataset):
    """The datasets one after the other (also `dataset_a + dataset_b`)."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset needs at least one dataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self):
        return self.cumulative_sizes[-1]

    def __getitem__(self, index):
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a ConcatDataset of {len(self)} items")
        part = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[part - 1] if part else 0
        return self.datasets[part][index - start]


def _split_lengths(n, lengths):
    """Fractions summing to 1 become counts (the remainder going round-robin to the first parts)."""
    lengths = list(lengths)
    if lengths and all(isinstance(l, float) for l in lengths) and math.isclose(sum(lengths), 1):
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(l) != l or l < 0 for l in lengths) or sum(lengths) != n:
        raise ValueError(f"lengths {lengths} must be non-negative ints summing to the dataset's length {n} "
                         f"(or fractions summing to 1)")
    return [int(l) for l in lengths]


def random_split(dataset, lengths, generator=None, seed=None):
    """Split into non-overlapping Subsets of the given lengths (ints summing to len(dataset),
    or fractions summing to 1). The permutation comes from `generator`, else from `seed`, else
    from pyconv's global generator."""
    lengths = _split_lengths(len(dataset), lengths)
    rng = generator_from(seed if generator is None else generator)
    perm = rng.permutation(len(dataset))
    bounds = np.cumsum([0] + lengths)
    return [Subset(dataset, perm[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
