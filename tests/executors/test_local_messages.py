"""The local executor takes every message an ended invocation wrote, however late the thread reading them runs
(under load it waits for the GIL, and the process may be reaped first)."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import IO, Any

import pytest

from mlspec.executors import local
from mlspec.executors.base import Invocation, Limits
from mlspec.executors.local import LocalProcessExecutor


def test_a_result_read_after_the_process_was_reaped_still_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_lines = local._read_lines
    reaped = threading.Event()

    def late(inv_id: str, stream: IO[str], messages: queue.Queue[Any]) -> None:
        lines = stream.read()  # everything the process wrote, up to its end
        reaped.wait(30)  # handed over only once the executor has seen the process end, and a while after
        time.sleep(0.5)
        read_lines(inv_id, iter(lines.splitlines(keepends=True)), messages)  # type: ignore[arg-type]

    exited = LocalProcessExecutor._exited
    monkeypatch.setattr(local, "_read_lines", late)
    monkeypatch.setattr(LocalProcessExecutor, "_exited", lambda self, run: (exited(self, run), reaped.set()))
    noop = Invocation("s.noop", "s", "noop", None, {"function": "noop"})
    [outcome] = LocalProcessExecutor(tmp_path).run_group([noop], Limits(512, 120), lambda i, p: None)
    assert outcome.record.status == "ok", outcome.record.error
    assert outcome.result is not None
