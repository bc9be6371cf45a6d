"""The local shim: one invocation in this OS process. Reads the event as JSON on stdin and writes
JSON lines to the original stdout: progress messages, then one result or error. Anything else the
function prints goes to stderr, so it cannot corrupt the protocol."""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from typing import IO, Any

# The executor that started this process puts its pid here; when that process dies, so does this one.
PARENT_PID_ENV = "MLSPEC_PARENT_PID"
PARENT_POLL_S = 0.5


def _emit(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=float) + "\n")
    channel.flush()


def _exit_with_parent(parent: int) -> None:
    """Ends this invocation (its whole process group when it leads one, as the executor starts it) once
    its parent is gone: a coordinator killed with SIGKILL cannot stop its workers itself, and a worker
    left running would hold its memory until its time limit."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(1)


def main() -> int:
    if os.environ.get(PARENT_PID_ENV):
        parent = int(os.environ[PARENT_PID_ENV])
        threading.Thread(target=_exit_with_parent, args=(parent,), name="parent-watch", daemon=True).start()
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
