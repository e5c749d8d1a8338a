"""torch.utils.data's names: datasets, samplers, DataLoader, default_collate, random_split,
get_worker_info. They are pyconv.data's; see there."""
from ..data import (BatchSampler, ConcatDataset, DataLoader, Dataset, RandomSampler, Sampler,
                    SequentialSampler, Subset, SubsetRandomSampler, TensorDataset,
                    WeightedRandomSampler, WorkerInfo, default_collate, get_worker_info,
                    random_split)

__all__ = ["Dataset", "TensorDataset", "Subset", "ConcatDataset", "random_split", "DataLoader",
           "default_collate", "Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler", "get_worker_info", "WorkerInfo"]
