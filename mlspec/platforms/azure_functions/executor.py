"""The Azure Functions executor: every invocation of a group is one HTTP POST of its event to the
Function App `mlspec deploy --target azure-functions` created for its stage
(`https://<app>.azurewebsites.net/api/invoke`), all of a group at once, with the function's key in
the `x-functions-key` header. The key is read once per app through azure-mgmt-web
(`web_apps.list_function_keys`) and is sent, never recorded or logged.

Figures: the response carries no billed duration or memory, so wall_s is the round trip measured
here (client side), cpu_s and peak_rss_mb are None (not reported) and billed_s is unset; the
platform's own figures are in Application Insights, not read here. An HTTP-triggered function must
answer within 230 s (Azure's load balancer), whatever its timeout: longer links get HTTP 504."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlspec.deploy.base import ApiCall
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback
from mlspec.executors.http import HttpEndpoint, post_group
from mlspec.platforms.azure_functions.deploy import (
    FUNCTION_NAME,
    AzureClients,
    app_name,
    default_clients,
    function_url,
    translated_errors,
)


class AzureFunctionsExecutor:
    name = "azure-functions"

    def __init__(
        self, log_dir: Path, options: dict[str, Any], clients: AzureClients | None = None, session: Any = None
    ) -> None:
        """options: {"functions": {stage: function name (FunctionDeployment.name)}, plus the target's
        settings (subscription_id, resource_group, storage_account) where not in the environment}."""
        self.log_dir = log_dir
        self.options = options
        self.functions: dict[str, str] = dict(options["functions"])
        self._clients = clients
        self._session = session
        self._keys: dict[str, str] = {}
        self.sleep: Callable[[float], None] = time.sleep

    @property
    def clients(self) -> AzureClients:
        if self._clients is None:
            self._clients = default_clients(self.options)
        return self._clients

    def endpoint(self, inv: Invocation) -> HttpEndpoint:
        app = app_name(self.clients, self.functions[inv.stage])
        if app not in self._keys:
            params = {"resource_group_name": self.clients.resource_group, "name": app, "function_name": FUNCTION_NAME}
            with translated_errors(ApiCall("web.WebApps", "list_function_keys", params, "read")):
                keys = self.clients.web.web_apps.list_function_keys(**params)
            self._keys[app] = str(dict(keys.get("properties") or {})["default"])
        return HttpEndpoint(function_url(app), {"x-functions-key": self._keys[app]})

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        import requests

        session = self._session or requests.Session()
        return post_group(self.name, invocations, limits, on_progress, self.endpoint, session, self.sleep)
