"""The process group: MPI_COMM_WORLD through mpi4py, and the collectives pyconv uses.

    init()                         rank and world size from MPI (a no-op single process when not
                                   launched by mpiexec/srun, or when mpi4py is missing)
    get_rank(), get_world_size()   0 and 1 in a single process
    barrier()
    all_reduce(tensor, op="sum")   in place on tensor.data: "sum", "mean", "max" or "min"
    broadcast(tensor, src=0)       in place on tensor.data

Bounded waits. Every collective here is the non-blocking MPI call (Iallreduce, Ibcast,
Ibarrier, Iallgather(v)) followed by a loop on `request.Test()` with a deadline of
PYCONV_DIST_TIMEOUT seconds (default 300): a rank that never arrives (it hangs, runs other
code, or died in a way MPI did not notice) makes the others raise DistributedTimeoutError,
naming the collective, instead of waiting forever. MPI cannot cancel a started collective, so
that error is meant to end the job: `init()` installs a sys.excepthook that prints the rank and
the error, then calls MPI.COMM_WORLD.Abort(1), which makes mpiexec kill every rank. An
uncaught exception on any rank therefore ends the whole job at once.

MPI moves a non-blocking collective forward only inside MPI calls, so the loop polls Test
without sleeping for its first second (yielding the core to any other runnable thread between
two polls), as MPI's blocking calls do; a sleep between polls would delay every round of the
allreduce (it made a 250 KB allreduce 5x slower). A wait longer than that (rank 0 writing a
checkpoint) sleeps between polls, with a growing pause of at most 1 ms.
"""
import importlib.util
import json
import os
import sys
import time
import traceback

import numpy as np

DEFAULT_TIMEOUT = 300.0
SPIN_SECONDS = 1.0  # how long wait() polls without sleeping
TIMEOUT_VARIABLE = "PYCONV_DIST_TIMEOUT"

# What launchers put in each process's environment: MPICH's Hydra and Slurm's PMI-2 (PMI_*),
# PMIx (Open MPI 5, srun --mpi=pmix), Open MPI, MVAPICH.
_RANK_VARIABLES = ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


class DistributedTimeoutError(RuntimeError):
    """A collective that did not complete within PYCONV_DIST_TIMEOUT seconds."""


class DistributedSettingsError(ValueError):
    """The ranks of one job were started with different settings (see check_consistent)."""


class _Group:
    comm = None      # MPI.COMM_WORLD once init() found MPI
    MPI = None       # the mpi4py.MPI module
    rank, size = 0, 1
    previous_excepthook = None


_group = _Group()


# -- availability ------------------------------------------------------------------------------
def unavailable_reason():
    """Why pyconv.distributed cannot use MPI here, or None when it can (mpi4py is installed)."""
    if importlib.util.find_spec("mpi4py") is None:
        return ("mpi4py is not installed: pip install 'pyconv[distributed]' (mpi4py and the mpich "
                "wheel, which provides mpiexec), or pip install mpi4py next to a system MPI")
    return None


def is_available():
    """Whether mpi4py is installed (MPI itself is loaded only by init() under a launcher)."""
    return unavailable_reason() is None


def launched_by_mpi():
    """Whether this process was started by mpiexec/mpirun/srun (read from the environment)."""
    return any(name in os.environ for name in _RANK_VARIABLES)


def _environment_world_size():
    for name in _SIZE_VARIABLES:
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return None


# -- the group ---------------------------------------------------------------------------------
def init(require=False):
    """Join the job: rank and world size from MPI_COMM_WORLD. Returns the world size.

    Not launched by an MPI launcher (and require=False): a no-op, this process is rank 0 of 1.
    require=True loads MPI in any case (a launcher pyconv does not recognise), and raises when
    mpi4py is missing. Under a launcher that started several processes, a missing mpi4py raises
    too: the processes would otherwise each run the whole job on their own. Calling init() again
    changes nothing. Installs the excepthook that aborts the job (see the module's docstring).
    """
    if _group.comm is not None:
        return _group.size
    if not (require or launched_by_mpi()):
        return 1
    reason = unavailable_reason()
    if reason is not None:
        if require or (_environment_world_size() or 1) > 1:
            raise RuntimeError(f"pyconv.distributed.init: {reason}")
        return 1
    from mpi4py import MPI  # initialises MPI (mpi4py finalises it at exit)
    _group.MPI, _group.comm = MPI, MPI.COMM_WORLD
    _group.rank, _group.size = _group.comm.Get_rank(), _group.comm.Get_size()
    _group.previous_excepthook = sys.excepthook
    sys.excepthook = _abort_on_uncaught
    return _group.size


