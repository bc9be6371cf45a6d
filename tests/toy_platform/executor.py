"""Running on the toy cloud: each invocation must reach a deployed function (the state file says so),
then runs as an OS process through mlspec's local shim, as a real platform would run the image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlspec.errors import UsageError
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback
from mlspec.executors.local import LocalProcessExecutor
from tests.toy_platform.deploy import read_state


class ToyCloudExecutor(LocalProcessExecutor):
    name = "toy-cloud"

    def __init__(self, log_dir: Path, options: dict[str, Any]) -> None:
        super().__init__(log_dir, target="toy-cloud")
        self.functions: dict[str, str] = dict(options["functions"])
        self.state_path = Path(options["state"])

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        deployed = read_state(self.state_path)
        gone = sorted({self.functions[i.stage] for i in invocations} - set(deployed))
        if gone:
            raise UsageError(f"toy-cloud: not deployed: {', '.join(gone)}")
        return super().run_group(invocations, limits, on_progress)
