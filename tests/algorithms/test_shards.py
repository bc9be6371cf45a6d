"""A worker's shard for a worker count the preprocess stage wrote no shards for (a re-planned train stage) is
cut from the shards it did write: the same rows, in the same order, as shards written for that count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from mlspec.algorithms.data import read_shard, shard_sizes
from mlspec.datasets import shard_indices
from mlspec.storage import open_object_store
from mlspec.storage.codec import pack_xy

ROWS, SEED, WRITTEN = 23, 5, 3


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_a_shard_of_an_unwritten_count_equals_the_shard_written_for_it(tmp_path: Path, kind: str) -> None:
    x_dense = np.arange(ROWS * 4, dtype=np.float32).reshape(ROWS, 4)
    x = sparse.csr_matrix(x_dense) if kind == "sparse" else x_dense
    y = np.arange(ROWS) % 2
    store = open_object_store({"kind": "local", "root": str(tmp_path)})
    sizes = []
    for shard in range(WRITTEN):  # as the preprocess stage writes them
        rows = shard_indices(ROWS, WRITTEN, shard, SEED)
        store.put(f"data/prep/shards-{WRITTEN}/{shard}.npz", pack_xy(x[rows], y[rows]))
        sizes.append(len(rows))
    meta = {"n_train": ROWS, "shards": {str(WRITTEN): sizes}}
    for workers in (1, 2, 3, 4, 7):
        assert shard_sizes(meta, workers) == [len(shard_indices(ROWS, workers, w, SEED)) for w in range(workers)]
        for worker in range(workers):
            rows = shard_indices(ROWS, workers, worker, SEED)
            got_x, got_y = read_shard(store, "data/prep", meta, workers, worker)
            dense = got_x.toarray() if kind == "sparse" else got_x
            np.testing.assert_array_equal(dense, x_dense[rows])
            np.testing.assert_array_equal(got_y, y[rows])
