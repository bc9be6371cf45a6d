"""The run store against hostile input: directories that are not runs, links, empty and ambiguous prefixes,
runs still in progress, unreadable runs directories, run-id collisions and a disk that fills up while
the record is saved. Everything is real: directories under tmp_path, real processes, real pipeline runs."""

from __future__ import annotations

import os
import platform
import pty
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from mlspec.cli import main
from mlspec.files import TEMPORARY_PREFIX
from mlspec.records import RunDir, RunRecord
from tests.conftest import TINY_KMEANS


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env={"COLUMNS": "250"})


def one_line_error(result: Result, code: int, message: str) -> None:
    """A refusal: the exit status, and one error line (the last on stderr) saying `message`; no traceback."""
    assert result.exit_code == code, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == [result.stderr.strip().splitlines()[-1]], result.stderr
    assert errors[0].startswith("error: ") and message in errors[0], result.stderr
    assert "Traceback" not in result.stderr


def make_run(root: Path, run_id: str, status: str = "succeeded", **fields: object) -> RunDir:
    run = RunDir(root, run_id)
    run.create()
    run.save(
        RunRecord.model_validate(
            dict(
                run_id=run_id,
                name="demo",
                spec_file="p.yaml",
                spec={},
                target="local",
                executor="local",
                status=status,
                started_at=time.time(),
                mlspec_version="0",
                **fields,
            )
        )
    )
    return run


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing in for a coordinator that is still running."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


# ---------------------------------------------------------------- item 1: what `runs rm` may delete


def test_rm_never_deletes_a_directory_that_is_not_a_run(tmp_path: Path) -> None:
    taxes = tmp_path / "Documents" / "taxes"
    taxes.mkdir(parents=True)
    (taxes / "2025.pdf").write_bytes(b"%PDF")
    one_line_error(cli("runs", "rm", "D", "--yes", "--runs-dir", str(tmp_path)), 2, "unknown run 'D'")
    one_line_error(cli("runs", "rm", "Documents", "--yes", "--runs-dir", str(tmp_path)), 2, "unknown run")
    one_line_error(cli("runs", "rm", "", "--yes", "--runs-dir", str(tmp_path)), 2, "cannot be empty")
    assert (taxes / "2025.pdf").read_bytes() == b"%PDF"
    listed = cli("runs", "list", "--runs-dir", str(tmp_path))
    assert listed.exit_code == 0 and "Documents" not in listed.stdout and "0 runs" in listed.stdout


def test_runs_list_of_the_root_directory_lists_no_system_directory() -> None:
    listed = cli("runs", "list", "--runs-dir", "/")
    assert listed.exit_code == 0, listed.stderr
    assert "etc" not in listed.stdout.replace("runs in /", "") and "0 runs" in listed.stdout


def test_an_empty_or_ambiguous_prefix_removes_nothing(tmp_path: Path) -> None:
    a = make_run(tmp_path, "20260101-000000-demo-aaaa")
    b = make_run(tmp_path, "20260101-000000-demo-bbbb")
    one_line_error(cli("runs", "rm", "20260101", "--yes", "--runs-dir", str(tmp_path)), 2, "ambiguous")
    one_line_error(cli("runs", "rm", " ", "--yes", "--runs-dir", str(tmp_path)), 2, "cannot be empty")
    assert a.record_file.is_file() and b.record_file.is_file()
    removed = cli("runs", "rm", "20260101-000000-demo-a", "--yes", "--runs-dir", str(tmp_path))
    assert removed.exit_code == 0, removed.stderr
    assert not a.path.exists() and b.record_file.is_file()
    assert removed.stdout.splitlines()[-1] == "removed 1 run"  # not "1 runs"


def test_rm_without_a_terminal_needs_yes(tmp_path: Path) -> None:
    run = make_run(tmp_path, "20260101-000000-demo-aaaa")
    one_line_error(
        cli("runs", "rm", "20260101", "--runs-dir", str(tmp_path)),
        2,
        "not removing 1 run without confirmation: pass --yes",
    )
    assert run.record_file.is_file()


