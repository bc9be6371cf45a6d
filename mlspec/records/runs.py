"""Reading the run store, tolerant of concurrent writers and of crashed runs: a record that is
missing, unreadable or invalid is listed as failed with the reason, never raised.

Only a directory holding a record (or the marker of a record that could not be saved) is a run: any
other entry of the runs directory is never listed, matched or removed."""

from __future__ import annotations

import json
import os
import platform
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlspec.errors import MlspecError, UsageError
from mlspec.records.model import RunRecord
from mlspec.records.store import FAILED_MARKER, RECORD_FILE, RunDir
from mlspec.redaction import redact
from mlspec.storage import is_local_store, open_object_store


@dataclass(frozen=True)
class RunEntry:
    run_id: str
    path: Path
    record: RunRecord | None
    problem: str | None  # why the run failed though its record does not say so, or why it cannot be read

    @property
    def status(self) -> str:
        """The run's status, for every command that shows one."""
        if self.record is None or self.problem is not None:
            return "failed"
        return self.record.status

    @property
    def is_profile(self) -> bool:
        return self.record is not None and self.record.purpose == "profile"

    @property
    def started_at(self) -> float:
        if self.record is not None:
            return self.record.started_at
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0


def read_entry(path: Path) -> RunEntry:
    record_file = path / RECORD_FILE
    marker = _failed_marker(path)
    try:
        text = record_file.read_text()
    except FileNotFoundError:
        return RunEntry(path.name, path, None, marker or "record.json vanished (removed while being read)")
    except OSError as exc:
        return RunEntry(path.name, path, None, f"record.json unreadable: {exc.strerror}")
    try:
        record = RunRecord.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        reason = first["msg"] if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
        return RunEntry(path.name, path, None, f"record.json is corrupt ({reason})")
    if marker is not None:
        return RunEntry(path.name, path, record, marker)
    if _orphaned(record):
        return RunEntry(path.name, path, record, "its coordinator process is gone: crashed or killed mid-run")
    return RunEntry(path.name, path, record, None)


def _failed_marker(path: Path) -> str | None:
    """Why the run's record could not be saved, when `RunDir.save` left its marker."""
    try:
        cause = (path / FAILED_MARKER).read_text().strip()
    except FileNotFoundError:
        return None
    except OSError:
        cause = ""
    return cause or "its record could not be saved (a full or unwritable disk)"


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


def _is_run(path: Path) -> bool:
    if path.name.startswith("."):
        return False
    try:
        return path.is_dir() and ((path / RECORD_FILE).is_file() or (path / FAILED_MARKER).is_file())
    except OSError:  # an entry this user may not look into is no run of theirs
        return False


def list_runs(root: Path, profiles: bool = False, must_exist: bool = False) -> list[RunEntry]:
    """Every run under root, oldest first; profiling runs (`plan --profile`) only with `profiles`. None when
    root does not exist, unless `must_exist`; UsageError (exit 2) when root cannot be read."""
    try:
        runs = [p for p in sorted(root.iterdir()) if _is_run(p)]
    except FileNotFoundError:
        if must_exist:
            raise UsageError(f"there is no runs directory {root} (`mlspec run PIPELINE.yaml` makes one)") from None
        return []
    except OSError as exc:
        raise UsageError(f"cannot read the runs directory {root}: {exc.strerror}") from None
    entries = [read_entry(p) for p in runs]
    return sorted((e for e in entries if profiles or not e.is_profile), key=lambda e: (e.started_at, e.run_id))


def find_run(root: Path, run_id: str) -> RunEntry:
    """A run by id or unique, non-empty id prefix; UsageError (exit 2) when unknown or ambiguous."""
    if not run_id.strip():
        raise UsageError("a run id (or a prefix of one) cannot be empty")
    runs = list_runs(root, profiles=True, must_exist=True)
    exact = [e for e in runs if e.run_id == run_id]
    matches = exact or [e for e in runs if e.run_id.startswith(run_id)]
    if not matches:
        known = ", ".join(e.run_id for e in runs[-3:]) or "none yet"
        raise UsageError(f"unknown run {run_id!r} in {root} (latest: {known})")
    if len(matches) > 1:
        raise UsageError(f"run id {run_id!r} is ambiguous: {', '.join(e.run_id for e in matches[:5])}")
    return matches[0]


def removable(root: Path, run_id: str) -> tuple[RunEntry, list[Path]]:
    """The run `run_id` names and every directory it stored things in, or UsageError (exit 2) saying why it
    must not be removed: a link, a record that cannot be read named by a prefix, a run still in progress."""
    if Path(run_id).name == run_id:  # a link that points at no run is no entry, but still named here
        _refuse_link(root / run_id)
    entry = find_run(root, run_id)
    _refuse_link(entry.path)
    if entry.record is None and entry.run_id != run_id:
        raise UsageError(f"the record of {entry.run_id} cannot be read ({entry.problem}): name it in full to remove it")
    if entry.record is not None and entry.status == "running":
        raise UsageError(
            f"run {entry.run_id} is still running (coordinator pid {entry.record.coordinator_pid} on "
            f"host {entry.record.host.get('name', '?')}): stop it first"
        )
    return entry, [entry.path, *_stored_elsewhere(entry)]


def _refuse_link(path: Path) -> None:
    if os.path.islink(path):
        raise UsageError(f"{path} is a symbolic link, not a run: not following it (remove the link itself)")


def _object_store(entry: RunEntry) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The spec's object store config and that config narrowed to this run; None without a readable record."""
    if entry.record is None or entry.record.run_id != entry.run_id:
        return None
    objects = (entry.record.spec.get("storage") or {}).get("object_store") or {}
    return objects, RunDir(entry.path.parent, entry.run_id).object_store(objects)


def _stored_elsewhere(entry: RunEntry) -> list[Path]:
    """The run's objects in a local object store whose root the spec set outside the run directory."""
    found = _object_store(entry)
    if found is None or not is_local_store(found[0]) or not found[0].get("root"):
        return []
    path = Path(found[1]["root"])
    return [path] if path.is_dir() and not path.is_symlink() else []


def remote_objects(entry: RunEntry) -> dict[str, Any] | None:
    """The config of the run's namespace in an object store that is not a local directory (S3, GCS, ...)."""
    found = _object_store(entry)
    if found is None or is_local_store(found[0]):
        return None
    return found[1]


def remove_remote_objects(config: dict[str, Any]) -> int:
    """Delete the run's objects from its remote object store; how many there were."""
    try:
        return open_object_store(config).delete_prefix("")
    except Exception as exc:  # any client error: the caller reports it and keeps the record
        raise MlspecError(
            f"cannot remove the run's objects from its {config['kind']} store: {type(exc).__name__}: {exc}"
        ) from None


def remove_run(paths: list[Path]) -> None:
    """Remove what `removable` found, the run directory last: its record keeps pointing at what is left."""
    for path in reversed(paths):
        try:
            shutil.rmtree(path)
        except OSError as exc:
            raise MlspecError(f"cannot remove {exc.filename or path}: {exc.strerror}") from None


def record_json(entry: RunEntry) -> str:
    """The record as JSON, with the status `RunEntry.status` decides and the problem when there is one."""
    if entry.record is None:
        return json.dumps({"run_id": entry.run_id, "status": "failed", "problem": entry.problem}, indent=2)
    data = entry.record.model_dump(mode="json")
    data["status"] = entry.status
    if entry.problem is not None:
        data["problem"] = entry.problem
    return redact(json.dumps(data, indent=2))  # also records written before redaction
