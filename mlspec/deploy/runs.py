"""What `mlspec run --target T` needs to run on a cloud platform's deployed functions: the executor's
name and options, and the target's limits. Checks first what would otherwise fail inside a function:
stores the functions cannot reach, functions not deployed yet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.deployment import deployment_for, target_settings
from mlspec.errors import UsageError
from mlspec.executors.base import Limits
from mlspec.spec.models import AwsLambdaTarget, AzureFunctionsTarget, GcpCloudRunTarget, Pipeline

CloudRun = tuple[str, dict[str, Any], Limits]  # (executor name, executor options, limits)


def _check_stores(pipeline: Pipeline, target: str) -> None:
    """Functions on a platform share nothing with this machine: both stores must be network services."""
    if pipeline.storage.object_store.kind != "s3":
        raise UsageError(
            f"running on {target} needs storage.object_store of kind s3 (functions there cannot "
            "reach this machine's directories)"
        )
    if pipeline.storage.param_store.kind == "local":
        raise UsageError(
            f"running on {target} needs storage.param_store of kind redis (functions there cannot "
            "reach this machine's directories)"
        )


def deployed(pipeline: Pipeline, target: str) -> Deployment:
    """The pipeline's deployment on `target`, after checking the stores and that every function exists."""
    from mlspec.deploy import make_deployer

    _check_stores(pipeline, target)
    deployment = deployment_for(pipeline, target, None)
    missing = make_deployer(target, deployment.settings).missing_functions(deployment)
    if missing:
        raise UsageError(
            f"not deployed on {target} ({deployment.region}): {', '.join(missing)}; "
            f"run `mlspec deploy SPEC --target {target}` first"
        )
    return deployment


def _functions(deployment: Deployment) -> dict[str, str]:
    return {f.stage: f.name for f in deployment.functions}


def aws_lambda_run(pipeline: Pipeline) -> CloudRun:
    settings = target_settings(pipeline, "aws-lambda")
    assert isinstance(settings, AwsLambdaTarget)
    deployment = deployed(pipeline, "aws-lambda")
    options = {
        "functions": _functions(deployment),
        "region": settings.region,
        "max_concurrency": settings.max_concurrency,
    }
    return "aws-lambda", options, Limits(settings.memory_mb, settings.timeout_s, settings.max_concurrency)


def gcp_cloud_run_run(pipeline: Pipeline) -> CloudRun:
    """Service URLs are not passed: the executor reads each once (get_service) when it first needs it."""
    settings = target_settings(pipeline, "gcp-cloud-run")
    assert isinstance(settings, GcpCloudRunTarget)
    deployment = deployed(pipeline, "gcp-cloud-run")
    options = {
        "functions": _functions(deployment),
        "region": settings.region,
        "project": settings.project,
        "jobs": [f.stage for f in deployment.functions if f.style == "job"],
    }
    return "gcp-cloud-run", options, Limits(settings.memory_mb, settings.timeout_s, settings.max_instances)


def azure_functions_run(pipeline: Pipeline) -> CloudRun:
    settings = target_settings(pipeline, "azure-functions")
    assert isinstance(settings, AzureFunctionsTarget)
    deployment = deployed(pipeline, "azure-functions")
    # Where the apps are (the environment variables are the fallback the executor reads).
    where = settings.model_dump(include={"subscription_id", "resource_group", "storage_account"}, exclude_none=True)
    options = {"functions": _functions(deployment), **where}
    return "azure-functions", options, Limits(settings.memory_mb, settings.timeout_s, settings.max_instances)


RUNNERS: dict[str, Callable[[Pipeline], CloudRun]] = {
    "aws-lambda": aws_lambda_run,
    "gcp-cloud-run": gcp_cloud_run_run,
    "azure-functions": azure_functions_run,
}
RUN_TARGETS = ("local", *RUNNERS)


def cloud_run(pipeline: Pipeline, target: str) -> CloudRun:
    """(executor name, executor options, limits) for a run on `target`'s deployed functions."""
    if target not in RUNNERS:
        raise UsageError(f"cannot run on {target!r} yet (run targets: {', '.join(RUN_TARGETS)})")
    return RUNNERS[target](pipeline)
