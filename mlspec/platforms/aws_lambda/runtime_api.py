"""The AWS Lambda Runtime API on loopback: what a Lambda container image's entry point (the runtime
interface client, awslambdaric) polls for events, so the built image runs here as Lambda runs it.

Lambda's documented protocol (docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html, API version
2018-06-01): the runtime GETs `/runtime/invocation/next`, which blocks until there is an event and
answers it with the request id and deadline as headers; it POSTs the result to
`/runtime/invocation/{id}/response`, or an error to `.../{id}/error`, or a failed start to
`/runtime/init/error`. The deadline header is what `context.get_remaining_time_in_millis()` reads, so
the function sees the same time limit it would have on Lambda."""

from __future__ import annotations

import json
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

API_PREFIX = "/2018-06-01/runtime"
POLL_S = 0.2  # how often a waiting `next` request checks whether the emulator is closing
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"


@dataclass(frozen=True)
class LambdaOutcome:
    """What the runtime reported for one event: its result, or Lambda's error document
    ({errorMessage, errorType, stackTrace}) for a failed invocation or a failed start."""

    request_id: str
    result: Any = None
    error: dict[str, Any] | None = None


class _RuntimeServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A runtime that went away mid-request (its container stopped while its `next` poll waited) needs no
        # answer; socketserver would print a traceback for it on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@dataclass(frozen=True)
class _Pending:
    request_id: str
    body: bytes
    deadline_ms: int


class RuntimeApiEmulator:
    """One function's Runtime API on 127.0.0.1 (a free port), for `with` use. `invoke(event)` queues
    the event for the runtime and waits for what it reports back."""

    def __init__(self, function_name: str, memory_mb: int, timeout_s: float) -> None:
        self.function_name = function_name
        self.memory_mb = memory_mb
        self.timeout_s = timeout_s
        self._events: queue.Queue[_Pending] = queue.Queue()
        self._outcomes: dict[str, LambdaOutcome] = {}
        self._reported = threading.Condition()
        self._closing = threading.Event()
        self._server = _RuntimeServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="lambda-runtime-api", daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self._server.server_port}"

    def environment(self) -> dict[str, str]:
        """The variables Lambda sets for a function's runtime (the ones the runtime client reads)."""
        return {
            "AWS_LAMBDA_RUNTIME_API": self.address,
            "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "emulated",
        }

    def __enter__(self) -> RuntimeApiEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def invoke(self, event: Any, wait_s: float | None = None) -> LambdaOutcome:
        """Hand event to the runtime and wait (the function's time limit, or wait_s) for its report;
        TimeoutError when none came, as Lambda ends an invocation at its time limit."""
        request_id = str(uuid.uuid4())
        deadline_ms = int((time.time() + self.timeout_s) * 1000)
        self._events.put(_Pending(request_id, json.dumps(event).encode(), deadline_ms))
        limit = time.monotonic() + (self.timeout_s if wait_s is None else wait_s)
        with self._reported:
            while request_id not in self._outcomes and "init" not in self._outcomes:
                left = limit - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.function_name}: no result for request {request_id} in time")
                self._reported.wait(left)
            return self._outcomes.get(request_id) or self._outcomes["init"]

    def _report(self, outcome: LambdaOutcome) -> None:
        with self._reported:
            self._outcomes[outcome.request_id] = outcome
            self._reported.notify_all()

    def _next(self) -> _Pending | None:
        while not self._closing.is_set():
            try:
                return self._events.get(timeout=POLL_S)
            except queue.Empty:
                continue
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # the runtime client keeps its connection open

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self, status: HTTPStatus, body: bytes = b"{}", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> Any:
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    return json.loads(data) if data else None
                except ValueError:
                    return {"errorMessage": data.decode(errors="replace"), "errorType": "InvalidJson"}

            def do_GET(self) -> None:
                if self.path != f"{API_PREFIX}/invocation/next":
                    self._answer(HTTPStatus.NOT_FOUND, b'{"errorMessage": "unknown path"}')
                    return
                pending = emulator._next()
                if pending is None:  # closing: the runtime's poll ends without an event
                    self._answer(HTTPStatus.GONE, b'{"errorMessage": "the emulator is closing"}')
                    return
                headers = {
                    "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn": (
                        f"arn:aws:lambda:local:000000000000:function:{emulator.function_name}"
                    ),
                    "Lambda-Runtime-Trace-Id": f"Root=1-{pending.request_id[:8]}",
                }
                self._answer(HTTPStatus.OK, pending.body, headers)

            def do_POST(self) -> None:
                parts = self.path.removeprefix(API_PREFIX).strip("/").split("/")
                body = self._body()
                if parts == ["init", "error"]:
                    emulator._report(LambdaOutcome("init", error=body or {"errorType": "InitError"}))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "response":
                    emulator._report(LambdaOutcome(parts[1], result=body))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] == "error":
                    error = body if isinstance(body, dict) else {"errorMessage": str(body)}
                    error.setdefault("errorType", self.headers.get(ERROR_TYPE_HEADER, "Unhandled"))
                    emulator._report(LambdaOutcome(parts[1], error=error))
                else:
                    self._answer(HTTPStatus.NOT_FOUND, b'{"errorMessage": "unknown path"}')
                    return
                self._answer(HTTPStatus.ACCEPTED, b'{"status": "OK"}')

        return Handler
