"""Model vs outcome for a run that followed a plan: per stage, the plan's modelled time and cost beside what
the run measured in the planned envelope (emulated on this host), and the model's error."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mlspec.providers.pricing import price
from mlspec.providers.registry import get_offering
from mlspec.records.model import RunRecord


@dataclass(frozen=True)
class StageOutcome:
    stage: str
    platform: str
    modelled_time_s: float
    emulated_time_s: float | None  # the stage's wall time here, in the planned envelope
    time_error_pct: float | None  # (modelled - emulated) / emulated
    modelled_cost_usd: float
    emulated_cost_usd: float | None  # the invocations that ran here, at the platform's prices
    cost_error_pct: float | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "labels": LABELS}


LABELS = {
    "modelled_time_s": "modelled",
    "modelled_cost_usd": "modelled",
    "emulated_time_s": "emulated",
    "emulated_cost_usd": "emulated (priced at the platform's catalog prices)",
}


def _error(modelled: float, outcome: float | None) -> float | None:
    return 100.0 * (modelled - outcome) / outcome if outcome else None


def plan_outcome(record: RunRecord) -> list[StageOutcome]:
    """One row per planned stage; a stage that did not succeed has no emulated figures."""
    if record.plan is None:
        return []
    rows = []
    for name, planned in record.plan.stages.items():
        stage = record.stages.get(name)
        invocations = [i for i in record.invocations if i.stage == name]
        time_s = stage.wall_s if stage is not None and stage.status == "succeeded" else None
        cost = None
        if time_s is not None and invocations:
            per_invocation = sum(i.wall_s for i in invocations) / len(invocations)
            cost = price(
                get_offering(planned.platform),
                planned.memory_mb,
                per_invocation,
                len(invocations),
                vcpu=planned.vcpu,
                check_limits=False,
            ).total_usd
        rows.append(
            StageOutcome(
                name,
                planned.platform,
                planned.time_s,
                time_s,
                _error(planned.time_s, time_s),
                planned.cost_usd,
                cost,
                _error(planned.cost_usd, cost),
            )
        )
    return rows


def replan_notes(record: RunRecord) -> list[str]:
    """One line per change of workers made while a stage ran, with why and the model's view of it."""
    return [
        f"{name} re-planned after epoch {e.after_epoch} (measured {e.measured_epoch_s:.1f} s): "
        f"{e.workers_before} -> {e.workers_after} workers; {e.reason}; rest of the stage modelled "
        f"{e.modelled_before['time_s']:.1f} s ${e.modelled_before['cost_usd']:.6f} before, "
        f"{e.modelled_after['time_s']:.1f} s ${e.modelled_after['cost_usd']:.6f} after"
        for name, stage in record.stages.items()
        for e in stage.replans
    ]
