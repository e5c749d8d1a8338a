"""DataLoader: batches of Tensors from a Dataset, optionally shuffled with a seeded generator."""
import numpy as np

from ..tensor import Tensor, tensor


def default_collate(samples):
    """Stack a list of samples (tuples of arrays/numbers, or single arrays) into batch arrays."""
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(default_collate([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, Tensor):
        return np.stack([s.numpy() for s in samples])
    return np.stack([np.asarray(s) for s in samples])


def _as_tensor(x, device):
    if isinstance(x, tuple):
        return tuple(_as_tensor(v, device) for v in x)
    if isinstance(x, Tensor):
        return x if device is None else x.to(device)
    return tensor(np.asarray(x), device=device or "cpu")


class DataLoader:
    """Iterate over `dataset` in batches of Tensors.

    shuffle: a new permutation every epoch, drawn from `generator` (a numpy Generator) or from
    `np.random.default_rng(seed)`; the same seed gives the same order. The generator is kept
    in `self.generator`, so saving its state (`generator.bit_generator.state`) and restoring it
    continues the same sequence of epochs.
    drop_last: leave out the last batch when it is smaller than batch_size.
    Datasets with `batched = True` are indexed once per batch with an index array.
    """

    def __init__(self, dataset, batch_size=1, shuffle=False, drop_last=False, seed=None,
                 generator=None, collate_fn=None, device=None):
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator if generator is not None else np.random.default_rng(seed)
        self.collate_fn = collate_fn or default_collate
        self.device = device

    def __len__(self):
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _indices(self):
        n = len(self.dataset)
        return self.generator.permutation(n) if self.shuffle else np.arange(n)

    def __iter__(self):
        indices = self._indices()
        batched = getattr(self.dataset, "batched", False)
        for b in range(len(self)):
            idx = indices[b * self.batch_size:(b + 1) * self.batch_size]
            if batched:
                batch = self.dataset[idx]
            else:
                batch = self.collate_fn([self.dataset[int(i)] for i in idx])
            yield _as_tensor(tuple(batch) if isinstance(batch, list) else batch, self.device)
