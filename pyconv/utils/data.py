"""torch.utils.data's names: datasets, samplers, DataLoader, default_collate, random_split,
get_worker_info (pyconv.data's; see there), and DistributedSampler (pyconv.distributed's)."""
from ..data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler,
                    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                    WeightedRandomSampler, WorkerInfo, default_collate, get_worker_info,
                    random_split)
from ..distributed.sampler import DistributedSampler

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "get_worker_info", "WorkerInfo", "DistributedSampler"]
