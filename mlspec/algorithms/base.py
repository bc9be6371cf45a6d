"""What every iterative algorithm provides, and the one step shared by every way of running it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# name -> flat float64 array; partials of one round are summed key by key.
Partial = dict[str, np.ndarray]


class IterativeAlgorithm(ABC):
    """Round 0 gathers what the initial state needs (`init_partial` -> `initial_params`); every later
    round computes `partial` on each shard for the current parameters and `update`s them with the sum."""

    @abstractmethod
    def init_partial(self, x: Any, y: np.ndarray, rows: np.ndarray) -> Partial:
        """This shard's contribution to the initial state; `rows` are its rows' indices in the training set."""

    @abstractmethod
    def initial_params(self, merged: Partial) -> np.ndarray: ...

    @abstractmethod
    def partial(self, params: np.ndarray, x: Any, y: np.ndarray) -> Partial: ...

    @abstractmethod
    def update(self, params: np.ndarray, merged: Partial) -> np.ndarray: ...

    @abstractmethod
    def summary(self, merged: Partial) -> dict[str, float]:
        """Figures of the pass that produced `merged` (e.g. inertia, training loss), over all shards."""

    @abstractmethod
    def evaluate(self, params: np.ndarray, x: Any, y: np.ndarray) -> dict[str, float]:
        """Figures of `params` on held-out data."""


@dataclass(frozen=True)
class State:
    """The shared state after `round` rounds (round 0: the initial state)."""

    round: int
    params: np.ndarray  # flat float64
    done: bool = False
    movement: float = float("inf")  # relative L2 change from the previous round's params
    summary: dict[str, float] = field(default_factory=dict)


def merge(partials: list[Partial]) -> Partial:
    """Sum partials key by key (in the order given, so a fixed order gives a reproducible sum)."""
    out = {key: np.array(value, dtype=np.float64, copy=True) for key, value in partials[0].items()}
    for partial in partials[1:]:
        for key, value in partial.items():
            out[key] += value
    return out


def advance(
    algorithm: IterativeAlgorithm, previous: State | None, merged: Partial, iterations: int, tolerance: float
) -> State:
    """The state after one more round, given the sum of that round's partials."""
    if previous is None:
        return State(0, algorithm.initial_params(merged))
    params = algorithm.update(previous.params, merged)
    movement = float(np.linalg.norm(params - previous.params) / max(float(np.linalg.norm(previous.params)), 1e-12))
    number = previous.round + 1
    return State(
        number,
        params,
        done=movement <= tolerance or number >= iterations,
        movement=movement,
        summary=algorithm.summary(merged),
    )
