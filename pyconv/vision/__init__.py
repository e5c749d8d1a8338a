"""torchvision's counterpart: `pyconv.vision.datasets` (MNIST, FashionMNIST) and
`pyconv.vision.transforms` (per-image transforms)."""
from . import datasets, transforms

__all__ = ["datasets", "transforms"]
