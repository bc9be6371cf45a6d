"""`mlspec run --target azure-functions`: the Azure Functions executor's options."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.spec.targets import AzureFunctionsTarget, TargetBase


def run_options(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    assert isinstance(settings, AzureFunctionsTarget)
    # Where the apps are (the environment variables are the fallback the executor reads).
    where = settings.model_dump(include={"subscription_id", "resource_group", "storage_account"}, exclude_none=True)
    return {"functions": function_names(deployment), **where}
