"""Iterative algorithms on shared state (the Lithops paper's k-means and logistic regression).

The math exists once, here: each algorithm computes a shard's additive *partial* result for the current
shared state, partials are summed, and `advance` turns the sum into the next state. The sequential
baseline, the lock-based workers, and the coordinator's lock-free merger all call the same functions.
Importing this package only loads numpy.
"""

from __future__ import annotations

from mlspec.algorithms.base import IterativeAlgorithm, Partial, State, advance, merge
from mlspec.algorithms.registry import build
from mlspec.algorithms.sequential import SequentialResult, run_sequential

__all__ = [
    "IterativeAlgorithm",
    "Partial",
    "SequentialResult",
    "State",
    "advance",
    "build",
    "merge",
    "run_sequential",
]