def is_initialized():
    """Whether init() joined an MPI job (False in a plain single process)."""
    return _group.comm is not None


def get_rank():
    """This process's rank, 0 ... world size - 1 (0 when not initialized)."""
    return _group.rank


def get_world_size():
    """The number of processes in the job (1 when not initialized)."""
    return _group.size


def timeout():
    """Seconds a collective may wait: $PYCONV_DIST_TIMEOUT, else 300."""
    value = os.environ.get(TIMEOUT_VARIABLE)
    if not value:
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(f"{TIMEOUT_VARIABLE}={value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise ValueError(f"{TIMEOUT_VARIABLE}={value!r}: give a positive number of seconds")
    return seconds


def abort(code=1):
    """End every rank of the job now (MPI_Abort); exits this process when not under MPI."""
    sys.stdout.flush()
    sys.stderr.flush()
    if _group.comm is None:
        raise SystemExit(code)
    _group.comm.Abort(code)


def _abort_on_uncaught(kind, value, tb):
    """sys.excepthook under MPI: print the error with the rank, then abort the whole job, so
    the other ranks do not wait for this one in their next collective."""
    text = "".join(traceback.format_exception(kind, value, tb))
    print(f"pyconv.distributed: rank {_group.rank} of {_group.size} failed, aborting the job:\n{text}",
          file=sys.stderr, end="", flush=True)
    abort(1)


# -- waiting with a deadline ---------------------------------------------------------------------
def wait(requests, what):
    """Complete MPI requests, or raise DistributedTimeoutError after timeout() seconds."""
    requests = [r for r in requests if r is not None]
    if not requests:
        return
    limit = timeout()
    deadline = time.monotonic() + limit
    MPI = _group.MPI
    patient = time.monotonic() + SPIN_SECONDS
    pause = 0.0
    while not MPI.Request.Testall(requests):
        now = time.monotonic()
        if now > deadline:
            raise DistributedTimeoutError(
                f"rank {_group.rank} of {_group.size}: {what} did not complete within {limit:g} s "
                f"({TIMEOUT_VARIABLE}); another rank has failed, hangs, or runs different code")
        if now < patient:
            os.sched_yield()  # MPI progresses only inside Test: poll, giving the core to any runnable thread
        else:  # a long wait (another rank writes a checkpoint...): sleep, longer and longer
            pause = min(1e-3, pause * 2 or 2e-5)
            time.sleep(pause)


# -- collectives on arrays -------------------------------------------------------------------------
_OPS = ("sum", "mean", "max", "min")


def _buffer_of(tensor, what):
    """The numpy array of a Tensor (or an array itself), checked for a float CPU collective."""
    data = getattr(tensor, "data", tensor) if not isinstance(tensor, np.ndarray) else tensor
    if not isinstance(data, np.ndarray):
        raise TypeError(f"{what}: CPU tensors only (numpy arrays), got {type(data).__name__}; "
                        f"move it with .cpu() first")
    if data.dtype not in (np.float32, np.float64):
        raise TypeError(f"{what}: float32 or float64 tensors only, got {data.dtype}")
    return data


def _set_data(tensor, data, result):
    if result is not data:
        data[...] = result


def all_reduce(tensor, op="sum"):
    """Combine `tensor` over all ranks, in place on its data: every rank ends with the sum
    (or mean, max, min). A Tensor or a numpy array, float32/float64, CPU; returns it."""
    if op not in _OPS:
        raise ValueError(f"all_reduce: op must be one of {', '.join(_OPS)}, got {op!r}")
    data = _buffer_of(tensor, "all_reduce")
    if _group.size == 1:
        return tensor
    buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)
    MPI = _group.MPI
    mpi_op = {"sum": MPI.SUM, "mean": MPI.SUM, "max": MPI.MAX, "min": MPI.MIN}[op]
    wait([_group.comm.Iallreduce(MPI.IN_PLACE, buf, op=mpi_op)], f"all_reduce({op}) of {buf.size} values")
    if op == "mean":
        buf /= _group.size
    _set_data(tensor, data, buf)
    return tensor


