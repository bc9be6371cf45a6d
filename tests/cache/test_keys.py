"""Stage keys from plain data (no function runs): what changes which key, which stages are cached, and the
digests keys are made of (dataset content remembered by path, size and mtime; the code a function reaches)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlspec.cache import identity
from mlspec.cache.identity import code_modules, content_id, digest
from mlspec.compile import FunctionNode, graph
from mlspec.executors.stage_cache import USE_CACHE, CacheSettings, StageCache, dataset_identity
from mlspec.records import RunRecord, StageRecord
from mlspec.spec import load

SPEC = """\
name: keys
seed: 1
datasets:
  reviews: {format: imdb, synthetic: {train_size: 100, test_size: 40}}
stages:
  prep: {kind: preprocess, dataset: reviews, max_features: 400}
  tune: {kind: tune, data: prep, epochs: 1, trials: 2, search: grid, space: {learning_rate: {values: [0.1, 0.3]}}}
  train: {kind: train, data: prep, model: logistic_regression, epochs: 2, hyperparameters: tune}
  evaluate: {kind: evaluate, model: train}
  serve: {kind: serve, model: train}
"""


def stage_cache(
    tmp_path: Path,
    *overrides: str,
    content: str | None = None,
    run_id: str = "run-a",
    settings: CacheSettings = USE_CACHE,
    text: str = SPEC,
) -> tuple[StageCache, list[FunctionNode]]:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(text)
    pipeline = load(spec, list(overrides))
    functions = graph(pipeline)
    config = pipeline.datasets["reviews"].model_dump()
    ids = {digest(config): content or dataset_identity(config, None, tmp_path)}
    cache = StageCache(functions, {"kind": "local", "root": str(tmp_path / "c")}, ids, settings, run_id)
    return cache, list(functions.nodes)


def keys(tmp_path: Path, *overrides: str, content: str | None = None) -> dict[str, str]:
    cache, nodes = stage_cache(tmp_path, *overrides, content=content)
    return {node.stage: cache.key(node) for node in nodes}


def changed(before: dict[str, str], after: dict[str, str]) -> set[str]:
    return {stage for stage in before if before[stage] != after[stage]}


def test_keys_change_exactly_downstream_of_what_changed(tmp_path: Path) -> None:
    base = keys(tmp_path)
    assert keys(tmp_path) == base  # the same inputs: the same keys
    assert changed(base, keys(tmp_path, "stages.train.epochs=3")) == {"train", "evaluate", "serve"}
    assert changed(base, keys(tmp_path, "stages.evaluate.memory_mb=1024")) == set()  # where, not what
    assert changed(base, keys(tmp_path, "stages.tune.trials=1")) == {"tune", "train", "evaluate", "serve"}
    # A tune stage without epochs of its own trains its trials as long as the stage it tunes.
    without_epochs = SPEC.replace("epochs: 1, ", "")
    cache, nodes = stage_cache(tmp_path, text=without_epochs)
    before = {n.stage: cache.key(n) for n in nodes}
    cache, nodes = stage_cache(tmp_path, "stages.train.epochs=3", text=without_epochs)
    assert changed(before, {n.stage: cache.key(n) for n in nodes}) == {"tune", "train", "evaluate", "serve"}
    everything = set(base)
    assert changed(base, keys(tmp_path, "stages.prep.max_features=300")) == everything
    assert changed(base, keys(tmp_path, content="another archive digest")) == everything
    assert changed(base, keys(tmp_path, "seed=2")) == everything


def test_a_trial_key_depends_on_its_values_not_on_the_search(tmp_path: Path) -> None:
    def trial_key(*overrides: str, values: dict[str, float], text: str = SPEC) -> str:
        cache, nodes = stage_cache(tmp_path, *overrides, text=text)
        for node in nodes:
            cache.key(node)
        return cache.trial_key(next(n for n in nodes if n.stage == "tune"), values)

    key = trial_key(values={"learning_rate": 0.1})
    widened = SPEC.replace("trials: 2, search: grid", "trials: 3, parallel: 2, search: random").replace(
        "{values: [0.1, 0.3]}", "{low: 0.01, high: 1.0}"
    )
    assert trial_key(values={"learning_rate": 0.1}, text=widened) == key
    assert trial_key(values={"learning_rate": 0.3}) != key
    assert trial_key("stages.tune.epochs=2", values={"learning_rate": 0.1}) != key  # trials train that long


def test_a_nondeterministic_stage_is_cached_only_when_asked_and_what_reads_it_never(tmp_path: Path) -> None:
    asp = ("stages.train.protocol=asp", "stages.train.workers=2")
    record = RunRecord(
        run_id="r",
        name="keys",
        spec_file="x",
        spec={},
        target="local",
        executor="local",
        started_at=0,
        mlspec_version="0",
    )
    cache, nodes = stage_cache(tmp_path, *asp)
    notes = {}
    for node in nodes:
        stage = StageRecord(name=node.stage, kind=node.kind)
        cache.restore(node, stage, record, {"kind": "local", "root": str(tmp_path / "run")})
        notes[node.stage] = stage.cache_note
    assert notes["prep"] is None and notes["tune"] is None  # looked up (and missed): they are cached
    assert notes["train"] is not None and "not deterministic (asp synchronisation" in notes["train"]
    assert notes["evaluate"] == notes["serve"] == "not reused: it reads train, whose output is this run's own"
    cache, nodes = stage_cache(tmp_path, *asp, "stages.train.cache=true")
    assert cache.skipped(next(n for n in nodes if n.stage == "train")) is None
    cache, nodes = stage_cache(tmp_path, "stages.train.workers=2")  # bsp: a barrier at every sync
    assert cache.skipped(next(n for n in nodes if n.stage == "train")) is None
    cache, nodes = stage_cache(tmp_path, "stages.prep.cache=false")
    assert cache.skipped(nodes[0]) == "cache: false in the spec"


def test_force_takes_every_stage_that_reads_the_forced_one(tmp_path: Path) -> None:
    cache, _ = stage_cache(tmp_path, settings=CacheSettings(force=frozenset({"tune"})))
    assert cache.forced == {"tune", "train", "evaluate", "serve"}
    with pytest.raises(Exception, match="--force names no stage of this pipeline: nope"):
        stage_cache(tmp_path, settings=CacheSettings(force=frozenset({"nope"})))


def test_a_dataset_file_is_hashed_once_until_it_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / "data.tar.gz"
    archive.write_bytes(b"one")
    memo = tmp_path / "memo.json"
    hashed: list[Path] = []
    real = identity._hash_file
    monkeypatch.setattr(identity, "_hash_file", lambda path: hashed.append(path) or real(path))
    first = content_id(archive, memo)
    assert content_id(archive, memo) == first and len(hashed) == 1  # remembered by path, size and mtime
    archive.write_bytes(b"two!")
    assert content_id(archive, memo) != first and len(hashed) == 2
    folder = tmp_path / "folder"
    (folder / "train").mkdir(parents=True)
    (folder / "train" / "a.txt").write_text("a")
    before = content_id(folder, memo)
    (folder / "train" / "b.txt").write_text("b")
    assert content_id(folder, memo) != before


def test_the_code_of_a_function_is_every_mlspec_module_it_reaches() -> None:
    modules = code_modules("mlspec.runtime.functions.train_worker")
    # By import, through parent packages, and through registry strings ("module:attr").
    assert {"mlspec", "mlspec.runtime", "mlspec.runtime.sync", "mlspec.storage.local"} <= modules
    assert "mlspec.models.small_cnn" in modules  # named only in the MODELS registry
    assert not any(m.startswith(("mlspec.cli", "mlspec.planner", "mlspec.executors")) for m in modules)
