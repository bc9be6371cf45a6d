"""Learning-rate schedules: the factor the stage's learning_rate is multiplied by, from the fraction of the
stage's training done (0 at its first step, 1 after its last). Pure functions of that fraction, so a resumed
or re-planned worker continues the schedule exactly where it was."""

from __future__ import annotations

from collections.abc import Callable

ONE_CYCLE_PEAK = 0.2  # where the one-cycle schedule peaks, as a fraction of training (the fast CIFAR-10 scripts)


def constant(done: float) -> float:
    return 1.0


def one_cycle(done: float) -> float:
    """Up linearly from 0 to 1 over the first ONE_CYCLE_PEAK of training, then down linearly to 0."""
    return done / ONE_CYCLE_PEAK if done < ONE_CYCLE_PEAK else max(0.0, (1.0 - done) / (1.0 - ONE_CYCLE_PEAK))


SCHEDULES: dict[str, Callable[[float], float]] = {"constant": constant, "one_cycle": one_cycle}
