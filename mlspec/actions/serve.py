"""Finding what to serve in a recorded run: its serve stage's bundle, or a bundle packaged on the fly
from a train stage when the run has no serve stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlspec.compile.graph import EXPANDERS, FunctionNode, graph
from mlspec.errors import UsageError
from mlspec.executors.coordinator import run_stores
from mlspec.records import RunDir
from mlspec.records.runs import find_run
from mlspec.serving.bundle import Bundle, bundle_exists, load_bundle, package, save_bundle
from mlspec.spec.models import Pipeline, ServeStage
from mlspec.storage import open_object_store


@dataclass(frozen=True)
class ServedModel:
    run_id: str
    stage: str  # the serve stage, or the train stage packaged on the fly
    bundle: Bundle
    port: int  # the serve stage's default port
    packaged_now: bool  # no serve stage in the run: packaged by `mlspec serve` itself


def locate(runs_dir: Path, run_id: str, stage: str | None) -> ServedModel:
    from pydantic import ValidationError

    entry = find_run(runs_dir, run_id)
    if entry.record is None:
        raise UsageError(f"run {entry.run_id} cannot be read: {entry.problem}")
    record = entry.record
    try:
        pipeline = Pipeline.model_validate(record.spec)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise UsageError(f"run {entry.run_id}'s spec does not validate with this mlspec: {problem}") from None
    nodes = {node.stage: node for node in graph(pipeline).nodes}
    name = _pick_stage(nodes, stage, entry.run_id)
    state = record.stages.get(name)
    if state is None or state.status != "succeeded":
        what = "packaged its model" if nodes[name].packages_model else "trained its model"
        why = "it never ran" if state is None else state.status + (f": {state.error}" if state.error else "")
        raise UsageError(f"stage {name!r} of run {entry.run_id} has not {what} ({why})")
    objects = open_object_store(run_stores(pipeline, RunDir(entry.path.parent, entry.run_id))["object_store"])
    node = nodes[name]
    # A trained model is served as a default serve stage of the same name would serve it.
    serving = pipeline.stages[name] if node.packages_model else ServeStage(kind="serve", model=name)
    assert isinstance(serving, ServeStage)
    if not node.packages_model:
        node = EXPANDERS[serving.kind](pipeline, name, serving)
    prefix = node.config["output"]
    if bundle_exists(objects, prefix):
        return ServedModel(entry.run_id, name, load_bundle(objects, prefix), serving.port, False)
    try:
        bundle = package(objects, node.config)[0]
    except KeyError as exc:  # e.g. a run whose preprocess stage did not keep its fitted features
        raise UsageError(
            f"run {entry.run_id} lacks {exc} in its object store, so its model cannot be "
            "packaged for serving: run the pipeline again"
        ) from None
    save_bundle(objects, prefix, bundle)
    return ServedModel(entry.run_id, name, bundle, serving.port, True)


def _pick_stage(nodes: dict[str, FunctionNode], wanted: str | None, run_id: str) -> str:
    """The named stage, else the run's only serve stage, else its only train stage."""
    servable = [n for n, node in nodes.items() if node.packages_model or node.trains_model]
    if wanted is not None:
        if wanted not in servable:
            raise UsageError(
                f"run {run_id} has no serve or train stage {wanted!r} (it has: {', '.join(servable) or 'none'})"
            )
        return wanted
    for kind, named in (
        ("serve", [n for n, node in nodes.items() if node.packages_model]),
        ("train", [n for n, node in nodes.items() if node.trains_model]),
    ):
        if len(named) == 1:
            return named[0]
        if named:
            raise UsageError(f"run {run_id} has several {kind} stages: pick one with --stage ({', '.join(named)})")
    raise UsageError(f"run {run_id} trained no model: it has no train or serve stage")
