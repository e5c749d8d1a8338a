"""Grad mode: whether ops record the graph that backward() walks.

Recording is on by default; `no_grad()` turns it off for inference and for optimizer updates
such as `w -= lr * w.grad`. `Function.apply` (pyconv/autograd.py) reads the mode on every op;
each thread has its own, as in PyTorch.
"""
import functools
import threading

_state = threading.local()


def is_grad_enabled():
    return getattr(_state, "grad_enabled", True)


def _set_grad_enabled(mode):
    _state.grad_enabled = bool(mode)


class _GradMode:
    """Context manager and decorator that sets grad mode to `self.enabled` within it."""
    enabled = True

    def __new__(cls, func=None, *args, **kwargs):
        if callable(func):  # used as @no_grad, without parentheses
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, *args, **kwargs):
        self._previous = []

    def __enter__(self):
        self._previous.append(is_grad_enabled())
        _set_grad_enabled(self.enabled)
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous.pop())
        return False

    def __call__(self, func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with type(self)():  # a fresh instance per call: recursion and threads stay apart
                return func(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """Within this block (or decorated function) ops record no graph: inference, and
    optimizer updates such as `w -= lr * w.grad`."""
    enabled = False


class enable_grad(_GradMode):
    """Within this block ops record the graph again (inside a no_grad block)."""
    enabled = True


class inference_mode(_GradMode):
    """As no_grad (pyconv has no separate inference mode); `inference_mode(False)` records."""
    def __init__(self, mode=True):
        super().__init__()
        self.enabled = not mode

    def __call__(self, func):
        mode = not self.enabled

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with inference_mode(mode):
                return func(*args, **kwargs)
        return wrapper


class set_grad_enabled:
    """`set_grad_enabled(False)` turns recording off now; used with `with`, it restores the
    previous mode at the end of the block."""

    def __init__(self, mode):
        self._previous = is_grad_enabled()
        _set_grad_enabled(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _set_grad_enabled(self._previous)
        return False
