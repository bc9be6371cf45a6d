"""`mlspec run --target toy-cloud`: the executor's options."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.spec.targets import TargetBase
from tests.toy_platform.settings import ToyCloudTarget


def run_options(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    assert isinstance(settings, ToyCloudTarget)
    return {"functions": function_names(deployment), "state": settings.state}
