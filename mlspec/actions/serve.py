"""Finding what to serve in a recorded run: its serve stage's bundle, or a bundle packaged on the fly
from a train stage when the run has no serve stage."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mlspec.errors import UsageError
from mlspec.serving.bundle import Bundle


@dataclass(frozen=True)
class ServedModel:
    run_id: str
    stage: str  # the serve stage, or the train stage packaged on the fly
    bundle: Bundle
    port: int  # the serve stage's default port
    packaged_now: bool  # no serve stage in the run: packaged by `mlspec serve` itself


def locate(runs_dir: Path, run_id: str, stage: str | None) -> ServedModel:
    from pydantic import ValidationError

    from mlspec.compile.graph import EXPANDERS, graph
    from mlspec.executors.coordinator import run_stores
    from mlspec.records import RunDir
    from mlspec.records.runs import find_run
    from mlspec.serving.bundle import bundle_exists, load_bundle, package, save_bundle
    from mlspec.spec.models import Pipeline, ServeStage
    from mlspec.storage import open_object_store

    entry = find_run(runs_dir, run_id)
    if entry.record is None:
        raise UsageError(f"run {entry.run_id} cannot be read: {entry.problem}")
    record = entry.record
    try:
        pipeline = Pipeline.model_validate(record.spec)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise UsageError(f"run {entry.run_id}'s spec does not validate with this mlspec: {problem}") from None
    name = _pick_stage({n: s.kind for n, s in pipeline.stages.items()}, stage, entry.run_id)
    chosen = pipeline.stages[name]
    state = record.stages.get(name)
    if state is None or state.status != "succeeded":
        what = "packaged its model" if chosen.kind == "serve" else "trained its model"
        why = "it never ran" if state is None else state.status + (f": {state.error}" if state.error else "")
        raise UsageError(f"stage {name!r} of run {entry.run_id} has not {what} ({why})")
    objects = open_object_store(run_stores(pipeline, RunDir(entry.path.parent, entry.run_id))["object_store"])
    if isinstance(chosen, ServeStage):
        node = graph(pipeline).node(name)
    else:  # a train stage: serve it as a default serve stage of the same name would
        chosen = ServeStage(kind="serve", model=name)
        node = EXPANDERS["serve"](pipeline, name, chosen)
    prefix = node.config["output"]
    if bundle_exists(objects, prefix):
        return ServedModel(entry.run_id, name, load_bundle(objects, prefix), chosen.port, False)
    try:
        bundle = package(objects, node.config)[0]
    except KeyError as exc:  # e.g. a run whose preprocess stage did not keep its fitted features
        raise UsageError(
            f"run {entry.run_id} lacks {exc} in its object store, so its model cannot be "
            "packaged for serving: run the pipeline again"
        ) from None
    save_bundle(objects, prefix, bundle)
    return ServedModel(entry.run_id, name, bundle, chosen.port, True)


def _pick_stage(kinds: dict[str, str], wanted: str | None, run_id: str) -> str:
    """The named stage, else the run's only serve stage, else its only train stage (`kinds`: name -> kind)."""
    servable = [n for n, k in kinds.items() if k in ("serve", "train")]
    if wanted is not None:
        if kinds.get(wanted) not in ("serve", "train"):
            raise UsageError(
                f"run {run_id} has no serve or train stage {wanted!r} (it has: {', '.join(servable) or 'none'})"
            )
        return wanted
    for kind in ("serve", "train"):
        named = [n for n, k in kinds.items() if k == kind]
        if len(named) == 1:
            return named[0]
        if named:
            raise UsageError(f"run {run_id} has several {kind} stages: pick one with --stage ({', '.join(named)})")
    raise UsageError(f"run {run_id} trained no model: it has no train or serve stage")
