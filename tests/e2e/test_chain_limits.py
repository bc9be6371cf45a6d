"""A time limit in real seconds: an invocation that cannot finish its stage in time stops itself before
the limit and a chained invocation resumes from its checkpoint. The stage is far too long to finish; the
test watches the first link end and the second make progress, then interrupts the run. The limit is wide
(several epochs even on a machine many times busier, beside `stress-ng --cpu 4`) and nothing else depends
on the machine's speed. The exact shape of a whole chain is tested with a limit counted in epochs
(tests/e2e/test_fault_tolerance.py::test_stage_longer_than_time_limit_runs_as_a_chain)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SPEC = """\
name: chain
seed: 3
datasets:
  images: {format: cifar10, synthetic: {train_size: 600, test_size: 200, seed: 1}}
stages:
  prep: {kind: preprocess, dataset: images}
  train: {kind: train, data: prep, model: small_cnn, workers: 2, epochs: 10000, batch_size: 32, timeout_s: 40}
"""
LIMIT_S = 40.0


def wait_until(proc: subprocess.Popen[str], condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1][-2000:]}"
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


def read_json(pattern: str, root: Path) -> dict[str, Any] | None:
    for path in root.glob(pattern):
        try:
            value: dict[str, Any] = json.loads(path.read_text())
            return value
        except ValueError:  # caught mid-write
            return None
    return None


def test_invocation_stops_before_its_time_limit_in_seconds_and_the_next_resumes(tmp_path: Path) -> None:
    spec = tmp_path / "chain.yaml"
    spec.write_text(SPEC)
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlspec", "run", str(spec), "--runs-dir", str(runs)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def chained() -> dict[str, Any] | None:
            record = read_json("*/record.json", runs)
            return record if record and record["stages"]["train"]["chained"] else None

        record = wait_until(proc, chained, 10 * LIMIT_S, "the first invocations ended for their time limit")
        first = [i for i in record["invocations"] if i["stage"] == "train"]
        assert [i["link"] for i in first] == [0, 0] and record["stages"]["train"]["retries"] == 0
        # They stopped themselves, at an epoch boundary before the limit: not killed at it.
        assert all(i["status"] == "ok" and i["wall_s"] < LIMIT_S for i in first), first
        pointer = "*/objects/models/train/checkpoint/latest.json"
        reached = read_json(pointer, runs)
        assert reached is not None and reached["epoch"] >= 1
        # The next link resumes from that checkpoint and trains on.
        wait_until(
            proc,
            lambda: (p := read_json(pointer, runs)) and p["epoch"] > reached["epoch"],
            5 * LIMIT_S,
            "the chained invocations trained an epoch",
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
    history = read_json(pointer, runs)
    assert history is not None
    assert [h["epoch"] for h in history["history"]] == list(range(1, history["epoch"] + 1))
