"""Each enumeration has one registry. Where the spec must name the choices itself (pydantic checks a
pipeline.yaml with them, before anything heavy is imported), they are the registry's keys exactly."""

from __future__ import annotations

from typing import get_args

from mlspec.actions.run import LOCAL_EXECUTORS
from mlspec.algorithms.registry import ALGORITHMS
from mlspec.datasets.base import FORMATS as DATASET_FORMATS
from mlspec.executors import EXECUTORS
from mlspec.models import MODELS
from mlspec.models.schedules import SCHEDULES
from mlspec.providers.registry import all_platforms
from mlspec.runtime.sync import PATTERNS, PROTOCOLS
from mlspec.spec.models import BUILT_IN_MODELS, DatasetSpec, ExecutionSpec, IterativeStage, TrainStage


def choices(model: type, field: str) -> set[str]:
    return set(get_args(model.model_fields[field].annotation))


def test_the_spec_offers_exactly_what_the_registries_hold() -> None:
    assert choices(TrainStage, "pattern") == set(PATTERNS)
    assert choices(TrainStage, "protocol") == set(PROTOCOLS)
    assert choices(TrainStage, "lr_schedule") == set(SCHEDULES)
    assert set(BUILT_IN_MODELS) == set(MODELS)  # besides them, a model is named by import path
    assert choices(IterativeStage, "algorithm") == set(ALGORITHMS)
    assert choices(DatasetSpec, "format") == set(DATASET_FORMATS)
    assert choices(ExecutionSpec, "executor") == set(LOCAL_EXECUTORS)


def test_cluster_executors_are_executors() -> None:
    """A serverful platform names the executors whose runs `compare` prices on it: registered ones."""
    named = {e for p in all_platforms() for e in p.cluster_executors}
    assert named and named <= set(EXECUTORS)
