"""How invocations are stopped: a coordinator interrupted with Ctrl-C (SIGINT) or SIGTERM, or killed with
SIGKILL, leaves no worker process of its run alive, and its record says what happened. Real processes,
found by walking the process tree; every wait polls for a condition with a generous timeout."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from mlspec.executors.base import MAX_INVOCATIONS_PER_CPU
from mlspec.records.runs import read_entry
from tests.conftest import wait_until

# A training stage far longer than any test waits for: the run is always stopped mid-stage.
SPEC = """\
name: procs
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 600, test_size: 200, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: images}
  train: {kind: train, data: prep, model: small_cnn, workers: 2, epochs: 500, batch_size: 32}
"""
GONE_WITHIN_S = 30.0


def workers_of(coordinator: psutil.Process) -> list[psutil.Process]:
    """The coordinator's descendants that run an invocation of the train stage (or any Lithops call)."""
    found = []
    for child in coordinator.children(recursive=True):
        try:
            if child.environ().get("MLSPEC_INVOCATION_ID", "").startswith("train.") or "run_job" in child.cmdline():
                found.append(child)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def alive(processes: list[psutil.Process]) -> list[psutil.Process]:
    """Those still running (a zombie, ended but not reaped by its parent, is not)."""

    def running(p: psutil.Process) -> bool:
        try:
            return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    return [p for p in processes if running(p)]


@pytest.fixture
def started() -> Iterator[list[psutil.Process]]:
    """The processes a test started: whatever is left of them afterwards (a failed test) is killed."""
    processes: list[psutil.Process] = []
    yield processes
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.resume()
            process.kill()


def start_training(
    tmp_path: Path, started: list[psutil.Process], *args: str
) -> tuple[subprocess.Popen[str], list[psutil.Process], Path]:
    """Starts `mlspec run` and returns once both train workers have trained an epoch, with every
    descendant of the coordinator at that moment (the workers and anything they started)."""
    spec = tmp_path / "procs.yaml"
    spec.write_text(SPEC)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlspec", "run", str(spec), "--runs-dir", str(runs), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    coordinator = psutil.Process(proc.pid)
    # Past start-up, deep in the synchronised loop: a checkpoint is written once both finished an epoch.
    wait_until(lambda: list(runs.glob("*/objects/models/train/checkpoint/latest.json")), 180, "a checkpoint")
    assert len(workers_of(coordinator)) >= 2
    descendants = coordinator.children(recursive=True)
    started += [coordinator, *descendants]
    return proc, descendants, runs


def freeze_a_worker(coordinator_pid: int) -> list[psutil.Process]:
    """Suspends one train worker (its whole process group): the other soon waits for it at a
    synchronisation barrier, silent (it writes nothing a gone coordinator's closed pipe could end it
    with) until its time limit, 600 s away. So only the coordinator's own stopping can end them in time."""
    coordinator = psutil.Process(coordinator_pid)
    group = os.getpgid(workers_of(coordinator)[-1].pid)  # its process group: on Lithops a task and its call
    frozen = []
    for process in coordinator.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):  # one that ended meanwhile
            if os.getpgid(process.pid) == group:
                process.suspend()
                frozen.append(process)
    return frozen


def record_of(runs: Path) -> dict[str, Any]:
    (record_file,) = runs.glob("*/record.json")
    record: dict[str, Any] = json.loads(record_file.read_text())
    return record


@pytest.mark.parametrize(
    ("sig", "executor"),
    [(signal.SIGINT, "local"), (signal.SIGTERM, "local"), (signal.SIGINT, "lithops")],
    ids=["sigint", "sigterm", "lithops"],
)
def test_interrupted_run_stops_every_invocation_and_says_so(
    tmp_path: Path, started: list[psutil.Process], sig: signal.Signals, executor: str
) -> None:
    proc, descendants, runs = start_training(tmp_path, started, "--executor", executor)
    freeze_a_worker(proc.pid)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=GONE_WITHIN_S)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    # (Lithops' own cleaner, which deletes the job's data, may take a moment to finish.)
    wait_until(lambda: not alive(descendants), GONE_WITHIN_S, "every process of the run gone")
    record = record_of(runs)
    assert record["status"] == "failed" and record["error"] == "interrupted"
    assert record["stages"]["train"]["status"] == "running"  # stopped mid-stage, not failed on its own
    # The parameter store was cleaned only after the workers were gone: nothing of the run is left in it.
    assert not [p for p in (runs / record["run_id"] / "params").rglob("*") if p.is_file()]


def test_killed_coordinator_leaves_no_worker_alive(tmp_path: Path, started: list[psutil.Process]) -> None:
    proc, descendants, runs = start_training(tmp_path, started)
    frozen = freeze_a_worker(proc.pid)
    proc.kill()  # SIGKILL: the coordinator cannot clean up; the workers notice their parent is gone
    proc.communicate(timeout=GONE_WITHIN_S)
    wait_until(lambda: alive(descendants) == frozen, GONE_WITHIN_S, "all but the frozen worker gone")
    for process in frozen:
        with contextlib.suppress(psutil.NoSuchProcess):  # killed while stopped: SIGKILL needs no resume
            process.resume()
    wait_until(lambda: not alive(descendants), GONE_WITHIN_S, "the resumed worker gone too")
    entry = read_entry(next(p for p in runs.iterdir() if not p.name.startswith(".")))  # .cache: the stage cache
    assert entry.record is not None and entry.record.status == "running"
    assert entry.problem == "its coordinator process is gone: crashed or killed mid-run"


