"""Samplers that give each rank its own part of a dataset (torch.utils.data.distributed's).

DistributedSampler (training): every epoch, one permutation of the dataset drawn from
seed + epoch (the same on every rank), made a multiple of the number of replicas, then dealt
out: rank r takes positions r, r + N, r + 2N, ... So the shards are disjoint, together cover the
dataset, and have the same length on every rank (which keeps the ranks' steps in lock-step).
To make that length, `drop_last=False` repeats the first indices of the permutation (PyTorch's
padding: a few images count twice per epoch), `drop_last=True` drops the tail instead.
Call `set_epoch(epoch)` before each epoch (pyconv.train.fit does), or every epoch repeats the
same order.

DistributedEvalSampler (evaluation): rank r takes r, r + N, ... in order, without padding, so
every image is evaluated exactly once; shard lengths may differ by one. pyconv.train.evaluate
gathers the results of a loader with this sampler from every rank.
"""
import math

import numpy as np

from ..data.sampler import Sampler
from . import comm


def _rank_and_replicas(num_replicas, rank):
    num_replicas = comm.get_world_size() if num_replicas is None else int(num_replicas)
    rank = comm.get_rank() if rank is None else int(rank)
    if num_replicas < 1:
        raise ValueError(f"num_replicas must be at least 1, got {num_replicas}")
    if not 0 <= rank < num_replicas:
        raise ValueError(f"invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]")
    return num_replicas, rank


class DistributedSampler(Sampler):
    """This rank's shard of `dataset`; num_replicas and rank default to the job's."""

    def __init__(self, dataset, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self.dataset = dataset
        self.num_replicas, self.rank = _rank_and_replicas(num_replicas, rank)
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0
        n = len(dataset)
        if self.drop_last and n % self.num_replicas:
            self.num_samples = n // self.num_replicas
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            indices = np.arange(n)
        if self.drop_last:
            indices = indices[:self.total_size]
        elif self.total_size > n:  # repeat the first indices (the whole list again if it is short)
            indices = np.resize(indices, self.total_size)
        shard = indices[self.rank:self.total_size:self.num_replicas]
        return iter(shard.tolist())

    def __len__(self):
        return self.num_samples

    def set_epoch(self, epoch):
        """Use the permutation of this epoch (seed + epoch) from now on."""
        self.epoch = int(epoch)


class DistributedEvalSampler(Sampler):
    """Indices rank, rank + N, ... of `dataset`, in order, each once (no padding)."""

    def __init__(self, dataset, num_replicas=None, rank=None):
        self.dataset = dataset
        self.num_replicas, self.rank = _rank_and_replicas(num_replicas, rank)

    def __iter__(self):
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self):
        return len(range(self.rank, len(self.dataset), self.num_replicas))
