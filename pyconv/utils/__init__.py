"""torch.utils's counterpart: `pyconv.utils.data` is pyconv.data."""
from . import data

__all__ = ["data"]
