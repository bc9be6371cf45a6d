"""The tune stage counts trials, not epochs, in its progress; a trial stopped early frees its slot at
once (the next trial starts while the others still run), and the saving is reported, labelled modelled.

The run is examples/tune.yaml made small and predictable: a grid whose trial 2 is hopeless (a weight
decay that flattens the model), two trials at a time. Everything is asserted on counts and on the order
of events, never on seconds."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from rich.console import Console
from ruamel.yaml import YAML

from mlspec import spec
from mlspec.cli.progress import RichReporter
from mlspec.compile import FunctionNode
from mlspec.executors import make_executor
from mlspec.executors.base import Limits
from mlspec.executors.coordinator import new_run_dir, run_pipeline
from mlspec.records import StageRecord

EXAMPLE = Path(__file__).parents[2] / "examples" / "tune.yaml"
EPOCHS = 30  # long enough that a full trial outlasts a stopped one's exit by many epochs
PARALLEL = 2


class RecordingReporter:
    """Keeps every progress event in order and shows them the way `mlspec run` does."""

    def __init__(self, shown: RichReporter) -> None:
        self.shown = shown
        self.events: list[tuple[str, dict[str, Any]]] = []

    def stage_started(self, stage: StageRecord, node: FunctionNode) -> None:
        self.shown.stage_started(stage, node)

    def progress(self, stage: str, invocation: str, progress: dict[str, Any]) -> None:
        if stage == "search":
            self.events.append((invocation, progress))
        self.shown.progress(stage, invocation, progress)

    def stage_finished(self, stage: StageRecord) -> None:
        self.shown.stage_finished(stage)


def small_tune_spec(tmp_path: Path) -> Path:
    yaml = YAML()
    data = yaml.load(EXAMPLE.read_text())
    stages = data["stages"]
    # Trial 0 (the train stage's values) and trial 1 are judged by nobody (fewer than two peers) and run to
    # the end; trial 2 (weight decay 0.1) is below the median of both at its first epoch and is stopped.
    stages["search"].update(
        search="grid",
        trials=4,
        parallel=PARALLEL,
        epochs=EPOCHS,
        grace_epochs=1,
        space={"weight_decay": {"values": [1e-6, 0.1, 1e-5, 3e-6]}},
    )
    stages["train"].update(workers=1, epochs=1, batch_size=16, weight_decay=0.03)
    del stages["evaluate"]
    path = tmp_path / "tune.yaml"
    with path.open("w") as out:
        yaml.dump(data, out)
    return path


def test_tune_progress_counts_trials_and_a_stopped_trial_frees_its_slot(tmp_path: Path) -> None:
    path = small_tune_spec(tmp_path)
    pipeline = spec.load(path)
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    terminal = io.StringIO()
    console = Console(file=terminal, width=200, force_terminal=False)
    with RichReporter(console) as shown:
        reporter = RecordingReporter(shown)
        record = run_pipeline(
            pipeline,
            str(path),
            [],
            make_executor("local", run_dir.logs, None),
            run_dir,
            reporter,
            Limits(memory_mb=2048, timeout_s=600, max_concurrency=None),
        )
    search = record.stages["search"]
    trials = {t.index: t for t in search.trials}
    assert sorted(trials) == [0, 1, 2, 3, 4]

    # Progress counts trials (5 in all), never more than `parallel` running, and ends at 5/5.
    counts = [p for _, p in reporter.events if p.get("unit") == "trials"]
    assert counts and all(p["total"] == 5 for p in counts)
    assert all(0 <= p["running"] <= PARALLEL for p in counts)
    assert [p["done"] for p in counts] == sorted(p["done"] for p in counts)
    assert counts[-1]["done"] == 5 and counts[-1]["running"] == 0
    assert counts[-1]["stopped"] == search.metrics["stopped_early"] >= 1
    assert "trial 5/5 done, 0 running" in counts[-1]["phase"]

    # The hopeless trial was stopped and ran fewer epochs than any trial that ran to the end.
    assert trials[2].status == "stopped"
    full = [t for t in trials.values() if t.status == "ok"]
    assert {0, 1} <= {t.index for t in full} and all(t.epochs == EPOCHS for t in full)
    assert all(t.epochs < EPOCHS for t in trials.values() if t.status == "stopped")

    # Trials start in index order, and trial 4 took trial 2's slot as soon as trial 2 ended: while trial 3,
    # started with trial 2, was still training (a driver waiting for whole batches would start it after 3).
    phases = [(inv, p["phase"]) for inv, p in reporter.events if p.get("unit") == "trials"]
    started = [inv for inv, phase in phases if phase.endswith("started")]
    assert started == [f"search.trial-{i}" for i in range(5)]

    def when(suffix: str) -> int:
        return next(n for n, (_, phase) in enumerate(phases) if phase.endswith(suffix))

    assert when("trial 2 stopped early") < when("trial 4 started") < when("trial 3 ok")
    assert any(inv == "search.trial-3" and "epoch" in phase for inv, phase in phases[when("trial 4 started") :])

    # The saving: epochs the stopped trials did not run, and their time modelled from measured epoch times.
    saved = search.metrics["early_stopping_saved_trial_epochs"]
    expected = sum(EPOCHS - t.epochs for t in trials.values() if t.status == "stopped")
    assert expected - search.metrics["stopped_early"] <= saved <= expected
    assert search.metrics["early_stopping_saved_s_modelled"] > 0
    shown_text = terminal.getvalue()
    assert "search: early stopping saved" in shown_text and "trial-epochs (~" in shown_text
    assert "s modelled)" in shown_text
