"""The Azure Functions executor: real HTTP to the real Azure Functions shim
(mlspec/platforms/azure_functions/image/function_app.py, through the azure-functions library's own HttpRequest)
served on loopback behind a key check like the Functions host's, running the real `noop` function.
The function key comes from azure-mgmt-web's list_function_keys, answered with canned JSON (no
subscription can be reached here). A requests transport adapter sends the app's
https://<app>.azurewebsites.net requests to the loopback server."""

from __future__ import annotations

import importlib.util
import io
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

pytest.importorskip("azure.functions")

import azure.functions as func
import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.web import WebSiteManagementClient
from urllib3 import HTTPResponse

import mlspec
from mlspec.executors.base import Invocation, Limits
from mlspec.platforms.azure_functions.deploy import AzureClients, app_name
from mlspec.platforms.azure_functions.executor import AzureFunctionsExecutor

SHIM = Path(mlspec.__file__).resolve().parent / "platforms" / "azure_functions" / "image" / "function_app.py"
FUNCTION_KEY = "fake-function-key-for-tests"  # a test value, never a real credential
SUBSCRIPTION, GROUP = "00000000-1111-2222-3333-444444444444", "mlspec-rg"


def shim_function() -> Any:
    spec = importlib.util.spec_from_file_location("mlspec_azure_shim", SHIM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {f.get_function_name(): f for f in module.app.get_functions()}["invoke_http"].get_user_function()


class FunctionsHost:
    """On loopback, as the Functions host: POST /api/invoke with the right x-functions-key reaches the
    shim; a missing or wrong key is 401."""

    def __init__(self) -> None:
        handle = shim_function()
        self.keys_seen: list[str] = []
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                host.keys_seen.append(self.headers.get("x-functions-key", ""))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("x-functions-key") != FUNCTION_KEY:
                    status, data = 401, b""
                else:
                    reply = handle(func.HttpRequest(method="POST", url=self.path, headers={}, body=body))
                    status, data = reply.status_code, reply.get_body()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class AzureNetwork(requests.adapters.HTTPAdapter):
    """Sends *.azurewebsites.net to the loopback host; answers management.azure.com's listkeys."""

    def __init__(self, port: int, key: str) -> None:
        super().__init__()
        self.port, self.key = port, key
        self.listkeys: list[str] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        if url.hostname and url.hostname.endswith(".azurewebsites.net"):
            request.url = f"http://127.0.0.1:{self.port}{url.path}"
            return super().send(request, **kwargs)
        self.listkeys.append(url.path)
        data = json.dumps({"properties": {"default": self.key}}).encode()
        raw = HTTPResponse(
            body=io.BytesIO(data),
            status=200,
            preload_content=False,
            headers={"Content-Type": "application/json", "Content-Length": str(len(data))},
        )
        return self.build_response(request, raw)


class FixedTokenCredential:
    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken("fake-entra-token-for-tests", int(time.time()) + 3600)


@pytest.fixture
def host() -> Iterator[FunctionsHost]:
    host = FunctionsHost()
    yield host
    host.server.shutdown()
    host.server.server_close()


def executor(
    tmp_path: Path, host: FunctionsHost, key: str = FUNCTION_KEY
) -> tuple[AzureFunctionsExecutor, AzureNetwork]:
    network = AzureNetwork(host.server.server_port, key)
    session = requests.Session()
    session.mount("https://", network)
    web = WebSiteManagementClient(
        FixedTokenCredential(), SUBSCRIPTION, transport=RequestsTransport(session=session, session_owner=False)
    )
    clients = AzureClients(
        web=web,
        registry=None,
        blob=None,
        subscription_id=SUBSCRIPTION,
        resource_group=GROUP,
        storage_account="mlspecdata",
    )
    runner = AzureFunctionsExecutor(
        tmp_path / "logs", {"functions": {"echo": "mlspec-demo-echo"}}, clients=clients, session=session
    )
    return runner, network


def invocations(events: list[dict[str, Any]]) -> list[Invocation]:
    return [
        Invocation(id=f"echo#{i}", stage="echo", function=str(e["function"]), worker=i, event=e)
        for i, e in enumerate(events)
    ]


def test_invocations_reach_the_shim_with_the_function_key_canned(tmp_path: Path, host: FunctionsHost) -> None:
    runner, network = executor(tmp_path, host)
    outcomes = runner.run_group(
        invocations([{"function": "noop", "payload": i} for i in range(3)]), Limits(2048, 230), lambda inv, p: None
    )
    assert [(o.result or {}).get("echo") for o in outcomes] == [0, 1, 2]
    assert all(o.record.status == "ok" and o.record.target == "azure-functions" for o in outcomes)
    assert host.keys_seen == [FUNCTION_KEY] * 3
    app = app_name(runner.clients, "mlspec-demo-echo")
    # The key is read once per app, from the shim's function `invoke_http`.
    assert network.listkeys == [
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers/Microsoft.Web/"
        f"sites/{app}/functions/invoke_http/listkeys"
    ]
    assert FUNCTION_KEY not in json.dumps([o.record.model_dump() for o in outcomes])


def test_a_failing_function_and_a_refused_key_are_errors_canned(tmp_path: Path, host: FunctionsHost) -> None:
    runner, _ = executor(tmp_path, host)
    [failed] = runner.run_group(invocations([{"function": "no_such_function"}]), Limits(2048, 230), lambda inv, p: None)
    assert failed.record.status == "error" and "HTTP 400: " in (failed.record.error or "")
    assert "unknown function" in (failed.record.error or "")
    runner, _ = executor(tmp_path, host, key="a-stale-key")
    [refused] = runner.run_group(invocations([{"function": "noop"}]), Limits(2048, 230), lambda inv, p: None)
    assert refused.record.status == "error" and (refused.record.error or "").startswith("HTTP 401")
    assert "a-stale-key" not in (refused.record.error or "")
