"""A stage longer than its time limit in real seconds runs as a chain of invocations. The margins are
wide: the limit is several times what one invocation needs to start and train an epoch, measured on this
machine just before, so the test holds on a machine several times busier (beside `stress-ng --cpu 4`).
The exact shape of a chain is tested with a limit counted in epochs (tests/e2e/test_fault_tolerance.py)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

SPEC = """\
name: chain
seed: 3
datasets:
  images: {format: cifar10, synthetic: {train_size: 1200, test_size: 400, seed: 1}}
stages:
  prep: {kind: preprocess, dataset: images}
  train: {kind: train, data: prep, model: small_cnn, workers: 2, epochs: 2, batch_size: 32, sync_every_steps: 4}
"""
# The time limit, in multiples of what an invocation needs to start and train one epoch when measured.
HEADROOM = 5.0


def run(tmp_path: Path, *overrides: str) -> dict[str, Any]:
    spec = tmp_path / "chain.yaml"
    spec.write_text(SPEC)
    args = [sys.executable, "-m", "mlspec", "run", str(spec), "--json", "--runs-dir", str(tmp_path / "runs")]
    done = subprocess.run([*args, *(a for o in overrides for a in ("--set", o))], cwd=tmp_path,
                          capture_output=True, text=True, timeout=1200)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    record: dict[str, Any] = json.loads(done.stdout)
    return record


def test_stage_longer_than_its_time_limit_in_seconds_runs_as_a_chain(tmp_path: Path) -> None:
    measured = [i for i in run(tmp_path)["invocations"] if i["stage"] == "train"]
    init_s = max(i["init_s"] for i in measured)
    epoch_s = max(i["wall_s"] - i["init_s"] for i in measured) / 2
    limit = max(20.0, HEADROOM * (init_s + epoch_s))
    # Enough epochs that the whole stage, unchained, would take about 1.5 limits at the measured speed.
    epochs = math.ceil(1.5 * limit / epoch_s)
    record = run(tmp_path, f"stages.train.timeout_s={limit:.1f}", f"stages.train.epochs={epochs}")
    train = record["stages"]["train"]
    assert train["status"] == "succeeded" and train["chained"] >= 1
    invocations = [i for i in record["invocations"] if i["stage"] == "train"]
    assert {i["link"] for i in invocations} == set(range(train["chained"] + 1))
    # Invocations stop themselves before the limit. One that still overran it (an epoch suddenly far
    # slower on a busy machine) was killed at the limit and retried from the checkpoint, never left
    # running past it.
    assert all(i["wall_s"] <= limit + 1 for i in invocations), invocations
    assert sum(i["status"] == "timeout" for i in invocations) <= train["retries"]
    assert [h["epoch"] for h in train["history"]] == list(range(1, epochs + 1))
