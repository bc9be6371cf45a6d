"""The local HTTP endpoint (standard library only): `POST /predict` with `{"inputs": [...]}` answers
`{"labels": [...], "probabilities": [[...]], "classes": [...]}`; `GET /healthz`; `GET /` describes the
model. Bad requests get a 4xx with `{"error": message}`, never a 500; only a bug in mlspec answers 500.

Under load: a fixed pool of handler threads serves connections in arrival order; connections beyond it
wait (in the listen backlog, then in a bounded queue) and a connection that finds the queue full gets 503.
Each request has a total deadline, so a client that dribbles its request holds a thread for at most that
long and then gets 408. Clients that go away before their answer are counted, not logged as errors."""

from __future__ import annotations

import io
import json
import queue
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from mlspec.serving.inputs import InputError, parse_json
from mlspec.serving.predictor import Predictor

# path -> the one method it answers
ROUTES = {"/": "GET", "/healthz": "GET", "/predict": "POST"}
ENDPOINTS = ", ".join(f"{method} {path}" for path, method in ROUTES.items())
WORKERS = 16  # handler threads: connections beyond them wait their turn instead of each taking a thread
REQUEST_TIMEOUT_S = 30.0  # to receive one whole request (or, on a kept-alive connection, for the next one)
LISTEN_BACKLOG = 1024  # connections the kernel holds before they are accepted (capped by net.core.somaxconn)
QUEUE_PER_WORKER = 64  # accepted connections that may wait for a handler thread, per thread; one more gets 503


class PredictionServer(HTTPServer):
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self,
        address: tuple[str, int],
        predictor: Predictor,
        about: dict[str, Any],
        log: bool = False,
        workers: int = WORKERS,
        request_timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.predictor = predictor
        self.about = {**about, **predictor.describe(), "endpoints": ENDPOINTS}
        self.log = log
        self.request_timeout_s = request_timeout_s
        self.clients_gone = 0  # connections closed or reset by the client before its answer was sent
        self._count_lock = threading.Lock()
        self._waiting: queue.Queue[tuple[socket.socket, Any] | None] = queue.Queue(QUEUE_PER_WORKER * workers)
        self._workers: list[threading.Thread] = []  # none yet: a failed bind closes the server at once
        super().__init__(address, _Handler)
        self._workers = [threading.Thread(target=self._work, name=f"serve-{i}", daemon=True) for i in range(workers)]
        for worker in self._workers:
            worker.start()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def busy(self) -> bool:
        """Whether connections are waiting for a handler thread."""
        return not self._waiting.empty()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Called by the accepting thread: hands the connection to the pool, or answers 503 at once."""
        try:
            self._waiting.put_nowait((request, client_address))
        except queue.Full:
            self._refuse(request)

    def _refuse(self, request: socket.socket) -> None:
        data = json.dumps({"error": f"the server is busy ({self._waiting.maxsize} connections waiting): retry later"})
        head = (
            f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
        )
        request.setblocking(False)  # a fresh connection's send buffer is empty: this never waits
        try:
            request.send((head + data).encode())
        except OSError:
            self._client_gone()
        self.shutdown_request(request)

    def _work(self) -> None:
        while (item := self._waiting.get()) is not None:
            request, client_address = item
            try:
                self.finish_request(request, client_address)
            except (ConnectionError, TimeoutError):  # reset, closed, or not reading its answer
                self._client_gone()
            except Exception:
                self.handle_error(request, client_address)
            finally:
                self.shutdown_request(request)

    def _client_gone(self) -> None:
        with self._count_lock:
            self.clients_gone += 1

    def server_close(self) -> None:
        super().server_close()
        while True:  # connections still waiting are closed unanswered, so that the stop signals fit the queue
            try:
                item = self._waiting.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                self.shutdown_request(item[0])
        for _ in self._workers:
            self._waiting.put_nowait(None)


class _RequestTimeout(Exception):
    """The request's deadline passed while it was still being received (not an OSError, so that nothing
    on the way mistakes it for the client going away)."""


class _DeadlineReader(io.RawIOBase):
    """The connection's reads, each allowed only what is left until `deadline`: a client that keeps sending
    a byte now and then is still cut off when the deadline passes."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.deadline = float("inf")
        self.received = 0  # bytes since the deadline was set

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise _RequestTimeout
        self.connection.settimeout(remaining)
        try:
            n = self.connection.recv_into(buffer)
        except TimeoutError:
            raise _RequestTimeout from None
        self.received += n
        return n


