"""`mlspec run --target aws-lambda`: the Lambda executor's options and the target's limits."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.executors.base import Limits
from mlspec.spec.targets import AwsLambdaTarget, TargetBase


def run_options(settings: TargetBase, deployment: Deployment) -> tuple[dict[str, Any], Limits]:
    assert isinstance(settings, AwsLambdaTarget)
    options = {
        "functions": function_names(deployment),
        "region": settings.region,
        "max_concurrency": settings.max_concurrency,
    }
    return options, Limits(settings.memory_mb, settings.timeout_s, settings.max_concurrency)
