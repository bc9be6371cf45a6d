"""The stage cache in real runs: a tiny IMDb pipeline (a real archive in the official format, made here)
run again with nothing, a train option, a preprocess option or the dataset file changed; a corrupted
entry; --force; --no-cache; and one cache shared by two run directories through a moto S3 server."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from mlspec.actions.plan import measured_usage
from mlspec.actions.run import execute, prepare
from mlspec.cli import main
from mlspec.compare.tables import compare_platforms, compare_runs
from mlspec.errors import UsageError
from mlspec.executors.coordinator import SilentReporter
from mlspec.executors.stage_cache import USE_CACHE, CacheSettings
from mlspec.planner.usage import usage_from_record
from mlspec.records import RunRecord
from mlspec.spec import load
from tests.hostile.test_inputs import tar_gz

SPEC = """\
name: cachetest
seed: 1
datasets:
  reviews: {{format: imdb, path: {archive}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 400}}
  train: {{kind: train, data: prep, model: logistic_regression, epochs: 2, batch_size: 8}}
  evaluate: {{kind: evaluate, model: train}}
  serve: {{kind: serve, model: train}}
"""
STAGES = ("prep", "train", "evaluate", "serve")


WORDS = {"pos": "good great fine superb lovely", "neg": "bad awful poor dull boring"}
FILLER = ["the", "a", "film", "movie", "plot", "actor", "scene", "story", "music", "end"]


def write_imdb(root: Path, per_label: int) -> Path:
    """An aclImdb folder in the official layout; each review mixes filler with words of its label."""
    rng = random.Random(per_label)
    folder = root / "aclImdb"
    for split in ("train", "test"):
        for label, words in WORDS.items():
            (folder / split / label).mkdir(parents=True, exist_ok=True)
            for i in range(per_label):
                text = rng.choices(FILLER, k=12) + rng.choices(words.split(), k=3)
                rng.shuffle(text)
                (folder / split / label / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(" ".join(text))
    return folder


def run(spec: Path, runs: Path, *overrides: str, cache: CacheSettings = USE_CACHE) -> RunRecord:
    prepared = prepare(load(spec, list(overrides)), "local", runs)
    return execute(str(spec), overrides, prepared, SilentReporter(), cache)


def cached(record: RunRecord) -> dict[str, str | None]:
    """Stage -> the run it was reused from (None: it ran)."""
    return {n: s.cached_from.run_id if s.cached_from else None for n, s in record.stages.items()}


def ran(record: RunRecord) -> set[str]:
    return {i.stage for i in record.invocations}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("stagecache")
    previous = os.environ.get("MLSPEC_CACHE")
    os.environ["MLSPEC_CACHE"] = str(root / "datasets-cache")  # the content digests' memo goes there
    archive = tar_gz(write_imdb(root / "src", per_label=40), root / "aclImdb_v1.tar.gz")
    (root / "pipeline.yaml").write_text(SPEC.format(archive=archive))
    yield root
    if previous is None:
        os.environ.pop("MLSPEC_CACHE", None)
    else:
        os.environ["MLSPEC_CACHE"] = previous


@pytest.fixture(scope="module")
def first(workdir: Path) -> RunRecord:
    record = run(workdir / "pipeline.yaml", workdir / "runs")
    assert record.status == "succeeded" and ran(record) == set(STAGES)
    assert all(s.cache_note == "stored" for s in record.stages.values())
    return record


def copy_runs(workdir: Path, tmp_path: Path) -> Path:
    """A copy of the first run's runs directory (with its cache), for a test that changes the cache."""
    shutil.copytree(workdir / "runs", tmp_path / "runs")
    return tmp_path / "runs"


def test_an_unchanged_rerun_runs_no_function_and_has_the_outputs(workdir: Path, first: RunRecord) -> None:
    again = run(workdir / "pipeline.yaml", workdir / "runs")
    assert cached(again) == dict.fromkeys(STAGES, first.run_id)
    assert again.invocations == [] and all(s.invocations == 0 for s in again.stages.values())
    assert again.stages["evaluate"].metrics == first.stages["evaluate"].metrics
    assert again.stages["train"].history == first.stages["train"].history
    # The outputs are the run's own: restored into its namespace, byte for byte.
    for relative in ("data/prep/meta.json", "models/train/model.npz", "serving/serve/bundle.json"):
        first_file = workdir / "runs" / first.run_id / "objects" / relative
        again_file = workdir / "runs" / again.run_id / "objects" / relative
        assert again_file.read_bytes() == first_file.read_bytes(), relative
    assert again.stages["train"].cached_from.invocations == 1  # type: ignore[union-attr]
    assert again.stages["train"].cached_from.wall_s == first.stages["train"].wall_s  # type: ignore[union-attr]
    # `mlspec plan` models a reused stage from what the run that computed it measured.
    assert measured_usage(again, workdir / "runs") == usage_from_record(first)