def start_sum(buffer):
    """Start an in-place sum of the contiguous numpy `buffer` over the ranks; returns the MPI
    request, to complete with wait()."""
    return _group.comm.Iallreduce(_group.MPI.IN_PLACE, buffer, op=_group.MPI.SUM)


def broadcast(tensor, src=0):
    """Copy `tensor` of rank `src` into the same tensor of every rank, in place; returns it."""
    data = _buffer_of(tensor, "broadcast")
    if _group.size == 1:
        return tensor
    buf = data if data.flags.c_contiguous else np.ascontiguousarray(data)
    wait([_group.comm.Ibcast(buf, root=src)], f"broadcast of {buf.size} values from rank {src}")
    _set_data(tensor, data, buf)
    return tensor


def barrier():
    """Wait until every rank has called barrier() (bounded, like every collective here)."""
    if _group.size > 1:
        wait([_group.comm.Ibarrier()], "barrier")


def broadcast_bytes(data, src=0):
    """Rank src's bytes on every rank (other ranks pass anything, e.g. None)."""
    if _group.size == 1:
        return data
    length = np.array([len(data) if _group.rank == src else 0], dtype=np.int64)
    wait([_group.comm.Ibcast(length, root=src)], "broadcast of a length")
    buf = (np.frombuffer(data, dtype=np.uint8).copy() if _group.rank == src
           else np.empty(int(length[0]), dtype=np.uint8))
    wait([_group.comm.Ibcast(buf, root=src)], f"broadcast of {int(length[0])} bytes from rank {src}")
    return buf.tobytes()


def all_gather_array(array):
    """The 1-d arrays of every rank (lengths may differ), as a list indexed by rank."""
    array = np.ascontiguousarray(array).ravel()
    if _group.size == 1:
        return [array]
    counts = np.empty(_group.size, dtype=np.int64)
    wait([_group.comm.Iallgather(np.array([array.size], dtype=np.int64), counts)], "all_gather of lengths")
    out = np.empty(int(counts.sum()), dtype=array.dtype)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    from mpi4py.util.dtlib import from_numpy_dtype
    kind = from_numpy_dtype(array.dtype)
    wait([_group.comm.Iallgatherv([array, kind], [out, (counts.tolist(), offsets.tolist()), kind])],
         f"all_gather of {array.size} values")
    return [out[o:o + c] for o, c in zip(offsets, counts)]


# -- the same settings on every rank -------------------------------------------------------------
def check_consistent(settings, what="settings"):
    """Raise DistributedSettingsError on every rank when `settings` (a dict of JSON values: seed,
    batch size, parameter shapes...) is not the same on all ranks; the message names each key
    that differs and its value on each rank. Ranks of one job must run the same computation:
    a difference would otherwise show up as a hang or as silently wrong gradients."""
    if _group.size == 1:
        return
    text = json.dumps(settings, sort_keys=True, default=str)
    texts = [bytes(a).decode() for a in all_gather_array(np.frombuffer(text.encode(), dtype=np.uint8))]
    if all(t == texts[0] for t in texts):
        return
    every = [json.loads(t) for t in texts]
    unset = "(not set)"
    lines = []
    for key in sorted(set().union(*every)):
        values = [s.get(key, unset) for s in every]
        if any(v != values[0] for v in values):
            label = key
            if all(isinstance(v, list) for v in values):  # a list (of parameter shapes): its first difference
                i = next(i for i in range(max(map(len, values)))
                         if len({json.dumps(v[i] if i < len(v) else unset) for v in values}) > 1)
                label, values = f"{key}[{i}]", [v[i] if i < len(v) else "(missing)" for v in values]
            shown = ", ".join(f"rank {r}: {_short(v)}" for r, v in enumerate(values))
            lines.append(f"{label}: {shown}")
    raise DistributedSettingsError(f"the ranks of this job have different {what}:\n  " + "\n  ".join(lines)
                                   + "\nstart every rank with the same command and settings")


def _short(value, limit=200):
    text = json.dumps(value, default=str)
    return text if len(text) <= limit else text[:limit] + "..."
