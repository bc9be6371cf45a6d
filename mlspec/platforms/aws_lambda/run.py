"""`mlspec run --target aws-lambda`: the Lambda executor's options."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.spec.targets import AwsLambdaTarget, TargetBase


def run_options(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    assert isinstance(settings, AwsLambdaTarget)
    return {
        "functions": function_names(deployment),
        "region": settings.region,
        "max_concurrency": settings.max_concurrency,
    }


def own_object_store(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    """The S3 bucket deploy created, in the target's region (the functions' role may use it)."""
    assert isinstance(settings, AwsLambdaTarget)
    return {"kind": "s3", "bucket": deployment.bucket, "region": settings.region}
