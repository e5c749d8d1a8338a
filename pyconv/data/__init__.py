"""Datasets, the DataLoader, the IDX reader, MNIST/Fashion-MNIST and image transforms."""
from . import transforms
from .dataset import Dataset, Subset, TensorDataset, random_split
from .idx import IDXError, read_idx, write_idx
from .loader import DataLoader, default_collate
from .mnist import MNIST, FashionMNIST

__all__ = ["Dataset", "TensorDataset", "Subset", "random_split", "DataLoader", "default_collate",
           "read_idx", "write_idx", "IDXError", "MNIST", "FashionMNIST", "transforms"]
