"""Does nothing: measures the invocation overhead of an executor."""

from __future__ import annotations

from typing import Any

from mlspec.runtime.context import Context


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    return {"echo": event.get("payload")}
