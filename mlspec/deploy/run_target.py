"""What `mlspec run --target T` needs to run on a platform's deployed functions: the executor's name
and options, and the target's limits. Checks first what would otherwise fail inside a function: stores
the functions cannot reach, functions not deployed yet. Each platform adds its own options
(`Platform.run_options`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from mlspec.deploy import make_deployer
from mlspec.deploy.base import Deployment
from mlspec.deploy.deployment import deployment_for, target_settings
from mlspec.errors import UsageError
from mlspec.executors.base import Limits, target_limits
from mlspec.providers.registry import LOCAL, deployable_platforms, get_platform
from mlspec.references import load
from mlspec.spec.models import Pipeline
from mlspec.spec.targets import TargetBase
from mlspec.storage import LOCAL_STORE

# A platform's part: (its target settings, the deployment found) -> its executor's options.
RunOptions = Callable[[TargetBase, Deployment], dict[str, Any]]
# (its target settings, the deployment found) -> the config of the object store deploy made in its cloud.
OwnObjectStore = Callable[[TargetBase, Deployment], dict[str, Any]]


class CloudRun(NamedTuple):
    executor: str
    options: dict[str, Any]
    limits: Limits
    object_store: dict[str, Any]  # the config the functions (and this machine) use: run_object_store


def run_targets() -> tuple[str, ...]:
    """Where `mlspec run --target` can run: this machine, and every platform mlspec deploys to."""
    return (LOCAL, *deployable_platforms())


def _check_param_store(pipeline: Pipeline, target: str) -> None:
    """Functions on a platform share nothing with this machine: the parameter store must be a network service."""
    if pipeline.storage.param_store.kind == LOCAL_STORE:
        raise UsageError(
            f"running on {target} needs storage.param_store of kind redis (functions there cannot "
            "reach this machine's directories)"
        )


def run_object_store(pipeline: Pipeline, target: str, deployment: Deployment) -> dict[str, Any]:
    """The object store the functions use: the spec's when it is a network store (any cloud's; one in
    another cloud than target is priced as egress), else the bucket deploy made in target's own cloud."""
    store = pipeline.storage.object_store
    if store.kind != LOCAL_STORE:
        return store.model_dump(mode="json")
    platform = get_platform(target)
    if platform.own_object_store is None:
        raise UsageError(
            f"running on {target} needs a network storage.object_store (functions there cannot reach this "
            "machine's directories)"
        )
    own: OwnObjectStore = load(platform.own_object_store)
    return own(target_settings(pipeline, target), deployment)


def deployed(pipeline: Pipeline, target: str) -> Deployment:
    """The pipeline's deployment on `target`, after checking the stores and that every function exists."""
    _check_param_store(pipeline, target)
    deployment = deployment_for(pipeline, target, None)
    missing = make_deployer(target, deployment.settings).missing_functions(deployment)
    if missing:
        raise UsageError(
            f"not deployed on {target} ({deployment.region}): {', '.join(missing)}; "
            f"run `mlspec deploy SPEC --target {target}` first"
        )
    return deployment


def function_names(deployment: Deployment) -> dict[str, str]:
    """Stage -> the deployed function's name."""
    return {f.stage: f.name for f in deployment.functions}


def cloud_run(pipeline: Pipeline, target: str) -> CloudRun:
    """(executor name, executor options, limits) for a run on `target`'s deployed functions."""
    if target not in deployable_platforms():
        raise UsageError(f"cannot run on {target!r} yet (run targets: {', '.join(run_targets())})")
    platform = get_platform(target)
    assert platform.run_options is not None  # deployable
    settings = target_settings(pipeline, target)
    deployment = deployed(pipeline, target)
    options_for: RunOptions = load(platform.run_options)
    store = run_object_store(pipeline, target, deployment)
    return CloudRun(target, options_for(settings, deployment), target_limits(settings), store)
