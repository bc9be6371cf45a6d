"""Run records and the run store."""

from mlspec.records.model import InvocationRecord, RunRecord, StageRecord, TrialRecord
from mlspec.records.store import DEFAULT_ROOT, RunDir, new_run_id

__all__ = ["DEFAULT_ROOT", "InvocationRecord", "RunDir", "RunRecord", "StageRecord", "TrialRecord", "new_run_id"]
