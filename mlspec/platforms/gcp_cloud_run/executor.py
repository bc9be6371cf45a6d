"""The Google Cloud Run executor: runs a group on the functions `mlspec deploy --target gcp-cloud-run`
created. Request-style stages are one authorised HTTP POST per invocation to the stage's service
(an ID token for the service URL as the audience, in the Authorization header only), all of a group
at once. Job-style stages (training workers) are one `JobsClient.run_job` per group with the
event in the MLSPEC_EVENT override and task count = workers; the job shim gives each task its worker
index from CLOUD_RUN_TASK_INDEX.

Figures: for a service the response carries no billed duration or memory, so wall_s is the round
trip measured here (client side), cpu_s and peak_rss_mb are None (not reported) and billed_s is
unset. For a job, wall_s is the execution's own start-to-completion time as Cloud Run reports it
(measured on gcp-cloud-run). A job task's result goes to its log (Cloud Logging), which is not read
here: job outcomes have no result, so a training stage's metrics are not collected from a job."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlspec.deploy.base import ApiCall, CredentialsError, DeployError
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback
from mlspec.executors.http import CACHE_DIR, HttpEndpoint, failed, post_group, succeeded
from mlspec.platforms.gcp_cloud_run.credentials import GCP_CHAIN, GCP_FIX, gcp_credentials
from mlspec.platforms.gcp_cloud_run.deploy import default_clients, translated_errors
from mlspec.wording import plural


def id_token(audience: str) -> str:
    """An ID token for a Cloud Run service URL, from the application-default credentials."""
    from google.auth.exceptions import DefaultCredentialsError, GoogleAuthError
    from google.auth.transport.requests import Request
    from google.oauth2 import id_token as tokens

    try:
        return str(tokens.fetch_id_token(Request(), audience))
    except DefaultCredentialsError:
        pass  # user credentials (gcloud login) carry an ID token of their own instead
    credentials, _ = gcp_credentials()
    try:
        credentials.refresh(Request())
    except GoogleAuthError:
        raise CredentialsError(
            f"Google Cloud credentials were refused or expired (tried: {GCP_CHAIN}); {GCP_FIX}"
        ) from None
    token = getattr(credentials, "id_token", None)
    if not token:
        raise CredentialsError(
            f"the Google Cloud credentials found give no ID token to call Cloud Run services "
            f"(tried: {GCP_CHAIN}); use a service account key or `gcloud auth "
            "application-default login`"
        )
    return str(token)


class CloudRunExecutor:
    name = "gcp-cloud-run"

    def __init__(
        self,
        log_dir: Path,
        options: dict[str, Any],
        clients: Any = None,
        token: Callable[[str], str] = id_token,
        session: Any = None,
    ) -> None:
        """options: {"functions": {stage: service or job name}, "jobs": [stages deployed as jobs],
        "urls": {stage: service URL} where known (else read with get_service), "region": ...,
        "project": ... (else the credentials' project)}. `clients` is a GcpClients."""
        self.log_dir = log_dir
        self.functions: dict[str, str] = dict(options["functions"])
        self.jobs = set(options.get("jobs", ()))
        self.region = str(options.get("region") or "us-central1")
        self.project = options.get("project")
        self._clients = clients
        self.token = token
        self._session = session
        self._urls: dict[str, str] = dict(options.get("urls", {}))
        self.sleep: Callable[[float], None] = time.sleep

    @property
    def clients(self) -> Any:
        if self._clients is None:
            self._clients = default_clients(self.project)
        return self._clients

    def resource(self, stage: str) -> str:
        kind = "jobs" if stage in self.jobs else "services"
        return f"projects/{self.clients.project}/locations/{self.region}/{kind}/{self.functions[stage]}"

    def endpoint(self, inv: Invocation) -> HttpEndpoint:
        if inv.stage not in self._urls:
            name = self.resource(inv.stage)
            with translated_errors(ApiCall("run.v2.Services", "get_service", {"name": name}, "read")):
                self._urls[inv.stage] = str(self.clients.services.get_service(request={"name": name}).uri)
        url = self._urls[inv.stage]
        return HttpEndpoint(url, {"Authorization": f"Bearer {self.token(url)}"})

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        if invocations and invocations[0].stage in self.jobs:
            return self.run_job(invocations, limits, on_progress)
        import requests

        session = self._session or requests.Session()
        return post_group(self.name, invocations, limits, on_progress, self.endpoint, session, self.sleep)

    def run_job(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        """One execution for the group: the tasks differ only in `worker`, which the shim sets."""
        common = {k: v for k, v in invocations[0].event.items() if k != "worker"}
        if any({k: v for k, v in inv.event.items() if k != "worker"} != common for inv in invocations):
            raise DeployError("gcp-cloud-run: a job's tasks can differ only in `worker`; run this stage as a service")
        request = {
            "name": self.resource(invocations[0].stage),
            "overrides": {
                "container_overrides": [
                    {"env": [{"name": "MLSPEC_EVENT", "value": json.dumps({**common, "cache_dir": CACHE_DIR})}]}
                ],
                "task_count": len(invocations),
                "timeout": {"seconds": round(limits.timeout_s)},
            },
        }
        started = time.time()
        tasks = plural(len(invocations), "task")
        for inv in invocations:
            on_progress(inv.id, {"phase": f"job execution of {tasks} started on {self.name}"})
        try:
            with translated_errors(ApiCall("run.v2.Jobs", "run_job", {"name": request["name"]}, "run")):
                execution = self.clients.jobs.run_job(request=request).result(timeout=limits.timeout_s + 600)
        except DeployError as exc:
            return [failed(self.name, inv, limits, started, "error", str(exc)) for inv in invocations]
        wall_s = (execution.completion_time - execution.start_time).total_seconds()
        done = execution.succeeded_count == len(invocations)
        outcomes = []
        for inv in invocations:
            if done:
                outcomes.append(succeeded(self.name, inv, limits, started, wall_s, None, execution.name))
            else:
                error = (
                    f"job execution {execution.name}: {execution.failed_count} of {tasks} "
                    "failed (see the tasks' logs in Cloud Logging)"
                )
                outcomes.append(failed(self.name, inv, limits, started, "error", error, execution.name))
            on_progress(inv.id, {"phase": f"finished on {self.name}: {outcomes[-1].record.status}"})
        return outcomes
