"""End-to-end runs on the local FaaS-style executor: real training, real held-out accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_archive


def mlspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, timeout=1800
    )


def run_json(tmp_path: Path, spec: str, *overrides: str) -> dict:  # type: ignore[type-arg]
    args = ["run", str(REPO / "examples" / spec), "--json", "--runs-dir", str(tmp_path / "runs")]
    for o in overrides:
        args += ["--set", o]
    proc = mlspec(*args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    record: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    return record


def test_quickstart_trains_both_tasks_well_above_chance(tmp_path: Path) -> None:
    record = run_json(tmp_path, "quickstart.yaml")
    assert record["status"] == "succeeded"
    images = record["stages"]["eval_images"]["metrics"]["test_accuracy"]
    reviews = record["stages"]["eval_reviews"]["metrics"]["test_accuracy"]
    assert images > 0.3, images  # chance is 0.1
    assert reviews > 0.7, reviews  # chance is 0.5
    workers = [i for i in record["invocations"] if i["function"] == "train_worker"]
    assert len(workers) == 4 and all(i["status"] == "ok" for i in workers)
    for inv in workers:
        assert inv["peak_rss_mb"] > 50 and inv["cpu_s"] > 0 and inv["wall_s"] > 0
        assert inv["io"]["object_bytes_read"] > 0 and inv["io"]["param_bytes_written"] > 0
    run_dir = tmp_path / "runs" / record["run_id"]
    assert (run_dir / "record.json").is_file() and (run_dir / "spec.json").is_file()
    assert not any((run_dir / "params").rglob("r*")), "parameter store keys were not garbage-collected"
    assert len(record["stages"]["train_images"]["history"]) == 4  # epochs in examples/quickstart.yaml
    # Each worker scores its part of the test split after each epoch; the parts add up to what the evaluate
    # stage finds scoring the whole split with the final model.
    for task in ("images", "reviews"):
        last = record["stages"][f"train_{task}"]["history"][-1]
        evaluated = record["stages"][f"eval_{task}"]["metrics"]
        assert last["test_accuracy"] == pytest.approx(evaluated["test_accuracy"], abs=1e-12)
        assert last["test_loss"] == pytest.approx(evaluated["test_loss"], rel=1e-6)
    assert all(i["metrics"]["scoring_cpu_s"] > 0 for i in workers)
    # What the first of several epochs cost above the others: part of the steps, never more than them.
    assert all(0 <= i["metrics"]["first_epoch_extra_cpu_s"] <= i["metrics"]["steps_cpu_s"] for i in workers)


def test_memory_limit_stops_the_worker_and_names_it(tmp_path: Path) -> None:
    proc = mlspec(
        "run",
        str(REPO / "examples" / "quickstart.yaml"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "stages.train_images.memory_mb=150",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "stage 'train_images' failed: worker " in proc.stderr and "exceeded memory_mb=150" in proc.stderr
    record = json.loads(next((tmp_path / "runs").glob("*/record.json")).read_text())
    statuses = {i["status"] for i in record["invocations"] if i["stage"] == "train_images"}
    assert "memory" in statuses
    assert record["stages"]["train_images"]["retries"] == 0  # running out of memory would only happen again


def test_time_limit_without_progress_stops_the_worker_and_names_it(tmp_path: Path) -> None:
    # One epoch over 8,000 images cannot finish in 3 s, so no checkpoint is ever reached.
    proc = mlspec(
        "run",
        str(REPO / "examples" / "quickstart.yaml"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        "datasets.images.synthetic.train_size=8000",
        "--set",
        "stages.train_images.timeout_s=3",
        cwd=tmp_path,
    )
    assert proc.returncode == 1
    assert "stage 'train_images' failed: worker" in proc.stderr and "exceeded timeout_s=3" in proc.stderr
    record = json.loads(next((tmp_path / "runs").glob("*/record.json")).read_text())
    assert record["status"] == "failed"
    statuses = {i["status"] for i in record["invocations"] if i["stage"] == "train_images"}
    assert "timeout" in statuses


def test_missing_dataset_fails_before_any_function_runs(tmp_path: Path) -> None:
    proc = mlspec(
        "run",
        str(REPO / "examples" / "imdb.yaml"),
        "--runs-dir",
        str(tmp_path / "runs"),
        "--set",
        f"datasets.imdb.path={tmp_path / 'nope.tar.gz'}",
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert "dataset 'imdb'" in proc.stderr and "no such file" in proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    ("example", "archive", "workers", "floor", "tolerance"),
    [
        # Issue figures: IMDb >= 0.87 with 4 workers, 1 worker within 0.5 points;
        # the CIFAR-10 subset well above chance (0.1), 1 vs 2 workers within 3 points.
        ("imdb", "aclImdb_v1.tar.gz", 4, 0.87, 0.005),
        ("cifar10", "cifar-10-subset-python.tar.gz|cifar-10-python.tar.gz", 2, 0.3, 0.03),
    ],
)
def test_real_data_many_workers_vs_one(
    tmp_path: Path, example: str, archive: str, workers: int, floor: float, tolerance: float
) -> None:
    path = shared_archive(*archive.split("|"))
    accuracies = []
    for n in (workers, 1):
        record = run_json(tmp_path, f"{example}.yaml", f"datasets.{example}.path={path}", f"stages.train.workers={n}")
        accuracies.append(record["stages"]["evaluate"]["metrics"]["test_accuracy"])
    assert accuracies[0] >= floor, accuracies
    assert abs(accuracies[0] - accuracies[1]) <= tolerance, accuracies
