"""The run store: `.mlspec/runs/<run-id>/` with `record.json` (rewritten atomically as the run
progresses, so a crash leaves the last consistent state), the resolved spec, logs and the stores."""

from __future__ import annotations

import contextlib
import json
import secrets
import time
from pathlib import Path
from typing import Any

from mlspec.errors import MlspecError, UsageError
from mlspec.files import write_all, write_atomically
from mlspec.records.model import RunRecord
from mlspec.redaction import redact_data
from mlspec.storage import is_local_store

DEFAULT_ROOT = Path(".mlspec") / "runs"
RECORD_FILE = "record.json"
# Left beside the record when it could not be saved (a full disk): the run failed, whatever record.json says.
FAILED_MARKER = "record.failed"
CACHE_DIR = ".cache"  # a dot name: never listed as a run


def cache_store(runs_root: Path, spec_store: dict[str, Any]) -> dict[str, Any]:
    """The spec's object store config narrowed to the stage cache, shared by every run using that store:
    `.cache` beside the runs (a local store without a root), else under the store's root or prefix."""
    store = dict(spec_store)
    if is_local_store(store):
        store["root"] = str(Path(store["root"]) / CACHE_DIR if store.get("root") else runs_root / CACHE_DIR)
    else:
        store["prefix"] = f"{store.get('prefix', '')}/{CACHE_DIR}"
    return store


def new_run_id(name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


class RecordNotSaved(MlspecError):
    """The run record could not be written (e.g. a full disk): the run cannot go on unrecorded."""


class RunDir:
    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / run_id
        self.run_id = run_id

    @property
    def record_file(self) -> Path:
        return self.path / RECORD_FILE

    @property
    def failed_marker(self) -> Path:
        return self.path / FAILED_MARKER

    @property
    def objects(self) -> Path:
        return self.path / "objects"

    @property
    def params(self) -> Path:
        return self.path / "params"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def local_objects(self, root: str | None) -> Path:
        """Where a local object store keeps this run's objects: `root/<run-id>` when the spec sets a root."""
        return Path(root) / self.run_id if root else self.objects

    def object_store(self, spec_store: dict[str, Any]) -> dict[str, Any]:
        """The spec's object store config narrowed to this run's namespace: its own directory, or prefix."""
        store = dict(spec_store)
        if is_local_store(store):
            store["root"] = str(self.local_objects(store.get("root")))
        else:
            store["prefix"] = f"{store.get('prefix', '')}/{self.run_id}"
        return store

    def create(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot create the runs directory {self.path.parent}: {exc.strerror}") from None
        try:
            self.path.mkdir()
        except FileExistsError:
            raise UsageError(f"run id {self.run_id} is taken ({self.path} exists): start the run again") from None
        except OSError as exc:
            raise UsageError(f"cannot create the run directory {self.path}: {exc.strerror}") from None
        self.logs.mkdir()

    def save(self, record: RunRecord) -> None:
        """Replace the record atomically. When that fails, the temporary file goes, the run is marked
        failed with the cause, and RecordNotSaved says what happened and where; nothing is retried
        (a full disk stays full)."""
        # Through JSON and back so that floats pydantic writes as null (nan, inf) stay valid JSON.
        data = json.dumps(redact_data(json.loads(record.model_dump_json())), indent=1).encode()
        try:
            write_atomically(self.record_file, data, writer=write_all)
        except OSError as exc:
            cause = f"its record could not be saved in {self.path}: {exc.strerror or exc}"
            self._mark_failed(cause)
            raise RecordNotSaved(f"run {self.run_id} stopped: {cause}") from None

    def _mark_failed(self, cause: str) -> None:
        """Best effort on a full disk: the cause if a few bytes still fit, else an empty marker (a name only)."""
        try:
            self.failed_marker.write_text(cause)
        except OSError:
            with contextlib.suppress(OSError):  # the error `save` raises still says what happened
                self.failed_marker.touch()

    def write_spec(self, spec: dict[str, object]) -> None:
        # A validated spec holds only finite numbers: anything else is a bug, shown before the run starts.
        (self.path / "spec.json").write_text(json.dumps(redact_data(spec), indent=1, allow_nan=False))
