"""Model vs outcome for a run that followed a plan: per stage, the plan's modelled time and cost beside what
the run measured in the planned envelope (emulated on this host), and the model's error."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from pydantic import ValidationError

from mlspec.planner.replan import Envelope
from mlspec.planner.timemodel import CORE_EQUIVALENCE
from mlspec.providers.registry import get_offering
from mlspec.records.model import InvocationRecord, PlannedStageRecord, RunRecord
from mlspec.spec.models import Pipeline


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
    modelled_egress_gb: float = 0.0
    # The same model for the envelope the stage had here (its vCPU, rounded up to whole cores above one; no
    # platform cold start; synchronising at the speed the profiled run's store had), and its error: how far the
    # model is from the emulation, apart from what the emulation cannot reproduce.
    modelled_here_s: float | None = None
    here_error_pct: float | None = None
    emulated_egress_gb: float | None = None  # what the stage read from stages planned on another cloud
    emulated_egress_usd: float | None = None  # at that cloud's egress price; part of emulated_cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "labels": LABELS}


LABELS = {
    "modelled_time_s": "modelled",
    "modelled_cost_usd": "modelled",
    "emulated_time_s": "emulated",
    "emulated_cost_usd": "emulated (priced at the platform's catalog prices, egress included)",
    "modelled_egress_gb": "modelled",
    "modelled_here_s": (
        "modelled (for the envelope emulated here: vCPU rounded up to whole cores above one, no platform cold start, "
        "synchronising at the speed measured through this host's store)"
    ),
    "emulated_egress_gb": "emulated (bytes read here from stages planned on another cloud)",
    "emulated_egress_usd": "emulated (priced at the producing cloud's catalog egress price)",
}


def _error(modelled: float, outcome: float | None) -> float | None:
    return 100.0 * (modelled - outcome) / outcome if outcome else None


def plan_outcome(record: RunRecord) -> list[StageOutcome]:
    """One row per planned stage; a stage that did not succeed has no emulated figures."""
    if record.plan is None:
        return []
    reads = _stages_read(record)
    rows = []
    for name, planned in record.plan.stages.items():
        stage = record.stages.get(name)
        invocations = [i for i in record.invocations if i.stage == name]
        time_s = stage.wall_s if stage is not None and stage.status == "succeeded" else None
        cost = egress_gb = egress_usd = None
        if time_s is not None and invocations:
            per_invocation = sum(i.wall_s for i in invocations) / len(invocations)
            egress_gb, egress_usd = _egress(record.plan.stages, planned, reads.get(name, ()), invocations)
            cost = egress_usd + Envelope.of(planned).cost(per_invocation, len(invocations))
        here = modelled_here_s(planned, record.plan.host_cores)
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
                modelled_egress_gb=planned.egress_gb,
                emulated_egress_gb=egress_gb,
                emulated_egress_usd=egress_usd,
                modelled_here_s=here,
                here_error_pct=_error(here, time_s) if here is not None else None,
            )
        )
    return rows


def modelled_here_s(planned: PlannedStageRecord, host_cores: int) -> float | None:
    """The plan's model of a stage re-evaluated for how it ran here: each invocation computes on its vCPU's
    share of a core below one vCPU, else on whole cores (CPU affinity: the vCPU rounded up), shared when the
    workers ask more cores than the host has, starts without the platform's cold start, and synchronises at the
    speed the profiled run measured through the store (where it measured one; the assumed cloud store's speed
    otherwise); None for a plan that does not carry its model's parts."""
    compute, init = planned.compute_s, planned.init_s
    sync = planned.sync_here_s if planned.sync_here_s is not None else planned.sync_s
    speed, parallelism = planned.speed, planned.parallelism
    if compute is None or sync is None or init is None or speed is None or parallelism is None:
        return None
    vcpu = planned.vcpu or 1.0
    given = vcpu if vcpu < 1 else float(math.ceil(vcpu))
    cores = min(given, host_cores / max(planned.workers, 1))
    here = min(cores, parallelism) * CORE_EQUIVALENCE.value
    return compute * speed / max(here, 1e-6) + sync + init


def _stages_read(record: RunRecord) -> dict[str, tuple[str, ...]]:
    """Per stage, the stages whose output it reads, from the run's resolved spec."""
    try:
        pipeline = Pipeline.model_validate(record.spec)
    except ValidationError:  # a record written by another version of mlspec: no crossing is known
        return {}
    return {name: tuple(stage.stage_refs().values()) for name, stage in pipeline.stages.items()}


def _egress(
    plan: dict[str, PlannedStageRecord],
    planned: PlannedStageRecord,
    producers: tuple[str, ...],
    invocations: list[InvocationRecord],
) -> tuple[float, float]:
    """(GB, USD) a stage read across clouds, as the planner models the crossing: when a stage it reads was
    planned on another cloud, what it read leaves that cloud at that cloud's egress price."""
    cloud = planned.platform.partition(":")[0]
    away = [plan[p].platform for p in producers if p in plan and plan[p].platform.partition(":")[0] != cloud]
    if not away:
        return 0.0, 0.0
    gb = sum(i.io.get("object_bytes_read", 0) for i in invocations) / 1e9
    return gb, gb * get_offering(away[0]).cloud.egress_per_gb_usd.value


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
