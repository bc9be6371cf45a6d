"""Executors run invocations on a backend; the coordinator runs a whole pipeline on one.

Each executor is a module; the registry maps its name to `module:class`, imported lazily."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from mlspec.executors.base import Executor

EXECUTORS = {
    "local": "mlspec.executors.local:LocalProcessExecutor",
    "lithops": "mlspec.executors.lithops_executor:LithopsExecutor",
    "local-container": "mlspec.executors.local_container:LocalContainerExecutor",
    "aws-lambda": "mlspec.platforms.aws_lambda.executor:AwsLambdaExecutor",
    "gcp-cloud-run": "mlspec.platforms.gcp_cloud_run.executor:CloudRunExecutor",
    "azure-functions": "mlspec.platforms.azure_functions.executor:AzureFunctionsExecutor",
}


def make_executor(name: str, log_dir: Path, options: dict[str, Any] | None = None) -> Executor:
    """`options` are the executor's own settings from the spec (e.g. a Lithops configuration)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    module, cls = EXECUTORS[name].split(":")
    factory = getattr(importlib.import_module(module), cls)
    executor: Executor = factory(log_dir, options) if options else factory(log_dir)
    return executor
