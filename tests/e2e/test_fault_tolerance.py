"""The coordinator's fault tolerance, for real: a worker killed from outside with SIGKILL, a stage
longer than the time limit run as a chain of invocations, and a Redis parameter store killed and
restarted mid-training. Each run must complete with the accuracy of an undisturbed run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlspec.runtime.functions.train_worker import EPOCHS_PER_INVOCATION_ENV
from tests.conftest import wait_until
from tests.servers import RedisServer

SPEC = """\
name: ft
seed: 3
datasets:
  images: {{format: cifar10, synthetic: {{train_size: 1200, test_size: 400, seed: 1}}}}
stages:
  prep: {{kind: preprocess, dataset: images}}
  train:
    kind: train
    data: prep
    model: small_cnn
    workers: 2
    epochs: 6
    batch_size: 32
    learning_rate: 0.02
    sync_every_steps: 4
  eval: {{kind: evaluate, model: train}}
{storage}
"""
# Chained and restarted runs lose only SGD momentum at the restart; accuracy stays within noise.
NOISE = 0.06


def write_spec(tmp_path: Path, storage: str = "") -> Path:
    path = tmp_path / "ft.yaml"
    path.write_text(SPEC.format(storage=storage))
    return path


def start_run(spec: Path, runs: Path, *overrides: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "mlspec", "run", str(spec), "--json", "--runs-dir", str(runs)]
    for o in overrides:
        args += ["--set", o]
    return subprocess.Popen(
        args,
        cwd=spec.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    record: dict[str, Any] = json.loads(out)
    return record


def accuracy(record: dict[str, Any]) -> float:
    return float(record["stages"]["eval"]["metrics"]["test_accuracy"])


def find_process(invocation_id: str, among: Iterable[int]) -> int | None:
    """The pid of a running invocation, found from outside through its environment, among `among`'s pids only:
    another test running at the same time (pytest -n 2) has invocations with the same ids."""
    for pid in among:
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"MLSPEC_INVOCATION_ID={invocation_id}".encode() in environ:
            return pid
    return None


def descendants(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def trained_epochs(runs: Path) -> int:
    pointers = list(runs.glob("*/objects/models/train/checkpoint/latest.json"))
    return int(json.loads(pointers[0].read_text())["epoch"]) if pointers else 0


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("undisturbed")
    return finish(start_run(write_spec(tmp), tmp / "runs"))


def test_undisturbed_run_learns(undisturbed: dict[str, Any]) -> None:
    assert accuracy(undisturbed) > 0.3
    assert undisturbed["stages"]["train"]["retries"] == 0 and undisturbed["stages"]["train"]["chained"] == 0


def test_worker_killed_with_sigkill_is_restarted_from_checkpoint(tmp_path: Path, undisturbed: dict[str, Any]) -> None:
    runs = tmp_path / "runs"
    proc = start_run(write_spec(tmp_path), runs)
    wait_until(lambda: trained_epochs(runs) >= 2, 120, "two trained epochs")
    pid = wait_until(lambda: find_process("train.train_worker#1", descendants(proc.pid)), 120, "worker 1")
    os.kill(pid, signal.SIGKILL)
    record = finish(proc)
    train = record["stages"]["train"]
    assert train["retries"] == 1
    killed = [i for i in record["invocations"] if i["stage"] == "train" and i["status"] == "error"]
    assert killed and "status -9" in killed[0]["error"]
    assert {i["attempt"] for i in record["invocations"] if i["stage"] == "train"} == {1, 2}
    # Every epoch counted once: the history runs 1..6 without gaps or repeats.
    assert [h["epoch"] for h in train["history"]] == [1, 2, 3, 4, 5, 6]
    assert abs(accuracy(record) - accuracy(undisturbed)) <= NOISE


def test_stage_longer_than_time_limit_runs_as_a_chain(tmp_path: Path, undisturbed: dict[str, Any]) -> None:
    # A time limit of two epochs per invocation, counted in epochs, not seconds: the same chain of three
    # invocations however busy the machine is (tests/e2e/test_chain_limits.py keeps one in real seconds).
    proc = start_run(write_spec(tmp_path), tmp_path / "runs", env={EPOCHS_PER_INVOCATION_ENV: "2"})
    record = finish(proc)
    train = record["stages"]["train"]
    assert train["chained"] == 2 and train["retries"] == 0
    train_invocations = [i for i in record["invocations"] if i["stage"] == "train"]
    assert {i["link"] for i in train_invocations} == {0, 1, 2}
    assert all(i["status"] == "ok" for i in train_invocations)
    # Each link resumed from the checkpoint its predecessor left: epochs 1-2, 3-4, 5-6.
    assert sorted({(i["link"], i["metrics"]["first_epoch"]) for i in train_invocations}) == [(0, 1), (1, 3), (2, 5)]
    assert [h["epoch"] for h in train["history"]] == [1, 2, 3, 4, 5, 6]
    assert abs(accuracy(record) - accuracy(undisturbed)) <= NOISE


def test_redis_restarted_mid_training_resumes_from_checkpoint(tmp_path: Path, undisturbed: dict[str, Any]) -> None:
    server = RedisServer(tmp_path)
    server.start()
    try:
        storage = f"storage:\n  param_store: {{kind: redis, url: '{server.url}'}}\n"
        runs = tmp_path / "runs"
        proc = start_run(write_spec(tmp_path, storage), runs)
        wait_until(lambda: trained_epochs(runs) >= 2, 120, "two trained epochs")
        server.stop()
        time.sleep(1.0)
        server.start()  # same port, empty: the per-iteration state is gone
        record = finish(proc)
    finally:
        server.stop()
    train = record["stages"]["train"]
    assert train["retries"] >= 1
    assert [h["epoch"] for h in train["history"]] == [1, 2, 3, 4, 5, 6]
    assert abs(accuracy(record) - accuracy(undisturbed)) <= NOISE
