"""`mlspec run --target gcp-cloud-run`: the Cloud Run executor's options.
Service URLs are not passed: the executor reads each once (get_service) when it first needs it."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.spec.targets import GcpCloudRunTarget, TargetBase


def run_options(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    assert isinstance(settings, GcpCloudRunTarget)
    return {
        "functions": function_names(deployment),
        "region": settings.region,
        "project": settings.project,
        "jobs": [f.stage for f in deployment.functions if f.style == "job"],
    }


def own_object_store(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    """The GCS bucket deploy created (the services' identity reaches it through the project)."""
    return {"kind": "gcs", "bucket": deployment.bucket}
