"""Does nothing, or spins the CPU for `spin_cpu_s` CPU seconds: measures an executor's invocation overhead
and the CPU share it gives a function."""

from __future__ import annotations

import time
from typing import Any

from mlspec.runtime.context import Context


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    spin_until = time.process_time() + float(event.get("spin_cpu_s") or 0)
    while time.process_time() < spin_until:
        pass
    return {"echo": event.get("payload")}
