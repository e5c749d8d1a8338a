"""Memory accounting: what the autograd graph and the C kernels hold, and its peak.

    pyconv.memory_stats()            # {"saved_for_backward": bytes, "saved_for_backward_peak": ...,
                                     #  "workspaces": bytes, "workspaces_peak": ...}
    pyconv.reset_peak_memory_stats()
    pyconv.empty_cache()             # free the C kernels' workspaces (they grow again on demand)

* saved_for_backward: the arrays that recorded ops keep for their backward (inputs, outputs,
  masks, indices), counted when the op is recorded and released when its graph is freed. An array
  saved by two ops counts twice (an upper bound); arrays also held by your own variables are
  counted too, since the graph keeps them alive.
* workspaces: the per-thread buffers of the c backend's kernels (padded image copies, packed
  panels), kept across calls because fresh memory costs a page fault per 4 KiB.

PyTorch's torch.cuda.memory_stats/empty_cache/reset_peak_memory_stats play the same roles for
its allocator; these count pyconv's own holdings on the CPU.
"""
import threading

_lock = threading.Lock()
_saved = [0, 0]          # current, peak
_workspace_peak = [0]


def track_saved(fn, nbytes):
    """Count the `nbytes` a just-recorded Function keeps (autograd's _saved_versions measures them)."""
    fn._saved_nbytes = nbytes
    with _lock:
        _saved[0] += nbytes
        _saved[1] = max(_saved[1], _saved[0])


def release_saved(nbytes):
    with _lock:
        _saved[0] -= nbytes


def _workspace_bytes():
    from . import backends
    if backends.available_backends().get("c") != "enabled":
        return 0
    return backends.module("c").workspace_bytes()


def memory_stats():
    """{"saved_for_backward", "saved_for_backward_peak", "workspaces", "workspaces_peak"} in bytes
    (peaks since the start or the last reset_peak_memory_stats)."""
    ws = _workspace_bytes()
    _workspace_peak[0] = max(_workspace_peak[0], ws)
    return {"saved_for_backward": _saved[0], "saved_for_backward_peak": _saved[1],
            "workspaces": ws, "workspaces_peak": _workspace_peak[0]}


def reset_peak_memory_stats():
    """Start the peaks again from the current values."""
    with _lock:
        _saved[1] = _saved[0]
    _workspace_peak[0] = _workspace_bytes()


def empty_cache():
    """Free the c backend's workspaces (the next kernel call allocates what it needs again)."""
    from . import backends
    if backends.available_backends().get("c") == "enabled":
        memory_stats()   # the workspaces only grow between releases: their size now is their peak
        backends.module("c").release_workspaces()
