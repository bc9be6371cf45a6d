"""Executors run invocations on a backend; the coordinator runs a whole pipeline on one.

Each executor is a module; the registry maps its name to `module:class`, imported lazily. A platform's
executor (invoking its deployed functions) is named in its catalog entry (`Platform.executor`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlspec.executors.base import Executor
from mlspec.providers.registry import all_platforms
from mlspec.references import load

EXECUTORS = {
    "local": "mlspec.executors.local:LocalProcessExecutor",
    "lithops": "mlspec.executors.lithops_executor:LithopsExecutor",
    "local-container": "mlspec.executors.local_container:LocalContainerExecutor",
    "ray": "mlspec.executors.ray_executor:RayExecutor",
    **{p.key: p.executor for p in all_platforms() if p.executor is not None},
}


def make_executor(name: str, log_dir: Path, options: dict[str, Any] | None = None) -> Executor:
    """`options` are the executor's own settings from the spec (e.g. a Lithops configuration)."""
    if name not in EXECUTORS:
        raise ValueError(f"unknown executor {name!r} (known: {', '.join(EXECUTORS)})")
    factory = load(EXECUTORS[name])
    executor: Executor = factory(log_dir, options) if options else factory(log_dir)
    return executor
