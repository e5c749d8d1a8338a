"""Datasets: anything with __len__ and __getitem__, as in torch.utils.data.

A dataset whose `__getitem__` also accepts an integer index array and returns whole batches
(numpy fancy indexing) sets `batched = True`; DataLoader then fetches a batch in one call
instead of one Python call per item.
"""
import numpy as np


def _to_array(x):
    from ..tensor import Tensor
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


class Dataset:
    """Base class: subclasses define __len__ and __getitem__(i) -> sample (often a tuple)."""
    batched = False

    def __len__(self):
        raise NotImplementedError

    def __getitem__(self, index):
        raise NotImplementedError


class TensorDataset(Dataset):
    """Samples are the i-th rows of equally long arrays (or Tensors): (x[i], y[i], ...)."""
    batched = True

    def __init__(self, *arrays, transform=None):
        if not arrays:
            raise ValueError("TensorDataset needs at least one array")
        self.arrays = tuple(_to_array(a) for a in arrays)
        lengths = {len(a) for a in self.arrays}
        if len(lengths) != 1:
            raise ValueError(f"all arrays must have the same first dimension, got {[len(a) for a in self.arrays]}")
        self.transform = transform

    def __len__(self):
        return len(self.arrays[0])

    def __getitem__(self, index):
        items = [a[index] for a in self.arrays]
        if self.transform is not None:
            items[0] = self.transform(items[0])
        return tuple(items)


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


def random_split(dataset, lengths, seed=None, generator=None):
    """Split into non-overlapping Subsets of the given lengths (ints summing to len(dataset),
    or fractions summing to 1, the remainder going round-robin to the first parts)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(l, float) for l in lengths) and abs(sum(lengths) - 1) < 1e-6:
        counts = [int(np.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(int(l) != l or l < 0 for l in lengths) or sum(lengths) != n:
        raise ValueError(f"lengths {lengths} must be non-negative ints summing to the dataset's length {n} "
                         f"(or fractions summing to 1)")
    rng = generator if generator is not None else np.random.default_rng(seed)
    perm = rng.permutation(n)
    parts, start = [], 0
    for length in lengths:
        parts.append(Subset(dataset, perm[start:start + int(length)]))
        start += int(length)
    return parts
