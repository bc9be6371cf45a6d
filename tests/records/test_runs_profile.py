"""Profiling runs (`mlspec plan --profile`) are marked as such, hidden from `runs list` unless --all, and
never taken as the latest run by compare or plan; `runs list` shows an iterative stage's metrics. A real
k-means run and a real profiling run of the same small pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec import spec as spec_module
from mlspec.actions.plan import latest_run, profile, resolve_usage
from mlspec.cli import main
from mlspec.compare.tables import latest_record
from mlspec.records.runs import list_runs
from tests.conftest import TINY_KMEANS


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """A runs directory with a real run, then (later) a real profiling run of the same pipeline."""
    root = tmp_path_factory.mktemp("profile")
    spec = root / "km.yaml"
    spec.write_text(TINY_KMEANS)
    runs_dir = root / "runs"
    ran = cli("run", str(spec), "--runs-dir", str(runs_dir))
    assert ran.exit_code == 0, ran.output
    (run_id,) = [e.run_id for e in list_runs(runs_dir)]
    profiled = profile(spec, [], runs_dir)
    return spec, runs_dir, run_id, profiled.run_id


def test_the_profiling_run_is_marked_in_its_record(runs: tuple[Path, Path, str, str]) -> None:
    _, runs_dir, run_id, profile_id = runs
    shown = cli("runs", "show", profile_id, "--runs-dir", str(runs_dir))
    assert shown.exit_code == 0 and json.loads(shown.output)["purpose"] == "profile"
    assert json.loads(cli("runs", "show", run_id, "--runs-dir", str(runs_dir)).output)["purpose"] == "run"


def test_runs_list_hides_profiling_runs_unless_all(runs: tuple[Path, Path, str, str]) -> None:
    _, runs_dir, run_id, profile_id = runs
    listed = cli("runs", "list", "--runs-dir", str(runs_dir))
    assert listed.exit_code == 0 and run_id in listed.output and profile_id not in listed.output
    assert "1 run; 1 profiling run hidden (--all shows them)" in listed.output
    everything = cli("runs", "list", "--all", "--runs-dir", str(runs_dir))
    assert profile_id in everything.output and "succeeded (profile)" in everything.output
    assert "2 runs" in everything.output


def test_compare_and_plan_never_take_a_profiling_run_as_the_latest(runs: tuple[Path, Path, str, str]) -> None:
    spec, runs_dir, run_id, profile_id = runs
    assert [e.run_id for e in list_runs(runs_dir, profiles=True)] == [run_id, profile_id]  # the profile is newer
    assert latest_record(runs_dir)[0].run_id == run_id
    compared = cli("compare", "--runs-dir", str(runs_dir), "--format", "json")
    assert compared.exit_code == 0 and json.loads(compared.output)["run_id"] == run_id
    latest = latest_run(runs_dir, "tinykm")
    assert latest is not None and latest.run_id == run_id
    source = resolve_usage(spec_module.load(spec), runs_dir)
    assert source.kind == "latest run" and source.run_id == run_id


def test_runs_list_shows_the_iterative_stage_metrics(runs: tuple[Path, Path, str, str]) -> None:
    _, runs_dir, run_id, _ = runs
    (row,) = [line for line in cli("runs", "list", "--runs-dir", str(runs_dir)).output.splitlines() if run_id in line]
    assert "fit.test_purity=" in row and "fit.test_inertia_per_point=" in row
