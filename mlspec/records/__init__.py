"""Run records and the run store."""

from mlspec.records.model import (
    CachedFrom,
    FollowedPlan,
    InvocationRecord,
    PlannedStageRecord,
    ReplanEvent,
    RunRecord,
    StageRecord,
    TrialRecord,
)
from mlspec.records.store import DEFAULT_ROOT, RunDir, cache_store, new_run_id

__all__ = [
    "DEFAULT_ROOT",
    "CachedFrom",
    "FollowedPlan",
    "InvocationRecord",
    "PlannedStageRecord",
    "ReplanEvent",
    "RunDir",
    "RunRecord",
    "StageRecord",
    "TrialRecord",
    "cache_store",
    "new_run_id",
]
