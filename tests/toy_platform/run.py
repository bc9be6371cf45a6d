"""`mlspec run --target toy-cloud`: the executor's options and the target's limits."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.executors.base import Limits
from mlspec.spec.targets import TargetBase
from tests.toy_platform.settings import ToyCloudTarget


def run_options(settings: TargetBase, deployment: Deployment) -> tuple[dict[str, Any], Limits]:
    assert isinstance(settings, ToyCloudTarget)
    options = {"functions": function_names(deployment), "state": settings.state}
    return options, Limits(settings.memory_mb, settings.timeout_s, settings.max_instances)
