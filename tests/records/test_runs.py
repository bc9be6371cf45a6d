"""The run store is read tolerantly: crashed or corrupt runs are listed as failed, never a crash."""

from __future__ import annotations

import time
from pathlib import Path

from click.testing import CliRunner

from mlspec.cli import main
from mlspec.records import RunDir, RunRecord
from mlspec.records.runs import list_runs


def make_run(root: Path, run_id: str, status: str = "succeeded") -> RunDir:
    run = RunDir(root, run_id)
    run.create()
    run.save(
        RunRecord(
            run_id=run_id,
            name="demo",
            spec_file="p.yaml",
            spec={},
            target="local",
            executor="local",
            status=status,
            started_at=time.time(),
            mlspec_version="0",
        )
    )  # type: ignore[arg-type]
    return run


def test_corrupt_and_half_written_runs_are_failed_with_a_reason(tmp_path: Path) -> None:
    make_run(tmp_path, "good")
    (tmp_path / "crashed").mkdir()  # no record: not a run
    truncated = make_run(tmp_path, "truncated")
    truncated.record_file.write_text(truncated.record_file.read_text()[:40])
    wrong = make_run(tmp_path, "wrong")
    wrong.record_file.write_text('{"run_id": 3}')
    entries = {e.run_id: e for e in list_runs(tmp_path)}
    assert entries["good"].status == "succeeded" and entries["good"].problem is None
    assert "crashed" not in entries
    assert "corrupt" in (entries["truncated"].problem or "")
    assert "corrupt" in (entries["wrong"].problem or "")
    result = CliRunner().invoke(main, ["runs", "list", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "crashed" not in result.output and "truncated" in result.output


def test_show_unknown_run_exits_2_and_rm_removes(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101-000000-demo-aaaa")
    runner = CliRunner()
    result = runner.invoke(main, ["runs", "show", "nope", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown run 'nope'" in result.output
    shown = runner.invoke(main, ["runs", "show", "20260101", "--runs-dir", str(tmp_path)])
    assert shown.exit_code == 0 and '"run_id": "20260101-000000-demo-aaaa"' in shown.output
    removed = runner.invoke(main, ["runs", "rm", "20260101-000000-demo-aaaa", "--yes", "--runs-dir", str(tmp_path)])
    assert removed.exit_code == 0 and not (tmp_path / "20260101-000000-demo-aaaa").exists()


def test_a_run_whose_coordinator_died_is_failed_not_running(tmp_path: Path) -> None:
    import platform
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    run = make_run(tmp_path, "orphan", status="running")
    record = RunRecord.model_validate_json(run.record_file.read_text())
    record.coordinator_pid, record.host = dead.pid, {"name": platform.node()}
    run.save(record)
    (entry,) = list_runs(tmp_path)
    assert entry.status == "failed" and "coordinator process is gone" in (entry.problem or "")
