"""The Cloud Run executor. Services: real HTTP to the real Cloud Run shim (mlspec/platforms/gcp_cloud_run/image/main.py)
served on loopback, running the real `noop` function. Jobs: the real google-cloud-run JobsClient (REST
transport, anonymous credentials) against a loopback server answering run_job with canned JSON, since
no Google Cloud project can be reached here."""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

pytest.importorskip("google.cloud.run_v2")

from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

import mlspec
from mlspec.executors.base import Invocation, Limits
from mlspec.platforms.gcp_cloud_run.deploy import GcpClients
from mlspec.platforms.gcp_cloud_run.executor import CloudRunExecutor

SHIM = Path(mlspec.__file__).resolve().parent / "platforms" / "gcp_cloud_run" / "image" / "main.py"
FAKE_ID_TOKEN = "fake-id-token-for-tests"  # a test value, never a real credential
JOB = "projects/demo-project/locations/us-central1/jobs/mlspec-demo-train"
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ThreadingWsgiServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(app: WsgiApp) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, server_class=ThreadingWsgiServer, handler_class=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()


def cloud_run_shim() -> WsgiApp:
    spec = importlib.util.spec_from_file_location("mlspec_cloud_run_shim", SHIM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app: WsgiApp = module.app
    return app


class Front:
    """In front of the shim, as Cloud Run's front end: records the Authorization header each request
    brought, and answers the first `busy` requests 429 (no instance free)."""

    def __init__(self, busy: int = 0) -> None:
        self.shim = cloud_run_shim()
        self.busy = busy
        self.authorizations: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self.lock:
            self.authorizations.append(environ.get("HTTP_AUTHORIZATION", ""))
            busy, self.busy = self.busy > 0, max(0, self.busy - 1)
        if busy:
            start_response("429 Too Many Requests", [("Content-Type", "text/plain")])
            return [b"Rate exceeded."]
        return self.shim(environ, start_response)


def invocations(events: list[dict[str, Any]], stage: str = "echo") -> list[Invocation]:
    return [
        Invocation(id=f"{stage}#{i}", stage=stage, function=str(e["function"]), worker=i, event=e)
        for i, e in enumerate(events)
    ]


def executor(tmp_path: Path, url: str, clients: GcpClients | None = None) -> CloudRunExecutor:
    options = {
        "functions": {"echo": "mlspec-demo-echo", "train": "mlspec-demo-train"},
        "jobs": ["train"],
        "urls": {"echo": url},
        "project": "demo-project",
    }
    runner = CloudRunExecutor(tmp_path / "logs", options, clients=clients, token=lambda audience: FAKE_ID_TOKEN)
    runner.sleep = lambda seconds: None
    return runner


def test_service_invocations_run_through_the_shim_with_an_id_token_loopback(tmp_path: Path) -> None:
    front = Front(busy=1)
    progress: list[tuple[str, dict[str, Any]]] = []
    with serving(front) as url:
        outcomes = executor(tmp_path, url).run_group(
            invocations([{"function": "noop", "payload": i} for i in range(3)]),
            Limits(512, 60),
            lambda inv, p: progress.append((inv, p)),
        )
    assert [(o.result or {}).get("echo") for o in outcomes] == [0, 1, 2]
    assert [o.record.status for o in outcomes] == ["ok"] * 3
    assert all(o.record.target == "gcp-cloud-run" and 0 < o.record.wall_s < 60 for o in outcomes)
    assert front.authorizations == [f"Bearer {FAKE_ID_TOKEN}"] * 4  # one was answered 429 and retried
    assert any("throttled (HTTP 429)" in p.get("phase", "") for _, p in progress)
    assert FAKE_ID_TOKEN not in json.dumps([o.record.model_dump() for o in outcomes])


def test_a_failing_function_fails_the_group_with_its_message_loopback(tmp_path: Path) -> None:
    with serving(Front()) as url:
        outcomes = executor(tmp_path, url).run_group(
            invocations([{"function": "no_such_function"}]), Limits(512, 60), lambda inv, p: None
        )
    [record] = [o.record for o in outcomes]
    assert record.status == "error" and record.error is not None
    assert record.error.startswith("HTTP 400: ") and "unknown function" in record.error


def canned_run_job(succeeded: int, failed: int, requests: list[dict[str, Any]]) -> WsgiApp:
    """run_job's REST shape: POST /v2/{job}:run -> a finished operation whose response is the Execution."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        requests.append({"path": environ["PATH_INFO"], "body": json.loads(environ["wsgi.input"].read(length))})
        execution = {
            "@type": "type.googleapis.com/google.cloud.run.v2.Execution",
            "name": f"{JOB}/executions/demo-x1",
            "startTime": "2026-11-23T10:00:00Z",
            "completionTime": "2026-11-23T10:02:05.500Z",
            "taskCount": succeeded + failed,
            "succeededCount": succeeded,
            "failedCount": failed,
        }
        body = json.dumps(
            {"name": "projects/demo-project/locations/us-central1/operations/op1", "done": True, "response": execution}
        ).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def job_clients(url: str) -> GcpClients:
    jobs = run_v2.JobsClient(
        credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": url.rstrip("/")}
    )
    return GcpClients(services=None, jobs=jobs, registry=None, storage=None, project="demo-project")


def train_events(workers: int) -> list[dict[str, Any]]:
    return [{"function": "noop", "run_id": "r1", "worker": w, "cache_dir": "/here"} for w in range(workers)]


def test_job_runs_one_execution_with_the_event_and_task_count_canned(tmp_path: Path) -> None:
    sent: list[dict[str, Any]] = []
    with serving(canned_run_job(3, 0, sent)) as url:
        outcomes = executor(tmp_path, "", job_clients(url)).run_group(
            invocations(train_events(3), "train"), Limits(4096, 1800), lambda inv, p: None
        )
    [request] = sent
    assert request["path"] == f"/v2/{JOB}:run"
    overrides = request["body"]["overrides"]
    assert overrides["taskCount"] == 3 and overrides["timeout"] == "1800s"
    [env] = overrides["containerOverrides"][0]["env"]
    assert env["name"] == "MLSPEC_EVENT"
    # `worker` comes from CLOUD_RUN_TASK_INDEX in the shim; the cache is the function's own /tmp.
    assert json.loads(env["value"]) == {"function": "noop", "run_id": "r1", "cache_dir": "/tmp/mlspec-cache"}
    # The execution's own start and completion times, as Cloud Run reported them.
    assert [(o.record.status, o.record.wall_s) for o in outcomes] == [("ok", 125.5)] * 3
    assert outcomes[0].record.request_id == f"{JOB}/executions/demo-x1"


def test_a_failed_task_fails_the_job_group_canned(tmp_path: Path) -> None:
    with serving(canned_run_job(2, 1, [])) as url:
        outcomes = executor(tmp_path, "", job_clients(url)).run_group(
            invocations(train_events(3), "train"), Limits(4096, 1800), lambda inv, p: None
        )
    assert {o.record.status for o in outcomes} == {"error"}
    assert "1 of 3 tasks failed" in (outcomes[0].record.error or "")
