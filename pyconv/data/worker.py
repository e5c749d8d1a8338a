"""DataLoader worker processes: they load and collate batches while the main process trains.

Each worker has its own queue of tasks (a batch number and its indices) and all of them answer
on one result queue. Batch i goes to worker i % num_workers and the loader yields the batches
in their order, so they are the batches of num_workers=0, in the same order. A worker sends
numpy arrays; the main process makes them Tensors and moves them to the loader's device.

How workers start (`choose_context`): with "forkserver" (or "spawn" where there is none), so a
worker never inherits threads, locks or a GPU context from the main process. Those start a
fresh interpreter, which gets the dataset, collate_fn and worker_init_fn by pickling and
imports the main script again. Where that cannot work, workers are forked as PyTorch does on
Linux (pyconv's C kernels are fork-safe: a forked child runs them single-threaded):
  - one of those objects does not pickle (a lambda, a class defined inside a function);
  - one of them is defined in the main script or notebook (`__main__`);
  - the main script is calling the loader from its top level, outside an
    `if __name__ == "__main__":` block, so importing it again would run the training again.
"""
import ast
import multiprocessing
import os
import pickle
import queue
import random
import signal
import sys
import time
import traceback

import numpy as np

from .collate import collate_arrays

POLL = 0.2  # seconds between checks that the other side is still alive
JOIN_TIMEOUT = 5.0  # seconds a worker gets to exit before it is terminated

_worker_info = None


class WorkerInfo:
    """What `get_worker_info()` returns inside a worker (None in the main process)."""

    def __init__(self, id, num_workers, seed, dataset):
        self.id, self.num_workers, self.seed, self.dataset = id, num_workers, seed, dataset

    def __repr__(self):
        return f"WorkerInfo(id={self.id}, num_workers={self.num_workers}, seed={self.seed})"


def get_worker_info():
    """This worker's WorkerInfo (id, num_workers, seed, dataset), or None outside a worker."""
    return _worker_info


# -- choosing how to start workers -------------------------------------------------------------
def choose_context(requested, objects):
    """(multiprocessing context, what to send to each worker): `objects` pickled once for a
    fresh interpreter, or as they are for a fork. `requested`: a start method's name, a context,
    or None to choose as the module docstring says."""
    if requested is not None:
        context = multiprocessing.get_context(requested) if isinstance(requested, str) else requested
        forked = context.get_start_method() == "fork"
        return context, objects if forked else pickle.dumps(objects, pickle.HIGHEST_PROTOCOL)
    payload = _pickled_or_none(objects)
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and (payload is None or b"__main__" in payload or _main_runs_unguarded()):
        return multiprocessing.get_context("fork"), objects
    if payload is None:  # no fork here: let pickle say what is wrong
        pickle.dumps(objects, pickle.HIGHEST_PROTOCOL)
    return _fresh_interpreter_context(methods), payload


def _pickled_or_none(objects):
    try:
        return pickle.dumps(objects, pickle.HIGHEST_PROTOCOL)
    except Exception:  # noqa: BLE001 (any failure to pickle means: fork instead)
        return None


def _fresh_interpreter_context(methods):
    if "forkserver" not in methods:
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # the server imports pyconv once; each worker forked from it then starts in milliseconds
    # (this takes effect when the server starts, at the first use of forkserver)
    context.set_forkserver_preload(["__main__", "pyconv.data"])
    return context


def _main_runs_unguarded():
    """True when the main script is executing this call from its top level outside an
    `if __name__ == "__main__":` block (a fresh worker importing it would run it again)."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = sys._getframe()
    while frame is not None and not (frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)):
        frame = frame.f_back
    if frame is None or path is None or not os.path.isfile(path):
        return False
    return not any(start <= frame.f_lineno <= end for start, end in _main_guards(path))


def _main_guards(path):
    """Line ranges of the top-level `if __name__ == "__main__":` blocks of a script."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return [(0, float("inf"))]  # cannot tell: assume it is guarded
    return [(node.lineno, node.end_lineno) for node in tree.body
            if isinstance(node, ast.If) and _is_main_test(node.test)]


def _is_main_test(test):
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    values = {s.value for s in sides if isinstance(s, ast.Constant)}
    return names == {"__name__"} and values == {"__main__"}


# -- inside a worker ---------------------------------------------------------------------------
class WorkerError:
    """An exception raised in a worker, sent to the main process with its traceback text."""

    def __init__(self, worker_id, exc):
        self.worker_id = worker_id
        self.type = RuntimeError if _pickled_or_none(type(exc)) is None else type(exc)
        self.text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))

    def reraise(self):
        message = (f"Caught {self.type.__name__} in DataLoader worker process {self.worker_id}.\n"
                   f"Original {self.text}")
        if issubclass(self.type, KeyError):  # KeyError would print the message as a repr
            message = _PlainMessage(message)
        try:
            exc = self.type(message)
        except Exception:  # noqa: BLE001 (an exception type that takes other arguments)
            exc = RuntimeError(message)
        raise exc


