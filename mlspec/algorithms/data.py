"""The training data of an iterative stage, read from the shards its preprocess stage wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.algorithms.features import features
from mlspec.datasets import part_bounds, shard_indices
from mlspec.storage import ObjectStore
from mlspec.storage.codec import unpack_xy


@dataclass(frozen=True)
class Shard:
    x: Any  # features: dense float32 array or CSR matrix
    y: np.ndarray
    rows: np.ndarray  # each row's index in the training set


def read_meta(objects: ObjectStore, data: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads(objects.get(f"{data}/meta.json"))
    return meta


def shard_sizes(meta: dict[str, Any], workers: int) -> list[int]:
    """Rows in each of `workers` shards, whether or not the preprocess stage wrote shards for that count."""
    return [stop - start for start, stop in part_bounds(int(meta["n_train"]), workers)]


def read_shard(
    objects: ObjectStore, data: str, meta: dict[str, Any], workers: int, worker: int
) -> tuple[Any, np.ndarray]:
    """Shard `worker` of `workers` as written by the preprocess stage or, for a count it wrote none for (a
    stage whose workers were re-planned), cut from the shards of a count it did write: every count's shards
    are contiguous runs of the same seeded permutation of the training rows, so this shard is a run of that
    count's, read shard by shard (never the whole training set) in the same row order."""
    if str(workers) in meta["shards"]:
        return unpack_xy(objects.get(f"{data}/shards-{workers}/{worker}.npz"))
    written = max(int(count) for count in meta["shards"])
    start, stop = part_bounds(int(meta["n_train"]), workers)[worker]
    xs, ys = [], []
    for part, (first, last) in enumerate(part_bounds(int(meta["n_train"]), written)):
        if first < stop and start < last:
            x, y = unpack_xy(objects.get(f"{data}/shards-{written}/{part}.npz"))
            cut = slice(max(start, first) - first, min(stop, last) - first)
            xs.append(x[cut])
            ys.append(y[cut])
    if hasattr(xs[0], "tocsr"):
        from scipy import sparse

        return sparse.vstack(xs, format="csr"), np.concatenate(ys)
    return np.concatenate(xs), np.concatenate(ys)


def load_shard(objects: ObjectStore, data: str, meta: dict[str, Any], workers: int, worker: int, seed: int) -> Shard:
    x, y = read_shard(objects, data, meta, workers, worker)
    return Shard(features(x, meta), y, shard_indices(meta["n_train"], workers, worker, seed))


def load_test_set(objects: ObjectStore, data: str, meta: dict[str, Any]) -> tuple[Any, np.ndarray]:
    x, y = unpack_xy(objects.get(f"{data}/test.npz"))
    return features(x, meta), y


def load_training_set(
    objects: ObjectStore, data: str, meta: dict[str, Any], workers: int, seed: int
) -> tuple[Any, np.ndarray]:
    """The whole training set in its original order, put back together from `workers` shards (for the
    sequential baseline, which must see the rows where the workers' row indices say they are)."""
    shards = [load_shard(objects, data, meta, workers, w, seed) for w in range(workers)]
    order = np.argsort(np.concatenate([s.rows for s in shards]))
    y = np.concatenate([s.y for s in shards])[order]
    if hasattr(shards[0].x, "tocsr"):
        from scipy import sparse

        return sparse.vstack([s.x for s in shards], format="csr")[order], y
    return np.concatenate([s.x for s in shards])[order], y
