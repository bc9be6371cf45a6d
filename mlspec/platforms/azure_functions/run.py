"""`mlspec run --target azure-functions`: the Azure Functions executor's options."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import Deployment
from mlspec.deploy.run_target import function_names
from mlspec.platforms.azure_functions.deploy import setting
from mlspec.spec.targets import AzureFunctionsTarget, TargetBase


def run_options(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    assert isinstance(settings, AzureFunctionsTarget)
    # Where the apps are (the environment variables are the fallback the executor reads).
    where = settings.model_dump(include={"subscription_id", "resource_group", "storage_account"}, exclude_none=True)
    return {"functions": function_names(deployment), **where}


def own_object_store(settings: TargetBase, deployment: Deployment) -> dict[str, Any]:
    """The Blob container deploy created, reached with the apps' managed identity (deploy grants it
    Storage Blob Data Owner on the account), so no connection string travels in the events."""
    account = setting(deployment.settings, "storage_account", "AZURE_STORAGE_ACCOUNT")
    return {
        "kind": "azure_blob",
        "container": deployment.bucket,
        "account_url": f"https://{account}.blob.core.windows.net",
    }