def test_a_changed_train_option_reruns_train_and_what_reads_it(workdir: Path, first: RunRecord) -> None:
    changed = run(workdir / "pipeline.yaml", workdir / "runs", "stages.train.epochs=3")
    assert cached(changed) == {"prep": first.run_id, "train": None, "evaluate": None, "serve": None}
    assert ran(changed) == {"train", "evaluate", "serve"}
    # Same accuracy as a run that reuses nothing, with the same options.
    uncached = run(workdir / "pipeline.yaml", workdir / "runs", "stages.train.epochs=3", cache=CacheSettings(False))
    assert ran(uncached) == set(STAGES)
    assert all(s.cache_note == "not reused: --no-cache" for s in uncached.stages.values())
    assert uncached.stages["evaluate"].metrics == changed.stages["evaluate"].metrics


def test_a_changed_preprocess_option_reruns_everything_after_it(workdir: Path, first: RunRecord) -> None:
    changed = run(workdir / "pipeline.yaml", workdir / "runs", "stages.prep.max_features=300")
    assert cached(changed) == dict.fromkeys(STAGES)
    assert ran(changed) == set(STAGES)


def test_a_changed_dataset_file_reruns_everything(workdir: Path, first: RunRecord, tmp_path: Path) -> None:
    runs = copy_runs(workdir, tmp_path)
    archive = tmp_path / "aclImdb_v1.tar.gz"
    shutil.copy(workdir / "aclImdb_v1.tar.gz", archive)  # the same bytes elsewhere, newer: still reused
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(SPEC.format(archive=archive))
    assert cached(run(spec, runs)) == dict.fromkeys(STAGES, first.run_id)
    tar_gz(write_imdb(tmp_path / "src", per_label=41), archive)  # one more review per label
    changed = run(spec, runs)
    assert cached(changed) == dict.fromkeys(STAGES)
    assert changed.stages["prep"].metrics["train_examples"] == 82


@pytest.mark.parametrize("damage", ["flipped byte", "missing object", "garbled manifest"])
def test_a_corrupt_entry_is_recomputed_with_a_one_line_warning(
    workdir: Path, first: RunRecord, tmp_path: Path, damage: str
) -> None:
    runs = copy_runs(workdir, tmp_path)
    entry = runs / ".cache" / first.stages["prep"].cache_key  # type: ignore[operator]
    shards = sorted(entry.glob("w*/shards-1/0.npz"))
    assert len(shards) == 1
    if damage == "flipped byte":
        data = bytearray(shards[0].read_bytes())
        data[len(data) // 2] ^= 0xFF
        shards[0].write_bytes(bytes(data))
    elif damage == "missing object":
        shards[0].unlink()
    else:
        (entry / "manifest.json").write_text('{"version": 1, "key": ')
    again = run(workdir / "pipeline.yaml", runs)
    warnings = [w for w in again.warnings if "corrupt" in w]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "'prep'" in warnings[0], again.warnings
    assert ran(again) == {"prep"}  # recomputed; what reads it is still reused (same key, same content)
    assert cached(again)["train"] == first.run_id
    assert again.stages["evaluate"].metrics == first.stages["evaluate"].metrics
    # The entry was written again, whole: the next run reuses it.
    assert cached(run(workdir / "pipeline.yaml", runs))["prep"] == again.run_id


def test_force_reruns_a_stage_and_its_readers(workdir: Path, first: RunRecord, tmp_path: Path) -> None:
    runs = copy_runs(workdir, tmp_path)
    forced = run(workdir / "pipeline.yaml", runs, cache=CacheSettings(force=frozenset({"train"})))
    assert ran(forced) == {"train", "evaluate", "serve"}
    assert forced.stages["train"].cache_note == "not reused: --force"
    with pytest.raises(UsageError, match="--force names no stage of this pipeline: trian"):
        run(workdir / "pipeline.yaml", runs, cache=CacheSettings(force=frozenset({"trian"})))


def test_one_s3_cache_serves_two_run_directories(workdir: Path, s3_endpoint: str, tmp_path: Path) -> None:
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="mlspec-shared-cache")
    store = [
        "storage.object_store.kind=s3",
        "storage.object_store.bucket=mlspec-shared-cache",
        f"storage.object_store.endpoint_url={s3_endpoint}",
    ]
    alice = run(workdir / "pipeline.yaml", tmp_path / "alice" / "runs", *store)
    bob = run(workdir / "pipeline.yaml", tmp_path / "bob" / "runs", *store)
    assert ran(alice) == set(STAGES)
    assert cached(bob) == dict.fromkeys(STAGES, alice.run_id) and bob.invocations == []
    names = [
        o["Key"]
        for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
            Bucket="mlspec-shared-cache", Prefix="mlspec/.cache/"
        )["Contents"]
    ]
    assert sum(n.endswith("/manifest.json") for n in names) == len(STAGES)
    assert not (tmp_path / "bob" / "runs" / ".cache").exists()  # nothing of it on this disk


