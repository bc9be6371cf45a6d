"""Spec x function graph x build manifest -> the Deployment a deployer makes real.

Memory and timeout are the spec's (the stage's own `memory_mb`/`timeout_s`, else the target's), unless a
plan file is followed (`deploy --plan`): then each stage's planned platform settings and memory. What is
deployed is what the spec (or the plan) says, so a run on the platform matches what a reader sees.
Concurrency is the stage's fan-out: every worker of a stage must run at once.
Resource names are derived from the pipeline and stage names only, so they are the same on every
deploy, run and destroy."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlspec.compile.graph import graph
from mlspec.deploy.base import Deployment, FunctionDeployment
from mlspec.errors import UsageError
from mlspec.providers.registry import get_platform
from mlspec.spec.models import Pipeline, TargetBase
from mlspec.storage import LOCAL_STORE

# Cloud Run service names are the tightest common limit (49 characters, lowercase, digits, hyphens).
MAX_NAME_LENGTH = 49
BUCKET_NAME_LENGTH = 63


def resource_name(*parts: str, max_length: int = MAX_NAME_LENGTH) -> str:
    """Lowercase letters, digits and single hyphens, starting with a letter; a name cut to fit keeps a
    hash of the whole so two long names stay distinct."""
    name = re.sub(r"[^a-z0-9]+", "-", "-".join(parts).lower()).strip("-")
    if not name[:1].isalpha():
        name = f"m-{name}"
    if len(name) > max_length:
        digest = hashlib.sha256(name.encode()).hexdigest()[:8]
        name = f"{name[: max_length - 9].rstrip('-')}-{digest}"
    return name


def function_name(pipeline: str, stage: str) -> str:
    return resource_name("mlspec", pipeline, stage)


def bucket_name(pipeline: Pipeline) -> str:
    """The spec's bucket (an Azure container) when its object store has one (runs read and write it),
    else one named for the pipeline."""
    store = pipeline.storage.object_store
    named = getattr(store, "bucket", None) or getattr(store, "container", None)
    return str(named) if named else resource_name("mlspec", pipeline.name, max_length=BUCKET_NAME_LENGTH)


def own_store(pipeline: Pipeline, target: str) -> bool:
    """Whether the spec's object store is target's own cloud's kind, or local (then runs use target's own)."""
    return pipeline.storage.object_store.kind in (LOCAL_STORE, get_platform(target).object_store_kind)


def target_settings(pipeline: Pipeline, target: str) -> TargetBase:
    configured = pipeline.targets.configured()
    if target not in configured:
        raise UsageError(
            f"target {target!r} is not configured in the spec's `targets` (configured: {', '.join(configured)})"
        )
    return configured[target]


def load_manifest(build_dir: Path, pipeline: str) -> dict[str, Any]:
    """The manifest `mlspec build` wrote for this pipeline under BUILD_DIR/<pipeline>/."""
    path = build_dir / pipeline / "manifest.json"
    if not path.is_file():
        raise UsageError(f"no build found at {path}: run `mlspec build SPEC --out {build_dir}` first")
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def image_repository(pipeline: str, stage: str, target: str) -> str:
    """The image repository `mlspec build` names a context by (compile.build.BuildContext.tag)."""
    return f"mlspec-{pipeline}-{stage}-{target}".lower()


def deployment_for(
    pipeline: Pipeline,
    target: str,
    manifest: dict[str, Any] | None,
    placement: Mapping[str, tuple[str, TargetBase]] | None = None,
) -> Deployment:
    """Without a manifest (destroy after the build directory is gone) the functions carry their image
    repository and no tag or hash: enough to find and remove what deploy created. With a placement (a
    plan: stage -> platform and its settings), only the stages placed on `target`, with their settings."""
    nodes = graph(pipeline).nodes
    if placement is None:
        settings = target_settings(pipeline, target)
        per_stage = {node.stage: settings for node in nodes}
    else:
        per_stage = {stage: placed for stage, (platform, placed) in placement.items() if platform == target}
        if not per_stage:
            used = ", ".join(dict.fromkeys(platform for platform, _ in placement.values()))
            raise UsageError(f"the plan places no stage on {target} (it uses {used})")
        nodes = tuple(node for node in nodes if node.stage in per_stage)
        settings = per_stage[nodes[0].stage]
    contexts = {(c["stage"], c["platform"]): c for c in (manifest or {}).get("contexts", [])}
    functions = []
    for node in nodes:
        stage_settings = per_stage[node.stage]
        context = contexts.get((node.stage, target))
        if context is None and manifest is not None:
            raise UsageError(
                f"the build has no {target} context for stage {node.stage!r}: "
                f"run `mlspec build SPEC --target {target}` first"
            )
        context = context or {"tag": f"{image_repository(pipeline.name, node.stage, target)}:", "hash": ""}
        functions.append(
            FunctionDeployment(
                name=function_name(pipeline.name, node.stage),
                stage=node.stage,
                function=node.function,
                image=context["tag"],
                context_hash=context["hash"],
                memory_mb=stage_settings.memory_mb if placement else node.memory_mb or settings.memory_mb,
                timeout_s=node.timeout_s or stage_settings.timeout_s,
                concurrency=node.fan_out,
                style="job" if getattr(stage_settings, "mode", "service") == "job" else "request",
                image_built=bool(context.get("image", {}).get("built")),
            )
        )
    return Deployment(
        pipeline=pipeline.name,
        target=target,
        region=str(getattr(settings, "region", "")),
        bucket=bucket_name(pipeline),
        functions=tuple(functions),
        settings=settings.model_dump(mode="json"),
        object_store=pipeline.storage.object_store.model_dump(mode="json"),
        own_store=own_store(pipeline, target),
    )
