"""Google Cloud Run shim.

Service: `python main.py [serve]` answers POST / with `invoke(event)` as JSON on $PORT (stdlib WSGI).
Job: `python main.py job` (the default when CLOUD_RUN_JOB is set) runs one task: the event is
function.json's static part, updated from $MLSPEC_EVENT (JSON), with `worker` = CLOUD_RUN_TASK_INDEX
and, for training, `workers` = CLOUD_RUN_TASK_COUNT."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from mlspec.errors import RequestError
from mlspec.runtime import invoke

_STATIC = Path(__file__).with_name("function.json")


def _static_event() -> dict[str, Any]:
    return json.loads(_STATIC.read_text())["event"] if _STATIC.is_file() else {}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """The WSGI application: POST an event, get the result (200) or the error (4xx for a bad event, else 500)."""

    def reply(status: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body, default=float).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    if environ["REQUEST_METHOD"] == "GET":
        return reply("200 OK", {"status": "ready"})
    if environ["REQUEST_METHOD"] != "POST":
        return reply("405 Method Not Allowed", {"error": "POST an event as JSON"})
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        incoming = json.loads(environ["wsgi.input"].read(length) or b"{}")
    except ValueError as exc:
        return reply("400 Bad Request", {"error": f"the body is not a JSON event: {exc}"})
    try:
        return reply("200 OK", invoke({**_static_event(), **incoming}))
    except RequestError as exc:  # the event itself is at fault: a 4xx, never a 500
        return reply(f"{exc.status} {HTTPStatus(exc.status).phrase}", {"error": str(exc)})
    except Exception as exc:
        return reply(
            "500 Internal Server Error",
            {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=20)},
        )


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(port: int | None = None, host: str = "0.0.0.0") -> None:
    with make_server(
        host,
        port if port is not None else int(os.environ.get("PORT", "8080")),
        app,
        server_class=WSGIServer,
        handler_class=_Quiet,
    ) as server:
        print(f"listening on {host}:{server.server_port}", file=sys.stderr, flush=True)
        server.serve_forever()


def run_job() -> int:
    event = {**_static_event(), **json.loads(os.environ.get("MLSPEC_EVENT") or "{}")}
    index, count = int(os.environ.get("CLOUD_RUN_TASK_INDEX", "0")), int(os.environ.get("CLOUD_RUN_TASK_COUNT", "1"))
    event["worker"] = index
    if event.get("function") == "train_worker":
        event["workers"] = count
    try:
        result = invoke(event)
    except Exception as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}", "worker": index}), flush=True)
        traceback.print_exc()
        return 1
    print(json.dumps({"result": result, "worker": index}, default=float), flush=True)
    return 0


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ("job" if os.environ.get("CLOUD_RUN_JOB") else "serve")
    if mode == "job":
        return run_job()
    if mode == "serve":
        serve()
        return 0
    print(f"usage: {argv[0]} [serve|job]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
