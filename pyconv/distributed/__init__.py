"""Data-parallel training over several processes with MPI (mpi4py), shaped like
torch.distributed and torch.nn.parallel.DistributedDataParallel.

    mpiexec -n 2 python -m pyconv train --model lenet5 --batch-size 64   # 32 images per rank

    import pyconv.distributed as dist
    dist.init()                                   # rank and world size from mpiexec; else 1 process
    sampler = dist.DistributedSampler(train_set, seed=0)
    loader = pyconv.data.DataLoader(train_set, 64 // dist.get_world_size(), sampler=sampler)
    model = dist.DistributedDataParallel(model)   # rank 0's weights on every rank
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()   # the gradients come back averaged
            optimizer.step()

Without mpi4py (the `distributed` extra) this package still imports: `is_available()` is False,
`unavailable_reason()` says why, and `init()` leaves a single process of rank 0.
Failure is bounded: see pyconv/distributed/comm.py (an uncaught exception on any rank aborts
the job; every collective gives up after PYCONV_DIST_TIMEOUT seconds). docs/11-distributed.md
explains the cost of an allreduce and how to launch on one machine, with a hostfile, or on Slurm.
"""
from .comm import (DistributedSettingsError, DistributedTimeoutError, abort, all_gather_array, all_reduce,
                   barrier, broadcast, broadcast_bytes, check_consistent, get_rank, get_world_size, init,
                   is_available, is_initialized, launched_by_mpi, timeout, unavailable_reason)
from .ddp import DistributedDataParallel
from .sampler import DistributedEvalSampler, DistributedSampler

__all__ = ["init", "is_available", "unavailable_reason", "is_initialized", "launched_by_mpi", "get_rank",
           "get_world_size", "barrier", "all_reduce", "broadcast", "broadcast_bytes", "all_gather_array",
           "check_consistent", "abort", "timeout", "DistributedTimeoutError", "DistributedSettingsError",
           "DistributedDataParallel", "DistributedSampler", "DistributedEvalSampler"]