class _PlainMessage(str):
    def __repr__(self):
        return str(self)


def fetch(dataset, index, collate_fn, batched):
    """One batch: `index` is an int array (or an int when batching is off)."""
    if isinstance(index, (int, np.integer)):
        return dataset[int(index)]
    if batched and collate_fn is None:
        return dataset[index]
    return (collate_fn or collate_arrays)([dataset[int(i)] for i in index])


def _seed(seed):
    """Seed pyconv's, numpy's and Python's generators in a worker, as torch does."""
    from .. import random as pyconv_random
    pyconv_random.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def _one_thread():
    """Workers run the C kernels single-threaded: num_workers processes already share the cores."""
    from .. import backends
    if backends.available_backends()["c"] == "enabled":
        backends.module("c").set_num_threads(1)


def _setup(spec, worker_id, num_workers, seed):
    global _worker_info
    dataset, collate_fn, init_fn, batched = pickle.loads(spec) if isinstance(spec, bytes) else spec
    _seed(seed)
    _one_thread()
    _worker_info = WorkerInfo(worker_id, num_workers, seed, dataset)
    if init_fn is not None:
        init_fn(worker_id)
    return dataset, collate_fn, batched


def _parent_alive():
    parent = multiprocessing.parent_process()
    return parent is None or parent.is_alive()


def worker_loop(spec, tasks, results, worker_id, num_workers, seed):
    """Answer (key, index) tasks with (key, batch or WorkerError) until a None task comes (or
    the main process is gone). A failed setup is reported in answer to every task."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    setup_error = None
    try:
        dataset, collate_fn, batched = _setup(spec, worker_id, num_workers, seed)
    except Exception as exc:  # noqa: BLE001 (reported to the main process)
        setup_error = WorkerError(worker_id, exc)
    while True:
        try:
            task = tasks.get(timeout=POLL)
        except queue.Empty:
            if _parent_alive():
                continue
            break
        if task is None:
            break
        key, index = task
        if setup_error is not None:
            results.put((key, setup_error))
            continue
        try:
            data = fetch(dataset, index, collate_fn, batched)
        except Exception as exc:  # noqa: BLE001 (reported to the main process)
            data = WorkerError(worker_id, exc)
        results.put((key, data))
    results.cancel_join_thread()  # the main process wants nothing more: exit without flushing


# -- in the main process -----------------------------------------------------------------------
class WorkerPool:
    """num_workers processes, their task queues and the shared result queue."""

    def __init__(self, context, spec, num_workers, base_seed):
        self.results = context.Queue()
        self.tasks, self.workers = [], []
        for worker_id in range(num_workers):
            tasks = context.Queue()
            tasks.cancel_join_thread()  # never wait at exit for tasks nobody will read
            worker = context.Process(target=worker_loop, daemon=True,
                                     args=(spec, tasks, self.results, worker_id, num_workers,
                                           base_seed + worker_id))
            worker.start()
            self.tasks.append(tasks)
            self.workers.append(worker)
        self.epoch = 0
        self.closed = False

    def put(self, batch_number, key, index):
        self.tasks[batch_number % len(self.workers)].put((key, index))

    def get(self, timeout=0):
        """The next (key, data) from any worker; RuntimeError when a worker died, or after
        `timeout` seconds (0: wait as long as it takes)."""
        deadline = time.monotonic() + timeout if timeout else None
        while True:
            wait = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
            try:
                return self.results.get(timeout=wait)
            except queue.Empty:
                self._check_alive()
                if deadline is not None and time.monotonic() >= deadline:
                    raise RuntimeError(f"DataLoader timed out after {timeout} seconds") from None

    def _check_alive(self):
        for worker in self.workers:
            if not worker.is_alive():
                self.shutdown()
                raise RuntimeError(
                    f"DataLoader worker (pid {worker.pid}) exited unexpectedly with exit code "
                    f"{worker.exitcode}. Its error, if any, is printed above; a script whose "
                    f"workers start by 'spawn' or 'forkserver' must start its training under "
                    f"`if __name__ == \"__main__\":`.")

    def shutdown(self):
        """Ask every worker to exit, wait a little, terminate the ones that do not."""
        if self.closed:
            return
        self.closed = True
        for tasks in self.tasks:
            tasks.put(None)
        deadline = time.monotonic() + JOIN_TIMEOUT
        for worker in self.workers:
            worker.join(max(0.0, deadline - time.monotonic()))
            if worker.is_alive():
                worker.terminate()
                worker.join()
        for q in self.tasks + [self.results]:
            q.cancel_join_thread()
            q.close()
