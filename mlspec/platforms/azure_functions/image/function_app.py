"""Azure Functions shim (Python v2 programming model): POST /api/invoke with the event as JSON."""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

import azure.functions as func

from mlspec.errors import RequestError
from mlspec.runtime import invoke

_STATIC = Path(__file__).with_name("function.json")

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


def _json(body: dict[str, Any], status: int) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=float), status_code=status, mimetype="application/json")


@app.route(route="invoke", methods=["POST"])
def invoke_http(req: func.HttpRequest) -> func.HttpResponse:
    try:
        incoming = req.get_json()
    except ValueError as exc:
        return _json({"error": f"the body is not a JSON event: {exc}"}, 400)
    static = json.loads(_STATIC.read_text())["event"] if _STATIC.is_file() else {}
    try:
        return _json(invoke({**static, **incoming}), 200)
    except RequestError as exc:  # the event itself is at fault: a 4xx, never a 500
        return _json({"error": str(exc)}, exc.status)
    except Exception as exc:
        return _json({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=20)}, 500)
