"""Every target of examples/Makefile, run by `make` as a user would, offline and fast: one epoch and one
worker through RUN_ARGS, and as DATA small archives in the official CIFAR-10 / IMDb formats (built by the
dataset tests' own builders), so that nothing is downloaded and the real archives are not needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from mlspec.records.runs import list_runs
from tests.datasets.test_datasets_loading import BATCH_SIZES, tar_gz, write_cifar_folder, write_imdb_folder

REPO = Path(__file__).resolve().parents[2]
MAKEFILE = REPO / "examples" / "Makefile"
# Per target: what keeps its run short (stage names differ between the example specs).
RUN_ARGS = {
    "quickstart": "--set stages.train_images.epochs=1 --set stages.train_images.workers=1 "
    "--set stages.train_reviews.epochs=1 --set stages.train_reviews.workers=1",
    "cifar10": "--set stages.train.epochs=1 --set stages.train.workers=1",
    # the tiny IMDb archive has 7 training reviews: keep words seen once
    "imdb": "--set stages.train.epochs=1 --set stages.train.workers=1 --set stages.prep.min_df=1",
}


def phony_targets() -> list[str]:
    match = re.search(r"^\.PHONY:(.*)$", MAKEFILE.read_text(), re.MULTILINE)
    assert match, "examples/Makefile declares its targets in .PHONY"
    return match.group(1).split()


def make(target: str, runs: Path, data: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    args = [
        f"MLSPEC={sys.executable} -m mlspec",
        f"RUNS={runs}",
        f"DATA={data}",
        f"RUN_ARGS={RUN_ARGS.get(target, '')}",
        *(f"{k}={v}" for k, v in variables.items()),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's mlspec, whatever is installed
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(MAKEFILE.parent), target, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"make {target} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def latest_run(runs: Path, name: str) -> str:
    entries = [e for e in list_runs(runs) if e.record is not None and e.record.name == name]
    assert entries and entries[-1].status == "succeeded", [(e.run_id, e.status, e.problem) for e in list_runs(runs)]
    return entries[-1].run_id


def test_every_makefile_target_runs_offline(tmp_path: Path) -> None:
    data, runs = tmp_path / "data", tmp_path / "runs"
    data.mkdir()
    tar_gz(write_cifar_folder(tmp_path / "src"), data / "cifar-10-subset-python.tar.gz")
    tar_gz(write_imdb_folder(tmp_path / "src"), data / "aclImdb_v1.tar.gz")
    tested = ["help", "quickstart", "cifar10", "imdb", "plan", "compare", "report"]
    assert sorted(tested) == sorted(phony_targets()), "a Makefile target without a test"

    out = make("help", runs, data).stdout
    assert all(t in out for t in tested[1:])

    make("quickstart", runs, data)
    quickstart = latest_run(runs, "quickstart")

    make("cifar10", runs, data)
    cifar = list_runs(runs)[-1].record
    assert cifar is not None and latest_run(runs, "cifar10") == cifar.run_id
    assert cifar.spec["datasets"]["cifar10"]["path"] == str(data / "cifar-10-subset-python.tar.gz")
    assert cifar.stages["prep"].metrics["train_examples"] == sum(BATCH_SIZES.values())

    make("imdb", runs, data)
    imdb = latest_run(runs, "imdb")

    # `plan` reads the quickstart run in RUNS (it used to look in examples/.mlspec/runs and fail)
    out = make("plan", runs, data).stdout
    assert "plan for quickstart" in out and f"usage from latest successful run {quickstart}" in out

    out = make("compare", runs, data).stdout  # FORMAT=md by default: the latest run on every platform
    assert f"# Run {imdb} (imdb) on every platform" in out and "## Training time per task (seconds)" in out

    report = tmp_path / "report.html"
    make("report", runs, data, REPORT=str(report))
    text = report.read_text()
    assert text.lstrip().lower().startswith("<!doctype html") and imdb in text
