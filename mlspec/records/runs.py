"""Reading the run store, tolerant of concurrent writers and of crashed runs: a record that is
missing, unreadable or invalid is listed as failed with the reason, never raised."""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from mlspec.errors import UsageError
from mlspec.records.model import RunRecord
from mlspec.redaction import redact


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    path: Path
    record: RunRecord | None
    problem: str | None  # why the record could not be read

    @property
    def status(self) -> str:
        if self.record is None or self.problem is not None:
            return "failed"
        return self.record.status

    @property
    def started_at(self) -> float:
        if self.record is not None:
            return self.record.started_at
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0


def read_entry(path: Path) -> RunEntry:
    record_file = path / "record.json"
    try:
        text = record_file.read_text()
    except FileNotFoundError:
        return RunEntry(path.name, path, None, "no record.json (the run crashed before its first save)")
    except OSError as exc:
        return RunEntry(path.name, path, None, f"record.json unreadable: {exc.strerror}")
    try:
        record = RunRecord.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        reason = first["msg"] if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
        return RunEntry(path.name, path, None, f"record.json is corrupt ({reason})")
    if _orphaned(record):
        return RunEntry(path.name, path, record, "its coordinator process is gone: crashed or killed mid-run")
    return RunEntry(path.name, path, record, None)


def _orphaned(record: RunRecord) -> bool:
    """Still marked running, but its coordinator process on this host no longer exists."""
    if record.status != "running" or record.coordinator_pid is None or record.host.get("name") != platform.node():
        return False
    try:
        os.kill(record.coordinator_pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def list_runs(root: Path) -> list[RunEntry]:
    """Every run under root, oldest first."""
    if not root.is_dir():
        return []
    entries = [read_entry(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(entries, key=lambda e: (e.started_at, e.run_id))


def find_run(root: Path, run_id: str) -> RunEntry:
    """A run by id or unique id prefix; UsageError (exit 2) when unknown or ambiguous."""
    runs = list_runs(root)
    exact = [e for e in runs if e.run_id == run_id]
    matches = exact or [e for e in runs if e.run_id.startswith(run_id)]
    if not matches:
        known = ", ".join(e.run_id for e in runs[-3:]) or "none yet"
        raise UsageError(f"unknown run {run_id!r} in {root} (latest: {known})")
    if len(matches) > 1:
        raise UsageError(f"run id {run_id!r} is ambiguous: {', '.join(e.run_id for e in matches[:5])}")
    return matches[0]


def remove_run(entry: RunEntry) -> None:
    shutil.rmtree(entry.path)


def record_json(entry: RunEntry) -> str:
    if entry.record is None:
        return json.dumps({"run_id": entry.run_id, "status": "failed", "problem": entry.problem}, indent=2)
    return redact(entry.record.model_dump_json(indent=2))  # also records written before redaction
