"""DataLoader: batches of Tensors from a Dataset, as torch.utils.data.DataLoader makes them."""
import weakref

import numpy as np

from ..random import Generator, generator_from
from .collate import to_tensors
from .sampler import BatchSampler, RandomSampler, SequentialSampler
from .worker import WorkerError, WorkerPool, choose_context, fetch


class DataLoader:
    """Iterate over `dataset` in batches of Tensors; PyTorch's arguments and meaning.

    Order: `shuffle=True` draws a new permutation every epoch from `generator` (a numpy or
    pyconv Generator), else from a Generator seeded with `seed` (pyconv's addition), else from
    pyconv's global generator (`pyconv.manual_seed`). `self.generator` is that generator (None
    for the global one), so saving its state (`generator.bit_generator.state`) and restoring it
    continues the same sequence of epochs. `sampler` or `batch_sampler` replace the order.
    Each epoch, before the order, one number is drawn from the same generator: the seed of
    that epoch's workers (worker i seeds pyconv's, numpy's and Python's generators with
    seed + i), drawn whatever num_workers is, so the order does not depend on it.

    Batches: `collate_fn` (default: default_collate) makes a batch of samples; every numpy array
    in it becomes a Tensor on `device` (pyconv's addition; None leaves them on the CPU).
    Datasets with `batched = True` are indexed once per batch with an index array instead.
    `batch_size=None` turns batching off: one sample at a time, arrays made Tensors.

    Workers: `num_workers > 0` loads batches in that many processes (see pyconv/data/worker.py
    for how they start; `multiprocessing_context` forces a start method), `prefetch_factor`
    batches ahead per worker (default 2), in the order of num_workers=0. An exception in a
    worker is raised here with the worker's traceback. `persistent_workers` keeps the
    processes from one epoch to the next; `worker_init_fn(worker_id)` runs in each at start,
    and `get_worker_info()` tells a worker who it is. `timeout` (seconds, 0 = no limit) bounds
    the wait for one batch.

    Accepted for PyTorch's sake, without effect: `pin_memory` and `pin_memory_device` (pinned
    host memory speeds copies to a GPU; pass `device=` to have batches moved there) and
    `in_order=False` (batches always come in order).
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True, seed=None, device=None):
        _check_workers(num_workers, timeout, prefetch_factor, persistent_workers)
        self.dataset = dataset
        self.num_workers = int(num_workers)
        self.collate_fn = collate_fn
        self.pin_memory, self.pin_memory_device, self.in_order = pin_memory, pin_memory_device, in_order
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = 2 if prefetch_factor is None else int(prefetch_factor)
        self.persistent_workers = persistent_workers
        self.device = device
        self.generator = generator if generator is not None or seed is None else Generator().manual_seed(seed)
        self.shuffle = bool(shuffle)
        self.sampler, self.batch_sampler = self._samplers(sampler, batch_sampler, batch_size, drop_last)
        self.batch_size = None if batch_sampler is not None else batch_size
        self.drop_last = drop_last if batch_sampler is None else False
        self._pool = None

    def _samplers(self, sampler, batch_sampler, batch_size, drop_last):
        if batch_sampler is not None:
            if batch_size != 1 or self.shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler is mutually exclusive with batch_size, shuffle, "
                                 "sampler and drop_last")
            return None, batch_sampler
        if sampler is not None and self.shuffle:
            raise ValueError("sampler is mutually exclusive with shuffle")
        if sampler is None:
            sampler = (RandomSampler(self.dataset, generator=self.generator) if self.shuffle
                       else SequentialSampler(self.dataset))
        if batch_size is None:
            if drop_last:
                raise ValueError("drop_last needs a batch_size (batch_size=None turns batching off)")
            return sampler, None
        return sampler, BatchSampler(sampler, batch_size, drop_last)

    def __len__(self):
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def _indices(self):
        """Each batch's indices (an int array), or each sample's index when batching is off."""
        if self.batch_sampler is None:
            return (int(i) for i in self.sampler)
        return (np.asarray(batch, dtype=np.int64) for batch in self.batch_sampler)

    @property
    def _batched(self):
        return getattr(self.dataset, "batched", False) and self.collate_fn is None

    def __iter__(self):
        base_seed = int(generator_from(self.generator).integers(2**62))
        if self.num_workers == 0:
            return self._load_here(self._indices())
        return _WorkerIterator(self, self._indices(), base_seed)

    def _load_here(self, indices):
        for index in indices:
            yield to_tensors(fetch(self.dataset, index, self.collate_fn, self._batched), self.device)

    def _workers(self, base_seed):
        """(pool, whether the iterator owns it): a new pool, or the persistent one."""
        if self._pool is not None and not self._pool.closed:
            return self._pool, False
        objects = (self.dataset, self.collate_fn, self.worker_init_fn, self._batched)
        context, spec = choose_context(self.multiprocessing_context, objects)
        pool = WorkerPool(context, spec, self.num_workers, base_seed)
        if not self.persistent_workers:
            return pool, True
        self._pool = pool
        weakref.finalize(self, pool.shutdown)
        return pool, False


def _check_workers(num_workers, timeout, prefetch_factor, persistent_workers):
    if isinstance(num_workers, bool) or int(num_workers) != num_workers or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
    if timeout < 0:
        raise ValueError(f"timeout must be non-negative, got {timeout!r}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("prefetch_factor needs num_workers > 0")
    if prefetch_factor is not None and prefetch_factor < 1:
        raise ValueError(f"prefetch_factor must be a positive int, got {prefetch_factor!r}")
    if num_workers == 0 and persistent_workers:
        raise ValueError("persistent_workers needs num_workers > 0")


class _WorkerIterator:
    """One epoch over worker processes: keeps prefetch_factor * num_workers batches requested
    and yields them in order."""

    def __init__(self, loader, indices, base_seed):
        self.loader = loader
        self.indices = indices
        self.pool, owns_pool = loader._workers(base_seed)
        self.pool.epoch += 1
        self.epoch = self.pool.epoch  # answers to an earlier, abandoned epoch are dropped
        self.sent = self.received = 0
        self.ready = {}
        self._finalizer = weakref.finalize(self, self.pool.shutdown) if owns_pool else None
        for _ in range(loader.prefetch_factor * loader.num_workers):
            self._request()

    def _request(self):
        index = next(self.indices, None)
        if index is not None:
            self.pool.put(self.sent, (self.epoch, self.sent), index)
            self.sent += 1

    def __iter__(self):
        return self

    def __len__(self):
        return len(self.loader)

    def __next__(self):
        if self.received == self.sent:
            self.close()
            raise StopIteration
        while self.received not in self.ready:
            (epoch, number), data = self.pool.get(self.loader.timeout)
            if epoch == self.epoch:
                self.ready[number] = data
        data = self.ready.pop(self.received)
        self.received += 1
        if isinstance(data, WorkerError):
            self.close()
            data.reraise()
        self._request()
        return to_tensors(data, self.loader.device)

    def close(self):
        """Stop this epoch's workers (persistent ones keep running for the next epoch)."""
        if self._finalizer is not None:
            self._finalizer()
