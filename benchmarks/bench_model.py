"""The planner's model against the outcome: `mlspec plan EXAMPLE --out plan.json` (profiling the example with a
short real run first), then `mlspec run EXAMPLE --plan plan.json`, which runs every stage here in its planned
envelope. Per stage it prints the plan's modelled time on its platform, the same model re-evaluated for the
envelope the stage had here (whole cores, no platform cold start: what emulation cannot reproduce), the
emulated time, and the model's error against it. Goal: within +-10 % for every preprocess and train stage
(on a quiet machine).

Cases: the quick start (synthetic twins), and the real IMDb and CIFAR-10 examples ($MLSPEC_DATA or
../shared/data; skipped when absent), each planned with at most as many workers per stage as this host has
cores (the emulation runs them all at once here, and more would share cores: not the platform's envelope).
Each case is planned and run ROUNDS times (a fresh profile each time): one run's error moves by 10-45 points
from run to run on this machine, for the profile and the emulation alike, so each stage's error is the median
of its rounds, with their range beside it.
--quick: the quick start's image task only, planned for time (its cost plan gives the preprocess 0.09 vCPU,
which takes 20 s to emulate), one round."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from benchmarks.pipeline_runs import ROOT, absent, machine, shared_data
from mlspec.compare.plan_outcome import plan_outcome
from mlspec.records import RunRecord

GOAL_PCT = 10.0
MAX_WORKERS = len(os.sched_getaffinity(0))
CHECKED_KINDS = ("preprocess", "train")
QUICK_DROPS = {"quickstart.yaml": "reviews"}  # --quick: the dataset left out, with every stage that needs it
QUICK_OVERRIDES = ["objective.minimize=time"]
ROUNDS = {True: 1, False: 3}
TIMES = ("modelled_s", "modelled_here_s", "emulated_s")
CASES = {  # example -> (dataset name in the spec, real archive)
    "quickstart.yaml": (None, None),
    "imdb.yaml": ("imdb", "aclImdb_v1.tar.gz"),
    "cifar10.yaml": ("cifar10", "cifar-10-subset-python.tar.gz"),
}


def _mlspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "mlspec", *args], capture_output=True, text=True, cwd=cwd, timeout=3600
    )
    if done.returncode != 0:
        raise RuntimeError(f"mlspec {args[0]} failed: {done.stderr[-2000:]}")
    return done


def _without(spec: Path, dataset: str, folder: Path) -> Path:
    """A copy of `spec` in `folder` without `dataset` and the stages that read it, directly or through others."""
    yaml = YAML()
    doc = yaml.load(spec.read_text())
    del doc["datasets"][dataset]
    dropped = {dataset}
    while needing := [
        n for n, s in doc["stages"].items() if dropped & {s.get(k) for k in ("dataset", "data", "model")}
    ]:
        for name in needing:
            del doc["stages"][name]
        dropped.update(needing)
    copy = folder / spec.name
    with copy.open("w") as out:
        yaml.dump(doc, out)
    return copy


def _round(example: str, overrides: list[str], drop: str | None) -> dict[str, Any]:
    sets = [arg for override in overrides for arg in ("--set", override)]
    with tempfile.TemporaryDirectory(prefix="bench-model-") as tmp:
        folder = Path(tmp)
        spec = str(ROOT / "examples" / example if drop is None else _without(ROOT / "examples" / example, drop, folder))
        started = time.perf_counter()
        # At most as many workers as this host runs at once in the examples' memory (2 cores, 24 GB here).
        _mlspec("plan", spec, "--out", "plan.json", "--max-workers", str(MAX_WORKERS), *sets, cwd=folder)
        plan_s = time.perf_counter() - started
        record = RunRecord.model_validate_json(
            _mlspec("run", spec, "--plan", "plan.json", "--json", *sets, cwd=folder).stdout
        )
    stages = []
    for row in plan_outcome(record):
        kind = record.stages[row.stage].kind
        stages.append(
            {
                "stage": row.stage,
                "kind": kind,
                "platform": row.platform,
                "modelled_s": row.modelled_time_s,
                "modelled_here_s": row.modelled_here_s,
                "emulated_s": row.emulated_time_s,
                "error_here_pct": row.here_error_pct,
                "checked": kind in CHECKED_KINDS,
                "replans": len(record.stages[row.stage].replans),
            }
        )
    return {"plan_s": plan_s, "run_id": record.run_id, "stages": stages}


def _case(example: str, overrides: list[str], drop: str | None, rounds: int) -> dict[str, Any]:
    """`rounds` plans and runs of the example; per stage the median of each figure and the range of the errors."""
    runs = [_round(example, overrides, drop) for _ in range(rounds)]
    stages = []
    for at, first in enumerate(runs[0]["stages"]):
        each = [run["stages"][at] for run in runs]
        errors = [s["error_here_pct"] for s in each if s["error_here_pct"] is not None]
        error = statistics.median(errors) if errors else None
        stages.append(
            {
                **first,
                **{k: statistics.median(s[k] or 0.0 for s in each) for k in TIMES},
                "error_here_pct": error,
                "error_range_pct": [min(errors), max(errors)] if errors else None,
                "met": error is not None and abs(error) <= GOAL_PCT,
                "replans": sum(s["replans"] for s in each),
            }
        )
    return {
        "rounds": rounds,
        "plan_s": statistics.median(run["plan_s"] for run in runs),
        "run_ids": [run["run_id"] for run in runs],
        "stages": stages,
    }


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    results: dict[str, Any] = {}
    for example, (dataset, archive_name) in CASES.items():
        if quick and archive_name is not None:
            continue
        overrides = list(QUICK_OVERRIDES) if quick else []
        if archive_name is not None:
            archive = shared_data(archive_name)
            if archive is None:
                results[example] = absent("model", archive_name, verbose)
                continue
            overrides.append(f"datasets.{dataset}.path={archive}")
        results[example] = _case(example, overrides, QUICK_DROPS.get(example) if quick else None, ROUNDS[quick])
    out = {**machine(load_start, quick), "goal_pct": GOAL_PCT, "cases": results}
    if verbose:
        print(
            f"\nmodel vs outcome ({out['cpus']} CPUs, load average {load_start:.1f} at start, "
            f"{out['load_average_end']:.1f} at end; modelled: the plan; modelled here: the same model for this "
            f"host's envelope; emulated: measured here in the planned envelope; each the median of {ROUNDS[quick]} "
            f"{'round' if ROUNDS[quick] == 1 else 'rounds'}, the errors' range beside it)"
        )
        for example, case in results.items():
            if "stages" not in case:
                continue
            trimmed = quick and example in QUICK_DROPS
            only = f", without its {QUICK_DROPS[example]} task, planned for time" if trimmed else ""
            runs = ", ".join(case["run_ids"])
            print(f"  {example}{only} (plan with its profiling run: {case['plan_s']:.0f} s; runs {runs})")
            print(
                f"    {'stage':<14} {'platform':<22} {'modelled s':>10} {'here s':>8} {'emulated s':>10} {'error':>7} "
                f"{'range':>11}"
            )
            for s in case["stages"]:
                error = "-" if s["error_here_pct"] is None else f"{s['error_here_pct']:+.0f}%"
                spread = "" if s["error_range_pct"] is None else "{:+.0f}..{:+.0f}%".format(*s["error_range_pct"])
                verdict = ("met" if s["met"] else "MISSED") + f" (goal +-{GOAL_PCT:g} %)" if s["checked"] else ""
                replanned = f"  re-planned x{s['replans']}" if s["replans"] else ""
                print(
                    f"    {s['stage']:<14} {s['platform']:<22} {s['modelled_s']:>10.1f} "
                    f"{s['modelled_here_s'] or 0:>8.1f} {s['emulated_s'] or 0:>10.1f} {error:>7} {spread:>11}  "
                    f"{verdict}{replanned}"
                )
    return json.loads(json.dumps(out))
