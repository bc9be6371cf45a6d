"""Scaling of data-parallel training on this machine, each function given 1 vCPU (`targets.local.vcpu=1`:
one math-library thread and one core of its own, as a 1,769 MB Lambda has), through `python -m mlspec run`:

1. strong scaling on the real CIFAR-10 subset ($MLSPEC_DATA or ../shared/data; examples/cifar10.yaml):
   the train stage's time with 2 workers / with 1 at equal epochs. Goal: >= 1.7x at test accuracy within
   1 point;
2. weak scaling on the synthetic CIFAR-10 twin: twice the training examples with twice the workers keeps each
   worker's peak memory within 1.2x (workers hold their shard, never the dataset).

--quick: fewer epochs and examples.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.pipeline_runs import absent, machine, mlspec_run, shared_data

ARCHIVE = "cifar-10-subset-python.tar.gz"
GOALS = {"speedup_2_workers": 1.7, "accuracy_points": 1.0, "weak_scaling_peak_ratio": 1.2}
EPOCHS = {True: 2, False: 5}
WEAK_TRAIN_SIZE = {True: 1500, False: 4000}


def _run(runs: Path, overrides: list[str]) -> dict[str, Any]:
    return mlspec_run("cifar10.yaml", runs, ["targets.local.vcpu=1", *overrides], "--no-cache")[1]


def _train(record: dict[str, Any]) -> dict[str, Any]:
    workers = [i for i in record["invocations"] if i["stage"] == "train"]
    return {
        "train_s": float(record["stages"]["train"]["wall_s"]),
        "test_accuracy": float(record["stages"]["evaluate"]["metrics"]["test_accuracy"]),
        "worker_peak_mb": max(float(i["peak_rss_mb"]) for i in workers),
        "cores": sorted({tuple(i.get("cores") or ()) for i in workers}),
    }


def _strong(archive: Path, runs: Path, quick: bool) -> dict[str, Any]:
    base = [f"datasets.cifar10.path={archive}", f"stages.train.epochs={EPOCHS[quick]}"]
    one = _train(_run(runs, [*base, "stages.train.workers=1"]))
    two = _train(_run(runs, [*base, "stages.train.workers=2"]))
    return {
        "epochs": EPOCHS[quick],
        "one_worker": one,
        "two_workers": two,
        "speedup": one["train_s"] / two["train_s"],
        "accuracy_points_lost": 100 * (one["test_accuracy"] - two["test_accuracy"]),
    }


def _weak(runs: Path, quick: bool) -> dict[str, Any]:
    size = WEAK_TRAIN_SIZE[quick]
    base = ["datasets.cifar10.synthetic.test_size=200", "stages.train.epochs=1"]
    one = _train(_run(runs, [*base, f"datasets.cifar10.synthetic.train_size={size}", "stages.train.workers=1"]))
    two = _train(_run(runs, [*base, f"datasets.cifar10.synthetic.train_size={2 * size}", "stages.train.workers=2"]))
    return {
        "train_size_per_worker": size,
        "one_worker_peak_mb": one["worker_peak_mb"],
        "two_workers_peak_mb": two["worker_peak_mb"],
        "peak_ratio": two["worker_peak_mb"] / one["worker_peak_mb"],
    }


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    archive = shared_data(ARCHIVE)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        runs = Path(tmp) / "runs"
        strong: dict[str, Any] = (
            _strong(archive, runs, quick) if archive is not None else absent("strong scaling", ARCHIVE, verbose)
        )
        weak = _weak(runs, quick)
    out = {
        **machine(load_start, quick),
        "seconds": time.perf_counter() - started,
        "strong": strong,
        "weak": weak,
    }
    if verbose:
        print(
            f"\nscaling (1 vCPU per function; {out['cpus']} CPUs, load average {load_start:.1f} at start, "
            f"{out['load_average_end']:.1f} at end; train-stage times measured)"
        )
        if "skipped" not in strong:
            one, two = strong["one_worker"], strong["two_workers"]
            print(
                f"  CIFAR-10 subset, {strong['epochs']} epochs: 1 worker {one['train_s']:.1f} s "
                f"(acc {one['test_accuracy']:.4f}, cores {one['cores']}), 2 workers {two['train_s']:.1f} s "
                f"(acc {two['test_accuracy']:.4f}, cores {two['cores']})"
            )
            print(
                f"    speed-up {strong['speedup']:.2f}x (goal >= {GOALS['speedup_2_workers']}), accuracy "
                f"{strong['accuracy_points_lost']:+.2f} points lost (goal <= {GOALS['accuracy_points']})"
            )
        print(
            f"  weak scaling (synthetic twin, {weak['train_size_per_worker']} examples per worker): worker peak "
            f"{weak['one_worker_peak_mb']:.0f} MB with 1, {weak['two_workers_peak_mb']:.0f} MB with 2 = "
            f"{weak['peak_ratio']:.2f}x (goal <= {GOALS['weak_scaling_peak_ratio']})"
        )
    return out
