"""Datasets, samplers, the DataLoader (with worker processes), the IDX reader, MNIST and
Fashion-MNIST, and batch image transforms; also reachable as pyconv.utils.data."""
from . import transforms
from .collate import default_collate
from .dataset import ConcatDataset, Dataset, Subset, TensorDataset, random_split
from .idx import IDXError, read_idx, write_idx
from .loader import DataLoader
from .mnist import MNIST, FashionMNIST
from .sampler import (BatchSampler, RandomSampler, Sampler, SequentialSampler, SubsetRandomSampler,
                      WeightedRandomSampler)
from .worker import WorkerInfo, get_worker_info

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "get_worker_info", "WorkerInfo",
           "read_idx", "write_idx", "IDXError", "MNIST", "FashionMNIST", "transforms"]