class _Handler(BaseHTTPRequestHandler):
    server: PredictionServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends many requests on one connection
    default_request_version = "HTTP/1.0"  # so even a garbled request line gets a status line back
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    error_content_type = "application/json"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # replaced by reads that keep to the request's deadline
        self._reader = _DeadlineReader(self.connection)
        self.rfile = io.BufferedReader(self._reader)

    def handle_one_request(self) -> None:
        timeout = self.server.request_timeout_s
        self._reader.deadline, self._reader.received = time.monotonic() + timeout, 0
        # What a reply needs when the request line itself never arrived whole.
        self.raw_requestline, self.requestline, self.command = b"", "", ""
        self.request_version = self.default_request_version
        try:
            super().handle_one_request()
        except _RequestTimeout:
            self.close_connection = True
            if self._reader.received or self.raw_requestline:  # not just an idle kept-alive connection
                self._reply(408, {"error": f"the request did not arrive whole within {timeout:g} s"})

    def do_GET(self) -> None:
        if self._route("GET"):
            self._reply(200, self.server.about if self.path == "/" else {"status": "ok"})

    def do_POST(self) -> None:
        if not self._route("POST"):
            return
        try:
            body = self._body()
        except InputError as exc:
            self.close_connection = True  # the unread body would be taken for the next request
            self._reply(exc.status, {"error": str(exc)})
            return
        try:
            self._reply(200, self.server.predictor.predict(parse_json(body)))
        except InputError as exc:
            self._reply(exc.status, {"error": str(exc)})

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def _route(self, method: str) -> bool:
        """Whether the request's path answers `method`; replies 404/405 (closing the connection, whose
        unread body would be taken for the next request) when it does not."""
        self.path = self.path.split("?", 1)[0]
        expected = ROUTES.get(self.path)
        if expected == method:
            return True
        self.close_connection = True
        if expected is None:
            self._reply(404, {"error": f"no endpoint {self.path} (endpoints: {ENDPOINTS})"})
        else:
            self._reply(405, {"error": f"{self.path} answers {expected}, not {method}"}, {"Allow": expected})
        return False

    def _body(self) -> bytes:
        media_type = self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if media_type != "application/json":
            raise InputError(f"Content-Type must be application/json, got {media_type or 'none'}", status=415)
        declared = self.headers.get_all("Content-Length") or []
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None and declared:  # which one frames the body? (request smuggling)
            raise InputError("both Transfer-Encoding and Content-Length: send only a Content-Length")
        if "chunked" in (encoding or "").lower():
            raise InputError("chunked bodies are not accepted: send a Content-Length", status=411)
        if not declared:
            raise InputError("a Content-Length header is required", status=411)
        if len(declared) > 1:
            raise InputError(f"{len(declared)} Content-Length headers ({', '.join(declared)}): send exactly one")
        digits = declared[0].strip()
        if not (digits.isascii() and digits.isdigit()):  # int() would also take "+5", "1_0" and other digits
            raise InputError(f"Content-Length is not a number: {declared[0]!r}")
        length = int(digits)
        limit = self.server.predictor.bundle.max_request_bytes
        if length > limit:
            raise InputError(
                f"body of {length} bytes exceeds max_request_bytes={limit}: send smaller batches", status=413
            )
        if length <= 0:
            raise InputError('the body is empty: send {"inputs": [...]}')
        body = self.rfile.read(length)
        if len(body) < length:
            raise InputError(f"the body ended after {len(body)} of {length} bytes")
        return body

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        if self.server.busy:  # let a waiting connection have this thread rather than keep this one alive
            self.close_connection = True
        self.connection.settimeout(self.server.request_timeout_s)  # for the answer, however late it was asked
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and headers (rejected by http.server itself) also get JSON."""
        self.close_connection = True
        if code == 501:  # a method http.server has no handler for: the client's mistake, not the server's
            code, message = 405, f"{self.command} is not allowed (endpoints: {ENDPOINTS})"
        self._reply(code, {"error": message or self.responses.get(code, ("error",))[0]})

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")
