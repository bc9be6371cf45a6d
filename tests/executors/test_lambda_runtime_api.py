"""The Lambda Runtime API emulator against AWS's own runtime interface client (awslambdaric) run on
the host: results, errors, a failed start and the time limit the function sees, as on Lambda."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlspec.platforms.aws_lambda.runtime_api import API_PREFIX, RuntimeApiEmulator
from tests.conftest import wait_until

pytest.importorskip("awslambdaric")

HANDLER = """\
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail: " + event["fail"])
    return {"doubled": event["n"] * 2, "left_ms": context.get_remaining_time_in_millis(),
            "memory": context.memory_limit_in_mb, "name": context.function_name}
"""


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[tuple[RuntimeApiEmulator, Path]]:
    (tmp_path / "fn.py").write_text(HANDLER)
    with RuntimeApiEmulator("doubler", memory_mb=512, timeout_s=30) as api:
        yield api, tmp_path


def _start(api: RuntimeApiEmulator, directory: Path, handler: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "awslambdaric", handler],
        cwd=directory,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(directory), **api.environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_results_and_errors_come_back_through_the_runtime_api(runtime: tuple[RuntimeApiEmulator, Path]) -> None:
    api, directory = runtime
    process = _start(api, directory, "fn.handler")
    try:
        first = api.invoke({"n": 21})
        second = api.invoke({"n": 2})  # the same warm runtime takes the next event
        failed = api.invoke({"fail": "on purpose"})
    finally:
        process.kill()
        process.wait()
    assert first.error is None and first.result is not None
    assert first.result["doubled"] == 42
    assert second.result is not None and second.result["doubled"] == 4
    assert first.result["memory"] == "512" and first.result["name"] == "doubler"
    # The deadline header gives the function the time limit it would have on Lambda.
    assert 0 < first.result["left_ms"] <= 30_000
    assert failed.result is None and failed.error is not None
    assert failed.error["errorType"] == "ValueError" and "asked to fail: on purpose" in failed.error["errorMessage"]


def test_a_handler_that_cannot_be_loaded_is_an_init_error(runtime: tuple[RuntimeApiEmulator, Path]) -> None:
    api, directory = runtime
    process = _start(api, directory, "no_such_module.handler")
    try:
        outcome = api.invoke({"n": 1})
    finally:
        process.kill()
        process.wait()
    assert outcome.request_id == "init" and outcome.error is not None
    assert "no_such_module" in outcome.error["errorMessage"]


def test_no_runtime_means_a_timeout_at_the_function_limit() -> None:
    with RuntimeApiEmulator("nobody", memory_mb=128, timeout_s=30) as api, pytest.raises(TimeoutError):
        api.invoke({"n": 1}, wait_s=0.5)


def test_a_runtime_gone_mid_poll_leaves_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    # A container stopped while its `next` poll waits: the emulator answers a closed socket on closing.
    def serving() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if "process_request_thread" in t.name]

    with RuntimeApiEmulator("gone", memory_mb=128, timeout_s=30) as api:
        runtime = socket.create_connection(("127.0.0.1", int(api.address.rsplit(":", 1)[1])))
        runtime.sendall(f"GET {API_PREFIX}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        [poll] = wait_until(serving, 30, "the emulator to take the poll")
        # Reset, not closed: the emulator's answer then fails as a vanished container's would.
        runtime.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        runtime.close()
    poll.join(30)
    assert not poll.is_alive()
    assert "Traceback" not in capfd.readouterr().err
