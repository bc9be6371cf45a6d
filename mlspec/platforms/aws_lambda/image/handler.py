"""AWS Lambda shim: awslambdaric calls `handler(event, context)` for every invocation.

The static part of this function's event (function.json, written by `mlspec build`) fills in
whatever the invocation event leaves out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlspec.runtime import invoke
from mlspec.runtime.context import Context

_STATIC = Path(__file__).with_name("function.json")


def _event(incoming: dict[str, Any]) -> dict[str, Any]:
    static = json.loads(_STATIC.read_text())["event"] if _STATIC.is_file() else {}
    return {**static, **incoming}


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    limit_ms = context.get_remaining_time_in_millis() if hasattr(context, "get_remaining_time_in_millis") else None
    return invoke(_event(event), Context(time_limit_s=limit_ms / 1000 if limit_ms else None))
