"""The local HTTP endpoint (standard library only): `POST /predict` with `{"inputs": [...]}` answers
`{"labels": [...], "probabilities": [[...]], "classes": [...]}`; `GET /healthz`; `GET /` describes the
model. Bad requests get a 4xx with `{"error": message}`, never a 500; only a bug in mlspec answers 500."""

from __future__ import annotations

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mlspec.serving.inputs import InputError, parse_json
from mlspec.serving.predictor import Predictor

# path -> the one method it answers
ROUTES = {"/": "GET", "/healthz": "GET", "/predict": "POST"}
ENDPOINTS = ", ".join(f"{method} {path}" for path, method in ROUTES.items())
IDLE_TIMEOUT_S = 30.0  # a client that stops sending mid-request does not hold a thread for ever


class PredictionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], predictor: Predictor, about: dict[str, Any],
                 log: bool = False) -> None:  # fmt: skip
        self.predictor = predictor
        self.about = {**about, **predictor.describe(), "endpoints": ENDPOINTS}
        self.log = log
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: PredictionServer
    protocol_version = "HTTP/1.1"  # keep-alive: a client sends many requests on one connection
    default_request_version = "HTTP/1.0"  # so even a garbled request line gets a status line back
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    timeout = IDLE_TIMEOUT_S
    error_content_type = "application/json"

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
        except OSError:  # the client went away or stalled mid-body
            self.close_connection = True
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
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise InputError("chunked bodies are not accepted: send a Content-Length", status=411)
        declared = self.headers.get("Content-Length")
        if declared is None:
            raise InputError("a Content-Length header is required", status=411)
        try:
            length = int(declared)
        except ValueError:
            raise InputError(f"Content-Length is not a number: {declared!r}") from None
        limit = self.server.predictor.bundle.max_request_bytes
        if length > limit:
            raise InputError(f"body of {length} bytes exceeds max_request_bytes={limit}: send smaller batches",
                             status=413)  # fmt: skip
        if length <= 0:
            raise InputError('the body is empty: send {"inputs": [...]}')
        body = self.rfile.read(length)
        if len(body) < length:
            raise InputError(f"the body ended after {len(body)} of {length} bytes")
        return body

    def _reply(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
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
