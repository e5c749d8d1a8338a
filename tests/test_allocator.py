"""pyconv/_allocator.py: the glibc malloc settings, applied once, never over the user's."""
import pytest

from pyconv import _allocator


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(_allocator, "_done", [])
    return FakeLibc()


def test_fixes_the_mmap_and_trim_thresholds(fresh):
    assert _allocator.tune_malloc(fresh, environ={})
    assert fresh.calls == [(_allocator.M_MMAP_THRESHOLD, 4 << 20), (_allocator.M_TRIM_THRESHOLD, 64 << 20)]
    assert _allocator.tune_malloc(FakeLibc(), environ={})   # once per process


@pytest.mark.parametrize("environ", [{"PYCONV_MALLOC_TUNING": "0"}, {"MALLOC_MMAP_THRESHOLD_": "131072"},
                                     {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=0"}])
def test_leaves_the_defaults_or_the_users_settings_alone(fresh, environ):
    assert not _allocator.tune_malloc(fresh, environ=environ)
    assert fresh.calls == []


def test_a_libc_without_mallopt_is_left_alone(fresh):
    assert not _allocator.tune_malloc(object(), environ={})
