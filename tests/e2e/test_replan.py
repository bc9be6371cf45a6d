"""Re-planning during training, end to end: a run follows its plan until the measured epochs say the deadline
or budget will be missed, then changes the train stage's workers for the rest, from the checkpoint.

The slowdown comes from the test (a worker that sleeps per example or per synchronisation round, through
the train worker's MLSPEC_SLOW_* variables), not from the machine, and the deadline leaves wide margins
both ways: missed by far without the change, met with seconds to spare with it. Memory is pinned where the
planner would otherwise choose Lambda's smallest (0.07 vCPU, emulated as such): the stages around train
then take seconds, not tens of them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec.records import RunRecord
from mlspec.runtime.functions.train_worker import SLOW_EXAMPLE_ENV, SLOW_SYNC_ENV

SPEC = """\
name: replanned
seed: 0
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 400, test_size: 200, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 500, memory_mb: 1769}}
  train: {{kind: train, data: prep, model: logistic_regression, epochs: 8, batch_size: 50, memory_mb: 1024}}
  evaluate: {{kind: evaluate, model: train, memory_mb: 1769}}
targets:
  aws-lambda: {{memory_mb: 1024, timeout_s: 300}}
objective: {objective}
"""
SLOW_EXAMPLE_S = 0.03  # one worker's epoch: 400 examples x 0.03 s = 12 s
DEADLINE_S = 75  # carrying on with one worker: ~12 s to the first epoch's end, then 7 x 12 s more
SLOW_SYNC_S = 6.0  # each worker's one synchronisation round per epoch
BUDGET_USD = 0.002  # 4 workers x 7 epochs x 6 s at 1024 MB is ~$0.0028 more; one worker, a tenth of it


def mlspec(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def planned_run(root: Path, objective: str, workers: int, slow: dict[str, str]) -> RunRecord:
    root.mkdir(exist_ok=True)
    (root / "pipeline.yaml").write_text(SPEC.format(objective=objective))
    # Pinned: the train stage's steps are a few % of its work, so the model's best count is a near tie
    # that the profile's noise settles (3 or 4 of 4).
    pinned = ("--min-workers", str(workers), "--max-workers", str(workers))
    made = mlspec("plan", "pipeline.yaml", "--out", "plan.json", *pinned, cwd=root)
    assert made.returncode == 0, made.stderr
    plan = {s["stage"]: s for s in json.loads((root / "plan.json").read_text())["stages"]}
    assert plan["train"]["workers"] == workers  # the plan, modelled from an unslowed profile
    done = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--json", cwd=root, env=slow)
    assert done.returncode == 0, done.stderr
    assert "re-planned" in done.stderr
    return RunRecord.model_validate_json(done.stdout)


def test_a_tight_deadline_re_plans_to_more_workers_and_is_met(tmp_path: Path) -> None:
    objective = f"{{deadline: {DEADLINE_S}}}"
    undisturbed = mlspec("run", "pipeline.yaml", "--json", cwd=_written(tmp_path / "plain", objective))
    assert undisturbed.returncode == 0, undisturbed.stderr
    plain = RunRecord.model_validate_json(undisturbed.stdout)

    record = planned_run(tmp_path / "planned", objective, 1, {SLOW_EXAMPLE_ENV: str(SLOW_EXAMPLE_S)})
    train = record.stages["train"]
    assert record.plan is not None and record.plan.replan and record.plan.deadline_s == DEADLINE_S
    [event] = train.replans
    assert (event.workers_before, event.after_epoch) == (1, 1)
    assert event.workers_after > 1 and train.workers == event.workers_after
    assert event.reason.startswith("deadline would be missed")
    assert event.modelled_before["time_s"] > event.time_left_s > event.modelled_after["time_s"]
    assert event.measured_epoch_s >= 400 * SLOW_EXAMPLE_S
    workers = {i.worker for i in record.invocations if i.stage == "train" and i.link > 0}
    assert workers == set(range(event.workers_after))  # the rest of the stage ran with the new count
    assert [h["epoch"] for h in train.history] == list(range(1, 9))  # resumed from the checkpoint, no epoch lost
    assert record.wall_s is not None and record.wall_s <= DEADLINE_S
    accuracy = record.stages["evaluate"].metrics["test_accuracy"]
    assert abs(accuracy - plain.stages["evaluate"].metrics["test_accuracy"]) <= 0.05  # 200 test reviews: within noise


def test_a_budget_forces_fewer_workers_mid_run(tmp_path: Path) -> None:
    objective = f"{{minimize: time, budget: {BUDGET_USD}}}"
    record = planned_run(tmp_path, objective, 4, {SLOW_SYNC_ENV: str(SLOW_SYNC_S)})
    train = record.stages["train"]
    [event] = train.replans
    assert event.workers_before == 4 and event.workers_after < 4 and train.workers == event.workers_after
    assert event.reason.startswith("budget would be exceeded")
    assert event.budget_left_usd is not None
    assert event.modelled_before["cost_usd"] > event.budget_left_usd >= event.modelled_after["cost_usd"]
    assert [h["epoch"] for h in train.history] == list(range(1, 9))
    assert record.stages["evaluate"].metrics["test_accuracy"] > 0.6


def _written(root: Path, objective: str) -> Path:
    root.mkdir()
    (root / "pipeline.yaml").write_text(SPEC.format(objective=objective))
    return root


@pytest.fixture(autouse=True)
def _no_inherited_slowdown(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (SLOW_EXAMPLE_ENV, SLOW_SYNC_ENV):
        monkeypatch.delenv(name, raising=False)
