"""`mlspec run`: which executor runs the functions, with which options and limits, on which target; then
the run itself. Everything that can be refused (a cloud target without network stores or deployed
functions, a container image built for another spec) is refused here, before a run directory exists."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.compile.graph import graph
from mlspec.deploy.run_target import cloud_run
from mlspec.executors import make_executor
from mlspec.executors.base import Executor, Limits, target_limits
from mlspec.executors.coordinator import Reporter, new_run_dir, run_pipeline
from mlspec.executors.local import host_limits
from mlspec.executors.local_container import container_options
from mlspec.executors.stage_cache import USE_CACHE, CacheSettings
from mlspec.providers.registry import LOCAL
from mlspec.records import FollowedPlan, RunDir, RunRecord
from mlspec.spec.models import Pipeline


@dataclass(frozen=True)
class LocalExecutorUse:
    """How a run on this machine uses one of the spec's executors."""

    options: Callable[[Pipeline], dict[str, Any] | None]  # its options, from the spec
    host_bound: bool  # this machine's memory and CPUs bound how many invocations run at once


# The executors a spec's execution.executor names (the platforms' executors are reached through --target).
LOCAL_EXECUTORS: dict[str, LocalExecutorUse] = {
    "local": LocalExecutorUse(lambda pipeline: None, host_bound=True),
    "local-container": LocalExecutorUse(container_options, host_bound=True),
    "lithops": LocalExecutorUse(lambda pipeline: pipeline.execution.lithops, host_bound=False),  # sets its own
    # The cluster's nodes bound it: the executor refuses a group the cluster cannot hold at once.
    "ray": LocalExecutorUse(lambda pipeline: pipeline.execution.ray.model_dump(), host_bound=False),
}


@dataclass(frozen=True)
class PreparedRun:
    pipeline: Pipeline  # as it runs: on a cloud target, with the object store its functions use
    target: str
    run_dir: RunDir
    executor: Executor
    limits: Limits
    warnings: list[str]


def prepare(pipeline: Pipeline, target: str, runs_dir: Path) -> PreparedRun:
    """The executor, options and limits for running `pipeline` on `target`, and the run's directory."""
    warnings: list[str] = []
    if target == LOCAL:
        name: str = pipeline.execution.executor
        use = LOCAL_EXECUTORS[name]
        options = use.options(pipeline)
        limits = target_limits(pipeline.targets.local)
        if use.host_bound:
            limits, warnings = host_limits(limits, graph(pipeline).nodes)
    else:
        name, options, limits, object_store = cloud_run(pipeline, target)
        pipeline = with_object_store(pipeline, object_store)
    run_dir = new_run_dir(runs_dir, pipeline)
    return PreparedRun(pipeline, target, run_dir, make_executor(name, run_dir.logs, options), limits, warnings)


def with_object_store(pipeline: Pipeline, object_store: dict[str, Any]) -> Pipeline:
    """pipeline with another object store (validated as the spec's would be); the record shows the one used."""
    storage = type(pipeline.storage).model_validate(
        {**pipeline.storage.model_dump(mode="json"), "object_store": object_store}
    )
    return pipeline.model_copy(update={"storage": storage})


def execute(
    spec_file: str,
    overrides: Sequence[str],
    prepared: PreparedRun,
    reporter: Reporter,
    cache: CacheSettings = USE_CACHE,
    plan: FollowedPlan | None = None,
) -> RunRecord:
    """Run every stage (or reuse it from the stage cache); the final record. Raises RunFailed (the record
    saved) when a stage fails."""
    return run_pipeline(
        prepared.pipeline,
        spec_file,
        list(overrides),
        prepared.executor,
        prepared.run_dir,
        reporter,
        prepared.limits,
        prepared.target,
        warnings=prepared.warnings,
        cache=cache,
        plan=plan,
    )
