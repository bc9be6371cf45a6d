"""The iterative algorithms a stage can name, each built for the data its preprocess stage wrote."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlspec.algorithms.base import IterativeAlgorithm
from mlspec.algorithms.features import feature_count
from mlspec.algorithms.kmeans import KMeans
from mlspec.algorithms.logistic import SoftmaxRegression

# config (the stage's), meta (its preprocess stage's) -> the algorithm
Builder = Callable[[dict[str, Any], dict[str, Any]], IterativeAlgorithm]

ALGORITHMS: dict[str, Builder] = {
    "kmeans": lambda config, meta: KMeans(
        config["clusters"], feature_count(meta), len(meta["classes"]), meta["n_train"], config["seed"]
    ),
    "logistic_regression": lambda config, meta: SoftmaxRegression(
        feature_count(meta), len(meta["classes"]), config["learning_rate"]
    ),
}


def build(config: dict[str, Any], meta: dict[str, Any]) -> IterativeAlgorithm:
    """The algorithm a stage's config names, sized for the data its preprocess stage wrote (`meta`)."""
    try:
        builder = ALGORITHMS[config["algorithm"]]
    except KeyError:
        raise ValueError(f"unknown iterative algorithm {config['algorithm']!r}") from None
    return builder(config, meta)
