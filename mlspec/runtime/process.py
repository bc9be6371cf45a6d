"""The local shim: one invocation in this OS process. Reads the event as JSON on stdin and writes
JSON lines to the original stdout: progress messages, then one result or error. Anything else the
function prints goes to stderr, so it cannot corrupt the protocol."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from typing import IO, Any


def _emit(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=float) + "\n")
    channel.flush()


def main() -> int:
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    event = json.loads(sys.stdin.read())
    from mlspec.runtime import invoke, load_function
    from mlspec.runtime.context import Context

    context = Context(report=lambda p: _emit(channel, {"type": "progress", "progress": p}),
                      time_limit_s=event.get("time_limit_s"))
    try:
        load_function(event.get("function"))
        # The executor measures the cold start as the time from spawning this process to here.
        _emit(channel, {"type": "ready", "at": time.time()})
        result = invoke(event, context)
    except Exception as exc:
        _emit(channel, {"type": "error", "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=20), "io": context.io_summary()})
        return 1
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _emit(channel, {"type": "result", "result": result, "peak_rss_mb": peak_kb / 1024})
    return 0


if __name__ == "__main__":
    sys.exit(main())
