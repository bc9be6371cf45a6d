"""Plan files: the plan `mlspec plan --out` writes, as plain data, and the checks a plan must pass before
anything follows it. A plan carries digests of the resolved spec it was made for (the whole, each stage
with the datasets it reads, each other section), so a plan for a changed spec is refused naming what
changed, and a checksum of its own content, so a plan edited by hand is refused too."""

from __future__ import annotations

import time
from typing import Any

from pydantic import ValidationError

from mlspec import __version__
from mlspec.cache import digest
from mlspec.errors import UsageError
from mlspec.planner.plan import LABELS, PlanResult
from mlspec.records import PlannedStageRecord
from mlspec.spec.models import Pipeline

PLAN_FORMAT = "mlspec-plan"
PLAN_VERSION = 1
STAGE_FIELDS = tuple(PlannedStageRecord.model_fields)
MODEL_PARTS = ("compute_s", "sync_s", "sync_here_s", "init_s", "speed", "parallelism")  # of each stage's estimate


def spec_digests(pipeline: Pipeline) -> dict[str, Any]:
    """Digests of the resolved spec: whole, per stage (with the datasets it reads and the seed), per section."""
    spec = pipeline.model_dump(mode="json", by_alias=True)
    stages = {
        name: digest(
            {
                "stage": spec["stages"][name],
                "datasets": {d: spec["datasets"][d] for d in sorted(_datasets_read(pipeline, name))},
                "seed": spec.get("seed"),
            }
        )
        for name in pipeline.stage_order()
    }
    sections = {key: digest(value) for key, value in sorted(spec.items()) if key not in ("stages", "datasets")}
    return {"sha256": digest(spec), "stages": stages, "sections": sections}


def _datasets_read(pipeline: Pipeline, stage: str) -> set[str]:
    return set(pipeline.stages[stage].dataset_refs().values()) | {pipeline.dataset_of(stage)}


def plan_document(result: PlanResult, spec_file: str, overrides: list[str]) -> dict[str, Any]:
    """What `mlspec plan --out` writes: the chosen placement per stage, with its figures labelled."""
    choice = result.choice
    stages = [
        {
            **{k: v for k, v in result.stage_dict(ps, choice.plan, choice).items() if k not in ("labels", "estimate")},
            **{k: getattr(ps.estimate, k) for k in MODEL_PARTS},
            "usage": result.explanations.get(ps.stage, ""),
        }
        for ps in choice.plan.stages
    ]
    body = {
        "format": PLAN_FORMAT,
        "version": PLAN_VERSION,
        "mlspec_version": __version__,
        "created_at": time.time(),
        "pipeline": result.pipeline.name,
        "spec_file": spec_file,
        "overrides": overrides,
        "spec": spec_digests(result.pipeline),
        "objective": result.objective.to_dict(),
        "usage_source": result.usage_source,
        "feasible": choice.feasible,
        "message": choice.message,
        "time_s": choice.plan.time_s,
        "cost_usd": choice.plan.cost_usd,
        "labels": LABELS,
        "stages": stages,
    }
    return {**body, "checksum": digest(body)}


def check_plan(document: Any, pipeline: Pipeline, where: str) -> dict[str, PlannedStageRecord]:
    """The plan's stages, once `document` (parsed JSON) is shown to be an untouched plan of this version for
    exactly this resolved spec. Raises UsageError (exit 2) with one line saying what is wrong."""
    if not isinstance(document, dict) or document.get("format") != PLAN_FORMAT:
        raise UsageError(f"{where} is not an mlspec plan file (write one with `mlspec plan SPEC --out {where}`)")
    if document.get("version") != PLAN_VERSION:
        raise UsageError(
            f"{where} is a plan file of version {document.get('version')!r}; this mlspec reads version "
            f"{PLAN_VERSION} (run `mlspec plan SPEC --out {where}` again)"
        )
    body = {k: v for k, v in document.items() if k != "checksum"}
    if document.get("checksum") != digest(body):
        raise UsageError(
            f"{where} was changed after `mlspec plan` wrote it (its checksum does not match): plan again "
            "instead of editing it (--set changes the spec)"
        )
    if document.get("pipeline") != pipeline.name:
        raise UsageError(f"{where} is a plan for pipeline {document.get('pipeline')!r}, not {pipeline.name!r}")
    try:
        _check_same_spec(document["spec"], spec_digests(pipeline), where)
        return {
            entry["stage"]: PlannedStageRecord.model_validate({k: entry[k] for k in STAGE_FIELDS if k in entry})
            for entry in document["stages"]
        }
    # A checksum made to match over a document of another shape:
    except (KeyError, TypeError, AttributeError, ValidationError):
        raise UsageError(f"{where} is not a complete plan file; plan again: `mlspec plan SPEC --out {where}`") from None


def _check_same_spec(planned: dict[str, Any], now: dict[str, Any], where: str) -> None:
    if planned["sha256"] == now["sha256"]:
        return
    again = f"plan again: `mlspec plan SPEC --out {where}`"
    for name in now["stages"]:
        if name not in planned["stages"]:
            raise UsageError(f"{where} was made for another version of the spec: stage {name!r} is new; {again}")
        if planned["stages"][name] != now["stages"][name]:
            raise UsageError(f"{where} was made for another version of the spec: stage {name!r} differs; {again}")
    for name in planned["stages"]:
        if name not in now["stages"]:
            raise UsageError(f"{where} was made for another version of the spec: stage {name!r} is gone; {again}")
    changed = [
        k
        for k in sorted({*planned["sections"], *now["sections"]})
        if planned["sections"].get(k) != now["sections"].get(k)
    ]
    what = f"its {' and '.join(changed)} {'differs' if len(changed) == 1 else 'differ'}" if changed else "it differs"
    raise UsageError(f"{where} was made for another version of the spec: {what}; {again}")
