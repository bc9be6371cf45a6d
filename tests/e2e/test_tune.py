"""The tune stage end to end: trials as parallel function invocations, early stopping, the best
configuration passed to the train stage, and every trial in the record and in `mlspec compare`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from mlspec.cli import main
from mlspec.records.model import RunRecord

EXAMPLE = Path(__file__).parents[2] / "examples" / "tune.yaml"


def test_tune_example_runs_trials_in_parallel_and_trains_with_the_best(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = CliRunner().invoke(main, ["run", str(EXAMPLE), "--runs-dir", str(runs), "--json"])
    assert result.exit_code == 0, result.output
    record = RunRecord.model_validate_json(result.stdout)
    search = record.stages["search"]
    assert [t.index for t in search.trials] == list(range(9))
    assert search.trials[0].status == "ok" and search.trials[0].epochs == 5  # the default runs to the end
    for trial in search.trials:
        assert trial.status in ("ok", "stopped") and trial.validation_accuracy is not None
        assert (trial.epochs < 5) == (trial.status == "stopped")
    # Trials overlapped in time: all 9 were alive at once at some point (parallel: 9).
    spans = [(i.started_at, i.started_at + i.wall_s) for i in record.invocations if i.stage == "search"]
    assert max(sum(a <= t < b for a, b in spans) for t, _ in spans) >= 8
    # The best trial is the best of those run to the end, and it is what the train stage used.
    finished = [t for t in search.trials if t.status == "ok"]
    best = max(finished, key=lambda t: (t.validation_accuracy or 0.0, -t.index))
    assert search.best == best.values and search.metrics["best_trial"] == best.index
    assert search.metrics["best_validation_accuracy"] >= search.metrics["default_validation_accuracy"]
    run_dir = runs / record.run_id
    stored = json.loads((run_dir / "objects" / "models" / "search" / "best.json").read_text())
    assert stored["values"] == best.values
    assert record.stages["evaluate"].metrics["test_accuracy"] > 0.75  # chance: 0.5

    compared = CliRunner().invoke(main, ["compare", record.run_id, "--runs-dir", str(runs), "--format", "md"])
    assert compared.exit_code == 0, compared.output
    assert "Tune trials of search" in compared.output
    assert "0 (default)" in compared.output and f"{best.index} (best)" in compared.output
