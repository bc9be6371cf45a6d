"""Each platform's handler shim, run the way its platform runs it, gives what `invoke(event)` gives."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mlspec.runtime import invoke
from tests.compile.conftest import NOOP_EVENT


def _expected() -> dict[str, Any]:
    return invoke(dict(NOOP_EVENT))


def _env(context_dir: Path, **extra: str) -> dict[str, str]:
    """The context's own copy of mlspec first on the path, as in the image."""
    return {**os.environ, "PYTHONPATH": str(context_dir), "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_local_shim_runs_the_event_from_stdin(context_dirs: dict[str, Path]) -> None:
    context = context_dirs["local"]
    done = subprocess.run(
        [sys.executable, "-m", "mlspec.runtime.process"],
        cwd=context,
        env=_env(context),
        input=json.dumps(NOOP_EVENT),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines()]
    result = next(m for m in messages if m["type"] == "result")["result"]
    assert result == _expected()


# ---------------------------------------------------------------- AWS Lambda


class _RuntimeApi:
    """The Lambda Runtime API (2018-06-01), enough for one invocation: next, response, error, init/error."""

    def __init__(self, event: dict[str, Any]) -> None:
        self.pending: list[dict[str, Any]] = [event]
        self.replies: list[tuple[str, Any]] = []
        self.replied = threading.Event()
        self.closing = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path != "/2018-06-01/runtime/invocation/next":
                    self.send_error(404)
                    return
                if not api.pending:  # a real runtime blocks until the next event; so do we, until the end
                    api.closing.wait(60)
                    self.send_error(503)
                    return
                body = json.dumps(api.pending.pop(0)).encode()
                self.send_response(200)
                for name, value in (
                    ("Lambda-Runtime-Aws-Request-Id", "req-1"),
                    ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000)),
                    (
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:000000000000:function:mlspec-test",
                    ),
                    ("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000"),
                    ("Content-Type", "application/json"),
                    ("Content-Length", str(len(body))),
                ):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                kind = self.path.rsplit("/", 1)[-1]
                if kind not in ("response", "error"):
                    self.send_error(404)
                    return
                api.replies.append((self.path, json.loads(body or b"null")))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")
                api.replied.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.address = f"127.0.0.1:{self.server.server_port}"

    def __enter__(self) -> _RuntimeApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()


def test_lambda_handler_through_awslambdaric(context_dirs: dict[str, Path]) -> None:
    pytest.importorskip("awslambdaric", reason="awslambdaric is not installed (pip install awslambdaric)")
    context = context_dirs["aws-lambda"]
    with _RuntimeApi(dict(NOOP_EVENT)) as api:
        process = subprocess.Popen(
            [sys.executable, "-m", "awslambdaric", "handler.handler"],
            cwd=context,
            env=_env(context, AWS_LAMBDA_RUNTIME_API=api.address),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            replied = api.replied.wait(60)
        finally:
            process.kill()
            output = process.communicate(timeout=30)[0]
    assert replied, f"no reply from the runtime:\n{output}"
    path, body = api.replies[0]
    assert path == "/2018-06-01/runtime/invocation/req-1/response", (body, output)
    assert body == _expected()


# ---------------------------------------------------------------- Google Cloud Run


@pytest.fixture
def cloud_run_server(context_dirs: dict[str, Path]) -> Iterator[str]:
    context = context_dirs["gcp-cloud-run"]
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "main.py"],
        cwd=context,
        env=_env(context, PORT=str(port)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url, timeout=1).read()
                break
            except OSError:
                if process.poll() is not None:
                    pytest.fail(f"the Cloud Run shim exited:\n{process.communicate()[0]}")
                time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.communicate(timeout=30)


def test_cloud_run_service_over_http(cloud_run_server: str) -> None:
    request = urllib.request.Request(
        cloud_run_server,
        data=json.dumps(NOOP_EVENT).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        assert json.loads(response.read()) == _expected()


def test_cloud_run_service_reports_a_bad_event(cloud_run_server: str) -> None:
    request = urllib.request.Request(cloud_run_server, data=b'{"function": "nope"}', method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=60)
    assert raised.value.code == 400  # the event's fault, not the function's
    assert "unknown function" in json.loads(raised.value.read())["error"]


def test_cloud_run_job_task(context_dirs: dict[str, Path]) -> None:
    context = context_dirs["gcp-cloud-run"]
    done = subprocess.run(
        [sys.executable, "main.py"],
        cwd=context,
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(
            context,
            CLOUD_RUN_JOB="mlspec-test",
            CLOUD_RUN_TASK_INDEX="1",
            CLOUD_RUN_TASK_COUNT="3",
            MLSPEC_EVENT=json.dumps(NOOP_EVENT),
        ),
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout.splitlines()[-1])
    assert reply == {"result": _expected(), "worker": 1}


# ---------------------------------------------------------------- Azure Functions


def test_azure_function_app_with_an_http_request(context_dirs: dict[str, Path]) -> None:
    func = pytest.importorskip(
        "azure.functions", reason="azure-functions is not installed (pip install azure-functions)"
    )
    path = context_dirs["azure-functions"] / "function_app.py"
    spec = importlib.util.spec_from_file_location("mlspec_test_function_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    functions = {f.get_function_name(): f for f in module.app.get_functions()}
    assert set(functions) == {"invoke_http"}
    request = func.HttpRequest(
        method="POST", url="http://localhost/api/invoke", headers={}, body=json.dumps(NOOP_EVENT).encode()
    )
    response = functions["invoke_http"].get_user_function()(request)
    assert response.status_code == 200
    assert json.loads(response.get_body()) == _expected()
    bad = func.HttpRequest(method="POST", url="http://localhost/api/invoke", headers={}, body=b"not json")
    assert functions["invoke_http"].get_user_function()(bad).status_code == 400
    unknown = func.HttpRequest(
        method="POST", url="http://localhost/api/invoke", headers={}, body=json.dumps({"function": "nope"}).encode()
    )
    assert functions["invoke_http"].get_user_function()(unknown).status_code == 400
