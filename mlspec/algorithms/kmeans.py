"""k-means (Lloyd's algorithm) as additive partials: per cluster the sum and count of the points
assigned to it, the inertia, and a cluster x class histogram (for purity against the labels)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlspec.algorithms.base import IterativeAlgorithm, Partial
from mlspec.errors import UsageError

# Rows per block in the cluster sums: what bounds each block's float64 copy (dense: rows x features) and its
# one-hot matrix (sparse: rows x clusters).
_DENSE_BLOCK_ROWS, _SPARSE_BLOCK_ROWS = 256, 2048


def _dense(x: Any) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x)


def _squared_norms(x: Any) -> np.ndarray:
    if hasattr(x, "multiply"):
        return np.asarray(x.multiply(x).sum(axis=1), np.float32).ravel()
    return np.einsum("ij,ij->i", x, x)


class KMeans(IterativeAlgorithm):
    def __init__(self, clusters: int, n_features: int, classes: int, n_train: int, seed: int) -> None:
        if clusters > n_train:
            raise UsageError(
                f"kmeans with {clusters} clusters needs at least {clusters} training examples; the data has {n_train}"
            )
        self.clusters, self.n_features, self.classes = clusters, n_features, classes
        # The initial centroids are training points picked from the whole training set by the seed alone,
        # so every worker (each seeing only its shard) and the sequential baseline start from the same ones.
        self.seed_rows = np.random.default_rng([seed, clusters]).choice(n_train, clusters, replace=False)

    def init_partial(self, x: Any, y: np.ndarray, rows: np.ndarray) -> Partial:
        """The initial centroids this shard holds, at their cluster's place; zeros elsewhere. Every point
        lives in exactly one shard, so the sum over shards is exactly the chosen points."""
        order = np.argsort(rows)
        at = np.minimum(np.searchsorted(rows[order], self.seed_rows), len(rows) - 1)
        held = np.flatnonzero(rows[order][at] == self.seed_rows)
        sums = np.zeros((self.clusters, self.n_features))
        sums[held] = _dense(x[order[at[held]]])
        counts = np.zeros(self.clusters)
        counts[held] = 1
        return {"sums": sums.ravel(), "counts": counts}

    def initial_params(self, merged: Partial) -> np.ndarray:
        if not np.all(merged["counts"] == 1):
            raise ValueError("initial centroids incomplete: the shards do not cover the training set")
        return merged["sums"].astype(np.float32)

    def assign(self, params: np.ndarray, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """Each point's nearest centroid and its squared distance to it."""
        centroids = params.reshape(self.clusters, self.n_features).astype(np.float32, copy=False)
        distances = np.asarray(x @ centroids.T, np.float32)
        distances *= -2
        distances += _squared_norms(x)[:, None]
        distances += np.einsum("ij,ij->i", centroids, centroids)[None, :]
        labels = distances.argmin(axis=1)
        return labels, np.maximum(distances[np.arange(len(labels)), labels], 0).astype(np.float64)

    def partial(self, params: np.ndarray, x: Any, y: np.ndarray) -> Partial:
        labels, distances = self.assign(params, x)
        return {
            "sums": self._cluster_sums(x, labels).ravel(),
            "counts": np.bincount(labels, minlength=self.clusters).astype(np.float64),
            "inertia": np.array([distances.sum()]),
            "histogram": np.bincount(labels * self.classes + y, minlength=self.clusters * self.classes).astype(
                np.float64
            ),
        }

    def _cluster_sums(self, x: Any, labels: np.ndarray) -> np.ndarray:
        """Per cluster, the sum of its points, in float64 (so the sum does not depend on how the data is
        sharded beyond rounding), a block of rows at a time to bound the float64 copy."""
        sums = np.zeros((self.clusters, self.n_features))
        if hasattr(x, "multiply"):  # sparse rows (text): a one-hot product costs nonzeros x clusters
            for start in range(0, len(labels), _SPARSE_BLOCK_ROWS):
                block = labels[start : start + _SPARSE_BLOCK_ROWS]
                members = np.zeros((len(block), self.clusters))
                members[np.arange(len(block)), block] = 1
                sums += np.asarray(x[start : start + _SPARSE_BLOCK_ROWS].astype(np.float64).T @ members).T
            return sums
        # Dense rows (images): the points in cluster order, each block's runs of one cluster added up, which costs
        # points x features; a one-hot product costs that times the clusters, and was most of an iteration.
        order = np.argsort(labels, kind="stable")
        for start in range(0, len(order), _DENSE_BLOCK_ROWS):
            rows = order[start : start + _DENSE_BLOCK_ROWS]
            block = labels[rows]
            runs = np.flatnonzero(np.concatenate([[True], block[1:] != block[:-1]]))
            sums[block[runs]] += np.add.reduceat(x[rows].astype(np.float64), runs, axis=0)
        return sums

    def update(self, params: np.ndarray, merged: Partial) -> np.ndarray:
        old = params.reshape(self.clusters, self.n_features)
        counts = merged["counts"][:, None]
        sums = merged["sums"].reshape(self.clusters, self.n_features)
        # An empty cluster keeps its centroid. Centroids are float32, as `assign` uses them: half the bytes every
        # worker reads each round, the same assignments (the sums stay float64: they must not depend on sharding).
        return np.where(counts > 0, sums / np.maximum(counts, 1), old).ravel().astype(np.float32)

    def summary(self, merged: Partial) -> dict[str, float]:
        return {"inertia": float(merged["inertia"][0]), "purity": self._purity(merged["histogram"])}

    def _purity(self, histogram: np.ndarray) -> float:
        """Share of points whose cluster's most common class is their own class."""
        table = histogram.reshape(self.clusters, self.classes)
        return float(table.max(axis=1).sum() / max(table.sum(), 1))

    def evaluate(self, params: np.ndarray, x: Any, y: np.ndarray) -> dict[str, float]:
        labels, distances = self.assign(params, x)
        histogram = np.bincount(labels * self.classes + y, minlength=self.clusters * self.classes)
        return {"test_inertia_per_point": float(distances.mean()), "test_purity": self._purity(histogram)}