TUNED = """\
name: cachetune
seed: 1
datasets:
  reviews: {{format: imdb, path: {archive}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 400}}
  tune:
    kind: tune
    data: prep
    epochs: 1
    search: grid
    trials: 10
    parallel: 2
    early_stopping: none
    space: {{learning_rate: {{values: {values}}}}}
  train: {{kind: train, data: prep, model: logistic_regression, epochs: 1, hyperparameters: tune}}
"""


def test_a_widened_search_reuses_the_trials_already_run(workdir: Path, tmp_path: Path) -> None:
    archive = workdir / "aclImdb_v1.tar.gz"
    spec = tmp_path / "tuned.yaml"
    spec.write_text(TUNED.format(archive=archive, values="[0.05, 0.5]"))
    first = run(spec, tmp_path / "runs")
    assert [t.cached_from for t in first.stages["tune"].trials] == [None] * 3  # the default and 2 values
    spec.write_text(TUNED.format(archive=archive, values="[0.05, 0.5, 2.0]"))
    widened = run(spec, tmp_path / "runs")
    trials = {t.values["learning_rate"]: t for t in widened.stages["tune"].trials}
    assert {lr: t.cached_from for lr, t in trials.items()} == {
        first.stages["tune"].trials[0].values["learning_rate"]: first.run_id,
        0.05: first.run_id,
        0.5: first.run_id,
        2.0: None,
    }
    before = {t.values["learning_rate"]: t.validation_accuracy for t in first.stages["tune"].trials}
    assert all(trials[lr].validation_accuracy == acc for lr, acc in before.items())
    tune_invocations = [i for i in widened.invocations if i.stage == "tune"]
    assert len(tune_invocations) == 1  # only the new value ran


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_cache_commands_list_show_collect_and_remove(workdir: Path, first: RunRecord, tmp_path: Path) -> None:
    runs = copy_runs(workdir, tmp_path)
    where = ["--runs-dir", str(runs)]
    code, out = cli("cache", "ls", "--json", *where)
    listed = {e["key"]: e for e in json.loads(out)["entries"]}
    first_keys = {s.cache_key: name for name, s in first.stages.items()}
    assert code == 0 and set(first_keys) <= set(listed)
    assert all(listed[k]["stage"] == name and listed[k]["run_id"] == first.run_id for k, name in first_keys.items())
    code, out = cli("cache", "ls", *where)
    assert code == 0 and "stage cache in" in out and "prep" in out
    prep_key = first.stages["prep"].cache_key or ""
    code, out = cli("cache", "show", prep_key[:10], *where)
    shown = json.loads(out)
    assert shown["key"] == prep_key and shown["parts"]["config"]["dataset"]["content"]
    assert shown["objects"]["meta.json"]["sha256"]
    # Old entries that kept runs used stay; a write that crashed long ago goes.
    (runs / ".cache" / prep_key / "w1000-dead").mkdir()
    (runs / ".cache" / prep_key / "w1000-dead" / "meta.json").write_text("{}")
    code, out = cli("cache", "gc", "--keep-days", "0", *where)
    assert code == 0 and out.startswith("removed 0 entries and 1 left-over object;"), out
    assert not (runs / ".cache" / prep_key / "w1000-dead").exists()
    code, out = cli("runs", "rm", "--yes", *[e.name for e in runs.iterdir() if not e.name.startswith(".")], *where)
    assert code == 0, out
    code, out = cli("cache", "gc", "--keep-days", "0", *where)
    assert code == 0 and f"removed {len(listed)} entries" in out, out
    code, out = cli("cache", "show", prep_key[:10], *where)
    assert code == 2 and out.count("\n") == 1 and "no cache entry" in out


def test_cache_rm_by_key_or_all(workdir: Path, first: RunRecord, tmp_path: Path) -> None:
    runs = copy_runs(workdir, tmp_path)
    where = ["--runs-dir", str(runs)]
    key = first.stages["train"].cache_key or ""
    assert cli("cache", "rm", key[:12], *where) == (0, f"removed {key}\n")
    code, out = cli("cache", "rm", "0000nothing", *where)
    assert code == 2 and out.startswith("error: no cache entry '0000nothing'")
    assert cli("cache", "rm", *where)[0] == 2  # neither keys nor --all
    code, out = cli("cache", "rm", "--all", *where)
    assert code == 0 and out.startswith("removed ")
    assert json.loads(cli("cache", "ls", "--json", *where)[1]) == {"entries": [], "corrupt": []}


def test_compare_shows_cached_stages_as_costing_nothing(workdir: Path, first: RunRecord, tmp_path: Path) -> None:
    runs = copy_runs(workdir, tmp_path)
    again = run(workdir / "pipeline.yaml", runs)
    comparison = compare_platforms(again)
    assert any(n.startswith("cached: prep, train, evaluate, serve of run") for n in comparison.notes)
    for cell in comparison.tasks[0].cells.values():
        assert cell.cost_usd == 0 and all(s["cached"] == 1.0 for s in cell.stages.values())
    table = compare_runs([first, again])
    costs = [row[c.name] for row in table.rows for c in table.columns if c.name.startswith("cost_usd")]
    assert costs[0] > 0 and costs[1] == 0
