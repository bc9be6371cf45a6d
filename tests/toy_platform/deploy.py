"""Deploying to the toy cloud: the functions go into its state file (the fake cloud), with the calls
planned, printed and made through mlspec's deployer contract like a real cloud's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlspec.deploy.base import ApiCall, Deployment, changes

SERVICE = "toy.Functions"


def read_state(path: Path) -> dict[str, dict[str, Any]]:
    """Deployed function name -> its settings."""
    return json.loads(path.read_text()) if path.exists() else {}


class ToyCloudDeployer:
    target = "toy-cloud"

    def __init__(self, settings: dict[str, Any]) -> None:
        self.pushed: dict[str, str] = {}
        self.state_path = Path(settings["state"])
        self.assume_empty = False

    def _state(self) -> dict[str, dict[str, Any]]:
        return {} if self.assume_empty else read_state(self.state_path)

    def plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        state = self._state()
        calls = []
        for f in deployment.functions:
            desired = {
                "image": f.image,
                "memory_mb": f.memory_mb,
                "timeout_s": f.timeout_s,
                "concurrency": f.concurrency,
            }
            if f.name not in state:
                calls.append(ApiCall(SERVICE, "create_function", {"name": f.name, **desired}, "missing"))
            elif differ := changes(state[f.name], desired):
                calls.append(ApiCall(SERVICE, "update_function", {"name": f.name, **desired}, ", ".join(differ)))
        return calls

    def for_dry_run(self) -> None:
        """Reading a local file needs no timeouts."""

    def assume_nothing_deployed(self) -> None:
        self.assume_empty = True

    def apply(self, calls: list[ApiCall]) -> None:
        state = read_state(self.state_path)
        for call in calls:
            params = dict(call.params)
            name = params.pop("name")
            if call.operation == "delete_function":
                state.pop(name, None)
            else:
                state[name] = params
        self.state_path.write_text(json.dumps(state, indent=2, sort_keys=True))

    def destroy_calls(self, deployment: Deployment) -> list[ApiCall]:
        state = self._state()
        return [
            ApiCall(SERVICE, "delete_function", {"name": f.name}, "exists")
            for f in deployment.functions
            if f.name in state
        ]

    def missing_functions(self, deployment: Deployment) -> list[str]:
        state = self._state()
        return [f.name for f in deployment.functions if f.name not in state]