@pytest.mark.parametrize(("answer", "removed"), [("n", False), ("y", True)])
def test_rm_on_a_terminal_asks_first(tmp_path: Path, answer: str, removed: bool) -> None:
    run = make_run(tmp_path, "20260101-000000-demo-aaaa")
    controller, terminal = pty.openpty()
    try:
        os.write(controller, f"{answer}\n".encode())
        proc = subprocess.run(
            [sys.executable, "-m", "mlspec", "runs", "rm", "20260101", "--runs-dir", str(tmp_path)],
            stdin=terminal,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert "remove 1 run?" in proc.stderr and run.run_id in proc.stderr, proc.stderr
    assert run.path.exists() is not removed
    if removed:
        assert proc.returncode == 0 and proc.stdout.splitlines()[-1] == "removed 1 run", proc.stdout
    else:
        assert proc.returncode == 1 and "Traceback" not in proc.stderr


def test_rm_refuses_a_run_whose_coordinator_is_alive(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    run = make_run(
        tmp_path,
        "20260101-000000-demo-aaaa",
        status="running",
        coordinator_pid=sleeper.pid,
        host={"name": platform.node()},
    )
    one_line_error(
        cli("runs", "rm", run.run_id, "--yes", "--runs-dir", str(tmp_path)),
        2,
        f"still running (coordinator pid {sleeper.pid}",
    )
    assert run.record_file.is_file()
    sleeper.kill()
    sleeper.wait()
    removed = cli("runs", "rm", run.run_id, "--yes", "--runs-dir", str(tmp_path))
    assert removed.exit_code == 0 and not run.path.exists(), removed.stderr


def test_rm_removes_what_the_run_stored_in_a_custom_object_store_root(tmp_path: Path) -> None:
    objects = tmp_path / "objects"
    spec = tmp_path / "km.yaml"
    spec.write_text(TINY_KMEANS + f"storage:\n  object_store: {{kind: local, root: '{objects}'}}\n")
    runs = tmp_path / "runs"
    ran = cli("run", str(spec), "--runs-dir", str(runs))
    assert ran.exit_code == 0, ran.stderr
    (run_id,) = [p.name for p in runs.iterdir() if not p.name.startswith(".")]
    stored = objects / run_id
    assert any(stored.rglob("*")), "the run stored nothing in its custom object store root"
    (objects / "another-run").mkdir()
    removed = cli("runs", "rm", run_id, "--yes", "--runs-dir", str(runs))
    assert removed.exit_code == 0, removed.stderr
    assert f"removed {run_id} and {stored}" in removed.stdout
    assert not (runs / run_id).exists() and not stored.exists() and (objects / "another-run").is_dir()


def test_rm_removes_the_run_objects_from_an_s3_store_and_nothing_else(tmp_path: Path, s3_endpoint: str) -> None:
    import boto3

    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket="rm-runs")
    s3.put_object(Bucket="rm-runs", Key="team/another-run/model.npz", Body=b"kept")
    spec = tmp_path / "km.yaml"
    spec.write_text(
        TINY_KMEANS + "storage:\n  object_store: {kind: s3, bucket: rm-runs, prefix: team, "
        f"endpoint_url: '{s3_endpoint}'}}\n"
    )
    runs = tmp_path / "runs"
    ran = cli("run", str(spec), "--runs-dir", str(runs))
    assert ran.exit_code == 0, ran.stderr
    (run_id,) = [p.name for p in runs.iterdir() if not p.name.startswith(".")]

    def keys(prefix: str) -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket="rm-runs", Prefix=prefix).get("Contents", [])]

    stored = keys(f"team/{run_id}/")
    assert stored, "the run stored nothing in S3"
    removed = cli("runs", "rm", run_id, "--yes", "--runs-dir", str(runs))
    assert removed.exit_code == 0, removed.stderr
    assert f"removed {len(stored)} objects of {run_id} from its s3 store" in removed.stdout
    assert keys(f"team/{run_id}/") == [] and keys("team/another-run/") == ["team/another-run/model.npz"]
    assert not (runs / run_id).exists()


def test_rm_refuses_links_and_never_follows_them(tmp_path: Path) -> None:
    elsewhere = make_run(tmp_path / "elsewhere", "20260101-000000-demo-aaaa")
    documents = tmp_path / "Documents"
    documents.mkdir()
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "20260202-000000-demo-link").symlink_to(elsewhere.path)
    (runs / "docs").symlink_to(documents)
    for name in ("20260202-000000-demo-link", "20260202", "docs"):
        one_line_error(cli("runs", "rm", name, "--yes", "--runs-dir", str(runs)), 2, "is a symbolic link, not a run")
    assert elsewhere.record_file.is_file() and documents.is_dir()
    assert (runs / "20260202-000000-demo-link").is_symlink() and (runs / "docs").is_symlink()


