"""Re-planning a train stage while it runs (SMLT's adaptive scheduler): from the epochs measured so far,
model the rest of the stage at each worker count, and change the count when the deadline or budget would
be missed, or when a feasible count costs at least `CHEAPER_BY` less.

The model of one more epoch with w workers, from the last epoch measured with w0 (all figures measured
except where a sync time has to be modelled): compute (epoch - sync) x w0 / w, since every worker takes
the same number of steps on a shard 1/w of the data; sync the measured sync time scaled by the time model's
ratio for w against w0 (`sync_time_s`), or modelled outright when w0 = 1 measured none. A change takes
effect at an epoch boundary: the workers now running finish the epoch they are in (`LAG_EPOCHS`), then
the new ones start from the checkpoint, which costs the restart measured for this stage. Memory stays as
planned: a process here cannot be given less than a core, so a memory change could not be emulated."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlspec.planner.optimize import PlanObjective
from mlspec.planner.timemodel import sync_time_s
from mlspec.providers.catalog import Offering
from mlspec.providers.pricing import price
from mlspec.providers.registry import get_offering
from mlspec.records import PlannedStageRecord

CHEAPER_BY = 0.2  # a feasible count is taken when its objective is at least this much lower
LAG_EPOCHS = 1  # epochs the running workers are taken to finish before a change applies
# Of the time left, the share a change plans to leave unused: for what the model does not see (the machine's
# load on the restart and the later stages). An mlspec assumption, not measured.
DEADLINE_RESERVE = 0.15


@dataclass(frozen=True)
class EpochTiming:
    """The last epoch of a train stage, as its slowest worker measured it."""

    workers: int
    epoch_s: float  # wall time of the epoch, synchronisation included
    sync_s: float  # of which synchronising
    model_bytes: int
    sync_rounds: int  # per worker in the epoch


@dataclass(frozen=True)
class Envelope:
    """Where the stage runs: the offering, memory and vCPU it was planned at, and its sync pattern."""

    offering: Offering
    memory_mb: int
    vcpu: float | None
    pattern: str = "allreduce"

    @classmethod
    def of(cls, planned: PlannedStageRecord) -> Envelope:
        return cls(get_offering(planned.platform), planned.memory_mb, planned.vcpu)

    def cost(self, seconds: float, invocations: int) -> float:
        """`invocations` of `seconds` each at the offering's catalog prices (its limits not checked)."""
        return price(self.offering, self.memory_mb, seconds, invocations, vcpu=self.vcpu, check_limits=False).total_usd


@dataclass(frozen=True)
class Option:
    """The rest of the stage with `workers` workers from the next change point: modelled time and cost."""

    workers: int
    time_s: float
    cost_usd: float
    epoch_s: float  # one epoch with these workers

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Decision:
    reason: str
    before: Option  # carrying on as now
    after: Option


def epoch_time_s(timing: EpochTiming, workers: int, pattern: str) -> float:
    compute = max(timing.epoch_s - timing.sync_s, 0.0) * timing.workers / workers
    modelled = sync_time_s(timing.model_bytes, workers, timing.sync_rounds, pattern)
    if timing.workers > 1 and timing.sync_s > 0:
        was = sync_time_s(timing.model_bytes, timing.workers, timing.sync_rounds, pattern)
        sync = timing.sync_s * modelled / was if was > 0 else timing.sync_s
    else:
        sync = modelled
    return compute + sync


def options(
    timing: EpochTiming, envelope: Envelope, epochs_left: int, restart_s: float, counts: Iterable[int]
) -> tuple[Option, list[Option]]:
    """Carrying on with the current workers, and changing to each of `counts` after `LAG_EPOCHS` more epochs."""
    now = timing.workers
    current_epoch = epoch_time_s(timing, now, envelope.pattern)
    stay = Option(now, epochs_left * current_epoch, envelope.cost(epochs_left * current_epoch, now), current_epoch)
    lag = LAG_EPOCHS * current_epoch
    changes = []
    for workers in sorted(set(counts) - {now}):
        epoch = epoch_time_s(timing, workers, envelope.pattern)
        after = restart_s + (epochs_left - LAG_EPOCHS) * epoch
        changes.append(Option(workers, lag + after, envelope.cost(lag, now) + envelope.cost(after, workers), epoch))
    return stay, changes


def decide(
    stay: Option,
    changes: list[Option],
    minimize: Literal["cost", "time"],
    time_left_s: float | None,
    budget_left_usd: float | None,
) -> Decision | None:
    """The change to make, if any: the best feasible option when carrying on misses the deadline (less
    `DEADLINE_RESERVE`) or budget (else the one that misses it least, if it misses by less), or one at least
    `CHEAPER_BY` better."""
    usable_s = None if time_left_s is None else time_left_s * (1 - DEADLINE_RESERVE)
    objective = PlanObjective(minimize, usable_s, budget_left_usd)
    feasible = [o for o in changes if objective.feasible(o.time_s, o.cost_usd)]
    if objective.feasible(stay.time_s, stay.cost_usd):
        if not feasible:
            return None
        best = min(feasible, key=lambda o: objective.value(o.time_s, o.cost_usd))
        now, then = objective.value(stay.time_s, stay.cost_usd), objective.value(best.time_s, best.cost_usd)
        if then > (1 - CHEAPER_BY) * now:
            return None
        what = "cheaper" if objective.minimize == "cost" else "faster"
        return Decision(f"{best.workers} workers are {100 * (1 - then / now):.0f} % {what} and feasible", stay, best)
    missed = _missed(objective, stay, time_left_s)
    if feasible:
        best = min(feasible, key=lambda o: objective.value(o.time_s, o.cost_usd))
        return Decision(f"{missed}; {best.workers} workers meet it", stay, best)
    if not changes:
        return None
    nearest = min(changes, key=lambda o: float(objective.violation(o.time_s, o.cost_usd)))
    if float(objective.violation(nearest.time_s, nearest.cost_usd)) >= float(
        objective.violation(stay.time_s, stay.cost_usd)
    ):
        return None
    return Decision(f"{missed}; {nearest.workers} workers miss it least", stay, nearest)


def _missed(objective: PlanObjective, stay: Option, time_left_s: float | None) -> str:
    if time_left_s is not None and objective.deadline_s is not None and stay.time_s > objective.deadline_s:
        left = max(time_left_s, 0)
        return f"deadline would be missed: {stay.time_s:.1f} s modelled to go, {left:.1f} s left"
    left = max(objective.budget_usd or 0, 0)
    return f"budget would be exceeded: ${stay.cost_usd:.6f} modelled to go, ${left:.6f} left"
