"""targets.toy-cloud in pipeline.yaml."""

from __future__ import annotations

from pydantic import Field

from mlspec.spec.fields import MemoryMb, Seconds
from mlspec.spec.targets import TargetBase


class ToyCloudTarget(TargetBase):
    memory_mb: MemoryMb = 1024
    timeout_s: Seconds = 300.0
    max_instances: int = Field(8, ge=1)
    state: str = Field("toy-cloud-state.json", description="The fake cloud: a JSON file of deployed functions")
