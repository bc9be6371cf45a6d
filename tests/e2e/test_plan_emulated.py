"""`mlspec plan --out` then `mlspec run --plan`, offline: every stage runs on this machine in the envelope
its planned platform gives it (memory, vCPU, time limit, workers), the record keeps the plan and labels the
run emulated, and the run ends with the model against the outcome per stage."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlspec.compare.plan_outcome import plan_outcome
from mlspec.compare.tables import compare_platforms
from mlspec.providers.registry import get_offering
from mlspec.records import RunRecord
from mlspec.records.runs import list_runs

# As small as the profiling run `mlspec plan` makes first, so the plan is modelled from the same work.
SPEC = """\
name: planned
seed: 0
datasets:
  reviews: {format: imdb, synthetic: {train_size: 300, test_size: 100, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: reviews, max_features: 500}
  train: {kind: train, data: prep, model: logistic_regression, workers: 2, epochs: 1}
  evaluate: {kind: evaluate, model: train}
targets:
  aws-lambda: {memory_mb: 1024, timeout_s: 300}
  gcp-cloud-run: {memory_mb: 1024, vcpu: 1}
"""


def mlspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, object]]]:
    root = tmp_path_factory.mktemp("planned")
    (root / "pipeline.yaml").write_text(SPEC)
    done = mlspec("plan", "pipeline.yaml", "--out", "plan.json", cwd=root)
    assert done.returncode == 0, done.stderr
    assert "measuring it with a short real local run first" in done.stderr  # no run yet: profiled
    return root, {s["stage"]: s for s in json.loads((root / "plan.json").read_text())["stages"]}


def test_a_plan_runs_emulated_in_each_stage_envelope(planned: tuple[Path, dict[str, dict[str, object]]]) -> None:
    root, plan = planned
    done = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    record = RunRecord.model_validate_json(done.stdout)
    assert record.plan is not None and record.plan.emulated and record.plan.file == "plan.json"
    assert "model vs outcome (emulated on" in done.stderr and "emulated on" in done.stderr
    for stage, placed in plan.items():
        invocations = [i for i in record.invocations if i.stage == stage]
        assert invocations and all(i.memory_limit_mb == placed["memory_mb"] for i in invocations)
        assert all(i.vcpu == placed["vcpu"] for i in invocations)
        assert record.stages[stage].workers == placed["workers"]
        assert record.stages[stage].cached_from is None
        assert record.stages[stage].cache_note == "not reused: a planned run measures every stage against its model"
    rows = {row.stage: row for row in plan_outcome(record)}
    assert set(rows) == set(plan)
    for row in rows.values():
        assert row.emulated_time_s is not None and row.emulated_time_s > 0
        assert row.time_error_pct is not None and row.emulated_cost_usd is not None
        assert row.time_error_pct == pytest.approx(
            100 * (row.modelled_time_s - row.emulated_time_s) / row.emulated_time_s
        )
    assert [e.record.run_id for e in list_runs(root / ".mlspec" / "runs")] == [record.run_id]  # the profile is hidden
    # `mlspec compare` shows the same for the run.
    comparison = compare_platforms(record)
    assert [row.stage for row in comparison.plan_outcome] == list(rows)
    assert sum(note.startswith("plan: ") for note in comparison.notes) == len(rows)
    assert comparison.to_dict()["plan_outcome"][0]["labels"]["emulated_time_s"] == "emulated"


def test_a_plan_for_another_spec_is_refused_before_a_run_exists(
    planned: tuple[Path, dict[str, dict[str, object]]],
) -> None:
    root, _ = planned
    runs = len(list((root / ".mlspec" / "runs").iterdir()))
    done = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--set", "stages.train.epochs=3", cwd=root)
    assert done.returncode == 2 and "stage 'train' differs" in done.stderr and done.stderr.count("\n") == 1
    refused = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--target", "aws-lambda", cwd=root)
    assert refused.returncode == 2 and "--plan runs every stage emulated on this machine" in refused.stderr
    strict = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--no-emulate", cwd=root)
    assert strict.returncode == 2 and "--no-emulate: stage 'prep' is planned on" in strict.stderr
    assert strict.stderr.count("\n") == 1
    assert len(list((root / ".mlspec" / "runs").iterdir())) == runs


def test_placement_auto_plans_then_follows_the_plan(planned: tuple[Path, dict[str, dict[str, object]]]) -> None:
    root, _ = planned
    done = mlspec("run", "pipeline.yaml", "--placement", "auto", "--json", cwd=root)
    assert done.returncode == 0, done.stderr
    written = root / ".mlspec" / "runs" / "plans" / "planned.json"
    assert f"placement auto: plan written to {written.relative_to(root)}" in done.stderr
    record = RunRecord.model_validate_json(done.stdout)
    assert record.plan is not None and record.plan.file == str(written.relative_to(root))
    placed = {s["stage"]: s for s in json.loads(written.read_text())["stages"]}
    assert {name: stage.workers for name, stage in record.stages.items()} == {
        name: p["workers"] for name, p in placed.items()
    }
    both = mlspec("run", "pipeline.yaml", "--placement", "auto", "--plan", "plan.json", cwd=root)
    assert both.returncode == 2 and "--placement auto makes the plan it follows" in both.stderr


TWO_CLOUDS = """\
name: two-clouds
seed: 0
datasets:
  reviews: {format: imdb, synthetic: {train_size: 300, test_size: 100, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: reviews, max_features: 500}
  train: {kind: train, data: prep, model: logistic_regression, workers: 1, epochs: 1, memory_mb: 16384}
  evaluate: {kind: evaluate, model: train}
targets:
  aws-lambda: {memory_mb: 1024, timeout_s: 300}
  gcp-cloud-run: {memory_mb: 1024, vcpu: 1}
"""


def test_a_plan_across_two_clouds_runs_emulated_and_prices_what_crosses(tmp_path: Path) -> None:
    """16 GiB for train is more than Lambda gives: the plan puts it on Cloud Run and the rest on Lambda."""
    (tmp_path / "pipeline.yaml").write_text(TWO_CLOUDS)
    made = mlspec("plan", "pipeline.yaml", "--out", "plan.json", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    placed = {s["stage"]: s["platform"] for s in json.loads((tmp_path / "plan.json").read_text())["stages"]}
    assert placed == {"prep": "aws-lambda:x86_64", "train": "gcp-cloud-run:service", "evaluate": "aws-lambda:x86_64"}
    done = mlspec("run", "pipeline.yaml", "--plan", "plan.json", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "emulated cost includes cross-cloud egress: train read" in " ".join(done.stderr.split())
    record = RunRecord.model_validate_json(done.stdout)
    rows = {row.stage: row for row in plan_outcome(record)}
    read = {
        stage: sum(i.io.get("object_bytes_read", 0) for i in record.invocations if i.stage == stage) / 1e9
        for stage in rows
    }
    aws_out = get_offering("aws-lambda").cloud.egress_per_gb_usd.value
    gcp_out = get_offering("gcp-cloud-run").cloud.egress_per_gb_usd.value
    assert rows["prep"].emulated_egress_gb == 0.0  # reads the dataset, no stage of another cloud
    assert read["train"] > 0 and rows["train"].emulated_egress_usd == pytest.approx(read["train"] * aws_out)
    assert read["evaluate"] > 0 and rows["evaluate"].emulated_egress_usd == pytest.approx(read["evaluate"] * gcp_out)
    assert rows["train"].modelled_egress_gb > 0  # the plan priced the crossing too
    comparison = compare_platforms(record).to_dict()["plan_outcome"]
    assert {row["stage"]: row["emulated_egress_gb"] for row in comparison} == {
        stage: row.emulated_egress_gb for stage, row in rows.items()
    }
