"""The sequential baseline: the whole algorithm in one process on all the training data."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.algorithms.base import IterativeAlgorithm, State, advance


@dataclass(frozen=True)
class SequentialResult:
    state: State  # the final one
    history: list[dict[str, float]]  # per round after the initial one
    iterate_s: float  # wall time of rounds 1.. (the initial round excluded, as for the workers)


def history_entry(state: State) -> dict[str, float]:
    return {"iteration": state.round, "movement": state.movement, **state.summary}


def run_sequential(
    algorithm: IterativeAlgorithm, x: Any, y: np.ndarray, iterations: int, tolerance: float
) -> SequentialResult:
    """`x`, `y`: the training set in its original order (the initial k-means centroids are picked by row)."""
    state = advance(algorithm, None, algorithm.init_partial(x, y, np.arange(len(y))), iterations, tolerance)
    history = []
    started = time.perf_counter()
    while not state.done:
        state = advance(algorithm, state, algorithm.partial(state.params, x, y), iterations, tolerance)
        history.append(history_entry(state))
    return SequentialResult(state, history, time.perf_counter() - started)