def test_killed_coordinator_leaves_no_lithops_call_alive(tmp_path: Path, started: list[psutil.Process]) -> None:
    proc, descendants, _ = start_training(tmp_path, started, "--executor", "lithops")
    frozen = freeze_a_worker(proc.pid)
    proc.kill()
    proc.communicate(timeout=GONE_WITHIN_S)
    wait_until(lambda: not set(alive(descendants)) - set(frozen), GONE_WITHIN_S, "all but the frozen call gone")
    for process in frozen:
        with contextlib.suppress(psutil.NoSuchProcess):  # killed while stopped: SIGKILL needs no resume
            process.resume()
    wait_until(lambda: not alive(descendants), GONE_WITHIN_S, "every process of the run gone")


PREP_SPEC = """\
name: prep
datasets:
  images: {format: cifar10, synthetic: {train_size: 100, test_size: 50}}
stages:
  prep: {kind: preprocess, dataset: images}
"""


def run_prep(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "prep.yaml"
    spec.write_text(PREP_SPEC)
    return subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(spec), "--json", "--runs-dir", str(tmp_path / "runs"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def lithops_without_venv_on_path(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """`mlspec run --executor lithops` from a venv that is not on PATH: a `python3` found first on PATH
    (here one that fails, as one without mlspec's dependencies does) must not run the functions."""
    tmp_path = tmp_path_factory.mktemp("lithops")
    shim = tmp_path / "bin"
    shim.mkdir()
    for name in ("python3", Path(sys.executable).name):
        (shim / name).write_text("#!/bin/sh\necho 'not the interpreter running mlspec' >&2\nexit 1\n")
        (shim / name).chmod(0o755)
    return tmp_path, run_prep(tmp_path, "--executor", "lithops", env={**os.environ, "PATH": f"{shim}:/usr/bin:/bin"})


def test_lithops_calls_run_with_mlspec_s_interpreter_not_python3_from_path(
    lithops_without_venv_on_path: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    _, done = lithops_without_venv_on_path
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["stages"]["prep"]["status"] == "succeeded"


def test_recorded_spec_names_the_executor_that_ran(
    lithops_without_venv_on_path: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    tmp_path, done = lithops_without_venv_on_path
    lithops = json.loads(done.stdout)
    assert lithops["executor"] == "lithops" and lithops["spec"]["execution"]["executor"] == "lithops"
    spec_file = tmp_path / "runs" / lithops["run_id"] / "spec.json"
    assert json.loads(spec_file.read_text())["execution"]["executor"] == "lithops"
    local = json.loads(run_prep(tmp_path).stdout)
    assert local["spec"]["execution"]["executor"] == "local"
    compared = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlspec",
            "compare",
            lithops["run_id"],
            local["run_id"],
            "--format",
            "csv",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert compared.returncode == 0, compared.stderr
    rows = list(csv.DictReader(io.StringIO(compared.stdout)))
    assert [row["execution.executor"] for row in rows] == ["lithops", "local"], compared.stdout


WIDE_SPEC = """\
name: wide
datasets:
  images: {{format: cifar10, synthetic: {{train_size: 300, test_size: 100, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: images}}
  train: {{kind: train, data: prep, model: small_cnn, workers: {workers}, epochs: 1, batch_size: {batch}}}
"""


def run_wide(tmp_path: Path, workers: int) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "wide.yaml"
    spec.write_text(WIDE_SPEC.format(workers=workers, batch=8 * workers))
    return subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(spec), "--json", "--runs-dir", str(tmp_path / "runs")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_more_synchronised_workers_than_the_host_can_run_at_once_are_refused(tmp_path: Path) -> None:
    workers = MAX_INVOCATIONS_PER_CPU * (os.cpu_count() or 1) + 1
    done = run_wide(tmp_path, workers)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert f"stage 'train' needs {workers} workers at once" in errors[0]
    assert "what this host runs at once" in errors[0] and "MB available / memory_mb=" in errors[0]
    assert not list((tmp_path / "runs").glob("*/record.json"))  # refused before anything started


def test_workers_sharing_the_cpus_are_run_with_a_warning(tmp_path: Path) -> None:
    workers = (os.cpu_count() or 1) + 1
    done = run_wide(tmp_path, workers)
    assert done.returncode == 0, done.stderr[-2000:]
    note = f"stage 'train': {workers} invocations at once share {os.cpu_count()} CPUs"
    assert [line for line in done.stderr.splitlines() if note in line]
    assert [w for w in json.loads(done.stdout)["warnings"] if note in w]
