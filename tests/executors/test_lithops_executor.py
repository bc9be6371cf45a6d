"""The Lithops executor on Lithops' real localhost backend (each call a separate process), with its
localhost storage and with a real storage backend (a redis-server on loopback)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner

from mlspec import spec
from mlspec.cli import main
from mlspec.executors.base import Invocation, Limits
from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
from mlspec.executors.lithops_executor import LithopsExecutor
from tests.conftest import REPO
from tests.models.test_imported_models import NETS
from tests.servers import redis_server

pytest.importorskip("lithops")

SPEC = """\
name: lithops-e2e
datasets:
  reviews: {format: imdb, synthetic: {train_size: 400, test_size: 200, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: reviews, max_features: 2000}
  train: {kind: train, data: prep, model: logistic_regression, workers: 2, epochs: 2}
  eval: {kind: evaluate, model: train}
"""

BROUGHT_SPEC = """\
name: lithops-brought
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 200, test_size: 100, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: images}
  train: {kind: train, data: prep, model: "nets.py:TinyNet", model_options: {width: 4}, workers: 2, epochs: 1,
          batch_size: 32}
  eval: {kind: evaluate, model: train}
"""


def _invocation(i: int, event: dict[str, Any]) -> Invocation:
    return Invocation(id=f"s.noop#{i}", stage="s", function=str(event["function"]), worker=i, event=event)


def test_noop_invocations_run_at_once_and_echo_in_order(tmp_path: Path) -> None:
    progress: list[tuple[str, dict[str, Any]]] = []
    invocations = [_invocation(i, {"function": "noop", "payload": i}) for i in range(4)]
    outcomes = LithopsExecutor(tmp_path / "logs").run_group(
        invocations, Limits(512, 60), lambda inv, p: progress.append((inv, p))
    )
    assert [(o.result or {}).get("echo") for o in outcomes] == [0, 1, 2, 3]
    for inv, outcome in zip(invocations, outcomes, strict=True):
        record = outcome.record
        assert record.status == "ok" and record.error is None
        assert (record.id, record.worker, record.target) == (inv.id, inv.worker, "lithops")
        assert 0 < record.wall_s < 60 and record.cpu_s > 0 and record.peak_rss_mb > 1
        assert record.init_s is not None and 0 < record.init_s < record.wall_s
        assert record.started_at > time.time() - 120
        assert (record.memory_limit_mb, record.time_limit_s) == (512, 60)
        assert record.io["object_requests"] == 0
    assert {inv for inv, _ in progress} == {inv.id for inv in invocations}
    assert len(progress) == 8


def test_unknown_function_is_an_error_with_its_message(tmp_path: Path) -> None:
    invocations = [_invocation(0, {"function": "no_such_function"})]
    [outcome] = LithopsExecutor(tmp_path / "logs").run_group(invocations, Limits(512, 60), lambda *a: None)
    assert outcome.result is None
    assert outcome.record.status == "error"
    assert outcome.record.error is not None
    assert outcome.record.error.startswith("RequestError: unknown function 'no_such_function'")
    assert "\n" not in outcome.record.error


def test_a_failure_stops_the_group_and_names_the_failed_invocation(tmp_path: Path) -> None:
    invocations = [_invocation(0, {"function": "no_such_function"}), _invocation(1, {"function": "noop"})]
    invocations[1] = Invocation(id="s.other", stage="s", function="noop", worker=1, event={"function": "noop"})
    first, second = LithopsExecutor(tmp_path / "logs").run_group(invocations, Limits(512, 60), lambda *a: None)
    assert first.record.status == "error"
    # The other one either finished before the failure was seen or was stopped because of it.
    assert second.record.status == "ok" or second.record.error == f"stopped because {first.record.id} failed"


def test_pipeline_runs_through_the_coordinator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLSPEC_CACHE", str(tmp_path / "cache"))
    pipeline = spec.load_text(SPEC)
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    record = run_pipeline(
        pipeline, "lithops.yaml", [], LithopsExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 300)
    )
    assert record.status == "succeeded"
    assert record.executor == "lithops"
    assert record.stages["eval"].metrics["test_accuracy"] > 0.6
    workers = [i for i in record.invocations if i.function == "train_worker"]
    assert len(workers) == 2 and all(i.status == "ok" and i.io["param_bytes_written"] > 0 for i in workers)


def test_a_model_brought_from_a_file_beside_the_spec_trains_on_lithops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each call is a process of its own, importing the file from the source its event carries.
    monkeypatch.setenv("MLSPEC_CACHE", str(tmp_path / "cache"))
    (tmp_path / "nets.py").write_text(NETS)
    (tmp_path / "brought.yaml").write_text(BROUGHT_SPEC)
    pipeline = spec.load(tmp_path / "brought.yaml")
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    record = run_pipeline(
        pipeline, "brought.yaml", [], LithopsExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 300)
    )
    assert record.status == "succeeded" and record.executor == "lithops"
    assert 0 <= record.stages["eval"].metrics["test_accuracy"] <= 1
    workers = [i for i in record.invocations if i.function == "train_worker"]
    assert len(workers) == 2 and all(i.status == "ok" for i in workers)


def test_the_quick_start_runs_through_lithops_with_redis_storage(tmp_path: Path) -> None:
    """Lithops keeps its jobs, call status and results in the configured storage: here a redis-server,
    so every call's outcome crossed a real storage backend, not the local file system."""
    overrides = ["stages.train_images.epochs=1", "stages.train_reviews.epochs=2"]
    with redis_server(tmp_path) as server:
        lithops = {
            "execution.lithops.lithops.backend": "localhost",
            "execution.lithops.lithops.storage": "redis",
            "execution.lithops.redis.host": "127.0.0.1",
            "execution.lithops.redis.port": str(server.port),
            # The server goes with everything in it when the test ends. A request to Lithops' cleaner to delete
            # the jobs' data there would outlive it, and every later cleaner on this machine would stall on it,
            # retrying a closed port (redis-py backs off for seconds per attempt).
            "execution.lithops.lithops.data_cleaner": "false",
        }
        settings = [*overrides, *(f"{key}={value}" for key, value in lithops.items())]
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(REPO / "examples" / "quickstart.yaml"),
                "--executor",
                "lithops",
                *(arg for item in settings for arg in ("--set", item)),
                "--json",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
        )
        assert result.exit_code == 0, result.output
        stored = redis.Redis(port=server.port).keys("storage/lithops.jobs/*")
    record = json.loads(result.stdout[result.stdout.index("{") :])
    assert record["status"] == "succeeded" and record["executor"] == "lithops"
    assert all(inv["status"] == "ok" for inv in record["invocations"])
    # Six stages, one Lithops job each at least: their calls' state went through redis.
    assert len({key.split(b"/")[2] for key in stored}) >= 6
    assert record["stages"]["eval_reviews"]["metrics"]["test_accuracy"] > 0.75
    assert record["stages"]["eval_images"]["metrics"]["test_accuracy"] > 0.15  # 10 classes, 1 epoch


def test_a_coordinator_starts_a_lithops_session_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # As a coordinator started by a process that ran Lithops itself inherits it: without its own session,
    # two such coordinators name their executors alike and one's job cleaner deletes the other's job data.
    monkeypatch.setenv("__LITHOPS_SESSION_ID", "parent")
    monkeypatch.setenv("__LITHOPS_TOTAL_EXECUTORS", "11")
    LithopsExecutor(tmp_path)
    assert "__LITHOPS_SESSION_ID" not in os.environ and "__LITHOPS_TOTAL_EXECUTORS" not in os.environ
