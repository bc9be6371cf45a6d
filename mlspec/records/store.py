"""The run store: `.mlspec/runs/<run-id>/` with `record.json` (rewritten atomically as the run
progresses, so a crash leaves the last consistent state), the resolved spec, logs and the stores."""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path

from mlspec.records.model import RunRecord
from mlspec.redaction import redact_data

DEFAULT_ROOT = Path(".mlspec") / "runs"


def new_run_id(name: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{name}-{secrets.token_hex(2)}"


class RunDir:
    def __init__(self, root: Path, run_id: str) -> None:
        self.path = root / run_id
        self.run_id = run_id

    @property
    def record_file(self) -> Path:
        return self.path / "record.json"

    @property
    def objects(self) -> Path:
        return self.path / "objects"

    @property
    def params(self) -> Path:
        return self.path / "params"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=False)
        self.logs.mkdir()

    def save(self, record: RunRecord) -> None:
        # Through JSON and back so that floats pydantic writes as null (nan, inf) stay valid JSON.
        data = json.dumps(redact_data(json.loads(record.model_dump_json())), indent=1).encode()
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".record-")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, self.record_file)

    def write_spec(self, spec: dict[str, object]) -> None:
        (self.path / "spec.json").write_text(json.dumps(redact_data(spec), indent=1))