def test_a_corrupt_record_is_removed_only_when_named_in_full(tmp_path: Path) -> None:
    run = make_run(tmp_path, "20260101-000000-demo-aaaa")
    run.record_file.write_text("{not json")
    one_line_error(cli("runs", "rm", "2026", "--yes", "--runs-dir", str(tmp_path)), 2, "name it in full")
    assert run.path.exists()
    assert cli("runs", "rm", run.run_id, "--yes", "--runs-dir", str(tmp_path)).exit_code == 0
    assert not run.path.exists()


# ---------------------------------------------------------------- item 2: one-line errors, exit 2


@pytest.mark.parametrize("command", [["list"], ["show", "x"], ["rm", "x", "--yes"]])
def test_runs_dirs_that_cannot_be_read_are_one_line_errors(tmp_path: Path, command: list[str]) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    for runs_dir, message in (
        (Path("/proc/nonexist"), "there is no runs directory /proc/nonexist"),
        (tmp_path / "missing", "there is no runs directory"),
        (a_file / "runs", "Not a directory"),
        (tmp_path / ("x" * 300), "File name too long"),
    ):
        one_line_error(cli("runs", *command, "--runs-dir", str(runs_dir)), 2, message)


def test_a_run_id_collision_is_a_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = tmp_path / "km.yaml"
    spec.write_text(TINY_KMEANS)
    runs = tmp_path / "runs"
    taken = make_run(runs, "20260101-000000-tinykm-aaaa")
    before = taken.record_file.read_bytes()
    monkeypatch.setattr("mlspec.executors.coordinator.new_run_id", lambda name: "20260101-000000-tinykm-aaaa")
    one_line_error(cli("run", str(spec), "--runs-dir", str(runs)), 2, "run id 20260101-000000-tinykm-aaaa is taken")
    assert taken.record_file.read_bytes() == before
    one_line_error(
        cli("run", str(spec), "--runs-dir", str(tmp_path / "km.yaml" / "runs")), 2, "cannot create the runs directory"
    )


# ---------------------------------------------------------------- item 3: one status for list and show


def test_list_and_show_agree_on_a_killed_coordinator(tmp_path: Path, sleeper: subprocess.Popen[bytes]) -> None:
    run = make_run(
        tmp_path,
        "20260101-000000-demo-aaaa",
        status="running",
        coordinator_pid=sleeper.pid,
        host={"name": platform.node()},
    )
    assert '"status": "running"' in cli("runs", "show", run.run_id, "--runs-dir", str(tmp_path)).stdout
    sleeper.send_signal(signal.SIGKILL)
    sleeper.wait()
    listed = cli("runs", "list", "--runs-dir", str(tmp_path))
    shown = cli("runs", "show", run.run_id, "--runs-dir", str(tmp_path))
    assert "failed" in listed.stdout and "coordinator process is gone" in listed.stdout
    assert '"status": "failed"' in shown.stdout and "coordinator process is gone" in shown.stdout


# ---------------------------------------------------------------- item 4: a full disk while saving the record

# The record store's low-level write fails with ENOSPC from its Nth call on; every call is logged.
_FULL_DISK = """\
import errno, os, sys
import mlspec.records.store as store
write_all, calls, log = store.write_all, [0], open(sys.argv[1], "a")
def full_disk(fd, data):
    calls[0] += 1
    log.write("write\\n"); log.flush()
    if calls[0] >= int(sys.argv[2]):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    write_all(fd, data)
store.write_all = full_disk
from mlspec.cli import main
main(sys.argv[3:], prog_name="mlspec")
"""


@pytest.mark.parametrize("failing_save", [1, 3])
def test_enospc_injected_into_the_record_writer_marks_the_run_failed(tmp_path: Path, failing_save: int) -> None:
    spec = tmp_path / "km.yaml"
    spec.write_text(TINY_KMEANS)
    runs, log = tmp_path / "runs", tmp_path / "writes.log"
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK, str(log), str(failing_save), "run", str(spec), "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    (run_dir,) = [p for p in runs.iterdir() if not p.name.startswith(".")]  # .cache: the stage cache
    error = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and error.startswith(f"error: run {run_dir.name} stopped"), proc.stderr
    assert str(run_dir) in error and "No space left on device" in error and "internal error" not in proc.stderr
    assert log.read_text().count("write") == failing_save  # the failed save is not retried
    assert not [p.name for p in run_dir.iterdir() if p.name.startswith(TEMPORARY_PREFIX)]
    listed = cli("runs", "list", "--runs-dir", str(runs))
    assert "failed" in listed.stdout and "No space left on device" in listed.stdout
    assert "coordinator" not in listed.stdout
    shown = cli("runs", "show", run_dir.name, "--runs-dir", str(runs))
    assert '"status": "failed"' in shown.stdout and "No space left on device" in shown.stdout
