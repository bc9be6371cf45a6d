"""Shared types of the dataset loaders: the error, the loaded dataset and the progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.errors import MlspecError

#: progress(description, done, total_or_None): called while downloading, verifying and reading.
Progress = Callable[[str, int, int | None], None]

FORMATS = ("cifar10", "imdb")

#: The ten official CIFAR-10 label names, in label order (as in the official batches.meta).
CIFAR10_CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
IMDB_CLASSES = ["neg", "pos"]


class DatasetError(MlspecError):
    """A dataset that cannot be used: missing file, bad checksum, corrupt archive, unsupported layout or
    failed download. The message is one line, meant to be shown to the user as is."""


class DataRejected(DatasetError):
    """A dataset whose contents are unusable (corrupt archive or pickle, unsafe or oversized member, refused
    pickle, wrong layout, checksum mismatch): the same on every try, so bad input and never retried."""

    exit_code = 2
    permanent = True


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset. cifar10: `*_x` are uint8 arrays (N, 32, 32, 3) in HWC order; imdb: `*_x` are
    lists of raw review texts. Labels are int64 arrays of shape (N,). Compared by identity (the fields
    hold arrays)."""

    format: str
    classes: list[str]
    train_x: Any
    train_y: np.ndarray
    test_x: Any
    test_y: np.ndarray
    source: str
    # Examples of (train, test) the source holds, before max_train / max_test kept fewer; None: all kept.
    available: tuple[int, int] | None = None

    def __repr__(self) -> str:
        return (
            f"Dataset(format={self.format!r}, classes={self.classes!r}, n_train={len(self.train_y)}, "
            f"n_test={len(self.test_y)}, source={self.source!r})"
        )


def shard_indices(n: int, num_shards: int, shard: int, seed: int) -> np.ndarray:
    """Rows of shard `shard` out of `num_shards`: a permutation of range(n) seeded by `seed`, cut into
    `num_shards` contiguous parts whose sizes differ by at most one. Shards are disjoint and cover range(n);
    the same arguments always give the same rows (int64)."""
    for name, value in (("n", n), ("num_shards", num_shards), ("shard", shard), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard must be in 0..{num_shards - 1}, got {shard}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    order = np.random.default_rng(int(seed)).permutation(int(n)).astype(np.int64)
    start, stop = part_bounds(int(n), int(num_shards))[shard]
    return order[start:stop].copy()


def part_bounds(n: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) of `parts` contiguous parts of range(n) whose sizes differ by at most one."""
    base, extra = divmod(n, parts)
    bounds, start = [], 0
    for part in range(parts):
        stop = start + base + (1 if part < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds
