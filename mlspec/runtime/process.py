"""The local shim: one invocation in this OS process. Reads the event as JSON on stdin and writes
JSON lines to the original stdout: progress messages, then one result or error. Anything else the
function prints goes to stderr, so it cannot corrupt the protocol."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import IO, Any

from mlspec.errors import UserCodeError
from mlspec.runtime import invoke, load_function
from mlspec.runtime.context import Context

# The executor that started this process puts its pid here; when that process dies, so does this one.
PARENT_PID_ENV = "MLSPEC_PARENT_PID"
PARENT_POLL_S = 0.5


def _emit(channel: IO[str], message: dict[str, Any]) -> None:
    channel.write(json.dumps(message, default=float) + "\n")
    channel.flush()


def process_alive(pid: int) -> bool:
    """Whether pid is running (a zombie, ended but not yet reaped, counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def cpu_seconds(pid: int) -> float | None:
    """CPU seconds process pid has used, all its threads together (its CPU-time clock, in ns steps); None once
    it is gone."""
    clock = ((~pid) << 3) | 2  # Linux's clock id for a process's CPU time: MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    try:
        return time.clock_gettime(clock)
    except OSError:
        return None


def exit_with(pid: int) -> None:
    """Ends this invocation once process pid, the coordinator that started it, is gone: one killed with
    SIGKILL cannot stop its invocations itself, and one left running would hold its memory until its
    time limit. The executors start each invocation in a process group of its own (Lithops' localhost
    backend too: its task process and the call it forks), and the whole group goes."""

    def watch() -> None:
        while process_alive(pid):
            time.sleep(PARENT_POLL_S)
        if os.getpgrp() != coordinator_group:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(1)

    coordinator_group = -1
    with contextlib.suppress(OSError):
        coordinator_group = os.getpgid(pid)
    threading.Thread(target=watch, name="coordinator-watch", daemon=True).start()


def main() -> int:
    if os.environ.get(PARENT_PID_ENV):
        exit_with(int(os.environ[PARENT_PID_ENV]))
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    event = json.loads(sys.stdin.read())
    context = Context(
        report=lambda p: _emit(channel, {"type": "progress", "progress": p}), time_limit_s=event.get("time_limit_s")
    )
    try:
        load_function(event.get("function"))
        # The executor measures the cold start as the time from spawning this process to here.
        _emit(channel, {"type": "ready", "at": time.time(), "cores": sorted(os.sched_getaffinity(0))})
        result = invoke(event, context)
    except Exception as exc:
        # The user's own frames when their code failed (a model brought by import path: none of mlspec's, and
        # only the message when mlspec found the fault, e.g. a wrong output shape), else the whole trace; also
        # into the invocation's log.
        error = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, UserCodeError):  # noqa: SIM108 - mypy narrows exc only in a statement
            trace = exc.user_traceback or f"{error}\n"
        else:
            trace = traceback.format_exc(limit=20)
        print(trace, file=sys.stderr, flush=True)
        _emit(channel, {"type": "error", "error": error, "traceback": trace, "io": context.io_summary()})
        return 1
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _emit(channel, {"type": "result", "result": result, "peak_rss_mb": peak_kb / 1024})
    return 0


if __name__ == "__main__":
    sys.exit(main())
