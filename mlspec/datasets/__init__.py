"""Datasets: CIFAR-10 (python batches) and IMDb (aclImdb) from a local path, file:// URI or http(s):// URL
(checksummed, cached), their seeded synthetic twins, and deterministic sharding for N workers.

Importing this package only loads numpy; archive, network and pickle code is imported on first use."""

from __future__ import annotations

from mlspec.datasets.base import (
    CIFAR10_CLASSES,
    IMDB_CLASSES,
    Dataset,
    DatasetError,
    Progress,
    part_bounds,
    shard_indices,
)
from mlspec.datasets.loader import check_local_source, load_dataset, verify_source

__all__ = [
    "CIFAR10_CLASSES",
    "IMDB_CLASSES",
    "Dataset",
    "DatasetError",
    "Progress",
    "check_local_source",
    "load_dataset",
    "part_bounds",
    "shard_indices",
    "verify_source",
]
