"""DistributedDataParallel: one model replica per process, gradients averaged after backward.

Every rank holds the whole model and trains it on its own part of each batch. Wrapping
broadcasts rank 0's parameters and buffers, so all replicas start equal; after each
`loss.backward()` the gradients are averaged over the ranks, so every rank's optimizer makes
the same update and the replicas stay equal. With a mean-reduced loss and the same number of
samples per rank, the average of the ranks' gradients is the gradient of the mean loss over the
global batch: N ranks with batch B/N take the steps of one process with batch B (up to float
rounding: the sums are added in another order).

Buckets. The gradients are not sent one tensor at a time (LeNet-5 has 10): parameters are
grouped, in reverse order of registration (the order backward finishes them) and by dtype, into
buckets of at most `bucket_cap_mb` MiB. Each bucket is one contiguous buffer: the gradients are
copied into it, one in-place MPI Iallreduce sums it over the ranks, it is divided by N and
copied back. Each buffer ends with one flag per parameter (1 if it has a gradient on this rank):
a parameter that no rank gave a gradient keeps `.grad = None`, so the optimizer skips it as it
would in one process.

When. `loss.backward()` runs the averaging itself, through pyconv.autograd's post-backward hook:
any backward whose sweep reached one of the model's parameters triggers it, so training code
does not change. Inside `with ddp.no_sync():` backward only accumulates locally (gradient
accumulation); the next backward outside it averages the accumulated sum, as in PyTorch.
`synchronize_gradients()` runs the averaging by hand. The reduction starts after the sweep, not
during it (PyTorch overlaps it with the rest of backward).

Buffers (batch-norm running statistics) are rank 0's, as with PyTorch's broadcast_buffers=True:
broadcast before each forward in training mode, and when the model is switched to eval mode,
so every rank evaluates the same model. The batch statistics that batch norm normalises with are
each rank's own (not synchronised batch norm).

state_dict() and load_state_dict() are the inner model's (PyTorch prefixes the keys with
"module."), so a checkpoint or model.npz written under DDP loads into the plain model.
"""
import contextlib
import time
import weakref

import numpy as np

from .. import autograd
from ..nn.module import Module
from ..tensor import Tensor
from . import comm


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training over the ranks of the job (see the module's
    docstring). `ddp(x)` runs the model; `ddp.module` is the model."""

    def __init__(self, module, bucket_cap_mb=25, broadcast_buffers=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel wraps a pyconv.nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        self.module = module
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        self.stats = {"syncs": 0, "allreduce_seconds": 0.0, "allreduce_bytes": 0}
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        for name, p in named:
            if not isinstance(p.data, np.ndarray) or p.dtype not in (np.float32, np.float64):
                raise TypeError(f"DistributedDataParallel: parameter {name} is a {p.dtype} tensor on "
                                f"{p.device}; only float32/float64 CPU parameters are supported")
        comm.check_consistent({"world size": comm.get_world_size(), "bucket_cap_mb": bucket_cap_mb,
                               "parameters": [[n, list(p.shape), str(p.dtype), p.requires_grad]
                                              for n, p in module.named_parameters()],
                               "buffers": [[n, list(b.shape), str(b.dtype)] for n, b in module.named_buffers()]},
                              "models")
        self._buckets = _make_buckets([p for _, p in named][::-1], bucket_cap_mb * 2**20)
        self._param_ids = {id(p) for _, p in named}
        for p in module.parameters():
            comm.broadcast(p, 0)
        self._sync_buffers()
        self_ref = weakref.ref(self)

        def after_backward(leaves):
            ddp = self_ref()
            if ddp is not None and ddp.require_backward_grad_sync and any(id(t) in ddp._param_ids for t in leaves):
                ddp.synchronize_gradients()

        handle = autograd.register_post_backward_hook(after_backward)
        weakref.finalize(self, handle.remove)

    def forward(self, *inputs, **kwargs):
        if self.training and self.broadcast_buffers:
            self._sync_buffers()
        return self.module(*inputs, **kwargs)

    def train(self, mode=True):
        leaving_training = self.training and not mode
        super().train(mode)
        if leaving_training and self.broadcast_buffers:
            self._sync_buffers()
        return self

    def _sync_buffers(self):
        for b in self.module.buffers():
            if b is not None and isinstance(b.data, np.ndarray) and b.dtype in (np.float32, np.float64):
                comm.broadcast(b, 0)

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict=True):
        return self.module.load_state_dict(state_dict, strict)

    @contextlib.contextmanager
    def no_sync(self):
        """Backward calls inside the block accumulate gradients without averaging them."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    def synchronize_gradients(self):
        """Average every parameter's .grad over the ranks (bucketed in-place allreduce)."""
        size = comm.get_world_size()
        if size == 1:
            return
        start = time.perf_counter()
        requests = []
        for bucket in self._buckets:  # fill a bucket and start its reduction, then the next one
            bucket.pack()
            requests.append(comm.start_sum(bucket.buffer))
        comm.wait(requests, f"the gradient allreduce ({len(self._buckets)} buckets, "
                            f"{sum(b.buffer.nbytes for b in self._buckets)} bytes)")
        for bucket in self._buckets:
            bucket.unpack(size)
        self.stats["syncs"] += 1
        self.stats["allreduce_seconds"] += time.perf_counter() - start
        self.stats["allreduce_bytes"] += sum(b.buffer.nbytes for b in self._buckets)


class _Bucket:
    """Parameters of one dtype whose gradients travel in one buffer:
    [grad of p0 | grad of p1 | ... | has-grad flag of p0, p1, ...]."""

    def __init__(self, params):
        self.params = params
        self.offsets = np.concatenate([[0], np.cumsum([p.data.size for p in params])]).tolist()
        self.buffer = np.empty(self.offsets[-1] + len(params), dtype=params[0].dtype)

    def pack(self):
        flags = self.buffer[self.offsets[-1]:]
        for i, p in enumerate(self.params):
            part = self.buffer[self.offsets[i]:self.offsets[i + 1]]
            if p.grad is None:
                part[...] = 0
                flags[i] = 0
            else:
                part[...] = p.grad.data.reshape(-1)
                flags[i] = 1

    def unpack(self, size):
        grads, flags = self.buffer[:self.offsets[-1]], self.buffer[self.offsets[-1]:]
        grads /= size
        for i, p in enumerate(self.params):
            if flags[i] == 0:  # no rank had a gradient for it
                continue
            mean = grads[self.offsets[i]:self.offsets[i + 1]].reshape(p.data.shape)
            if p.grad is None:
                p.grad = Tensor(mean.copy())
            else:
                p.grad.data[...] = mean


def _make_buckets(params, cap_bytes):
    """Consecutive parameters of one dtype, at most cap_bytes of gradients per bucket (a larger
    parameter gets a bucket of its own)."""
    buckets, current, size = [], [], 0
    for p in params:
        nbytes = p.data.nbytes
        if current and (p.dtype != current[0].dtype or size + nbytes > cap_bytes):
            buckets.append(_Bucket(current))
            current, size = [], 0
        current.append(p)
        size += nbytes
    if current:
        buckets.append(_Bucket(current))
    return buckets
