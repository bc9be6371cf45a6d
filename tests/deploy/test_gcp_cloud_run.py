"""The Cloud Run deployer through the real google-cloud clients (REST transport, anonymous credentials)
against a loopback HTTP server that records every request and answers with canned JSON in the shape
of the Cloud Run v2, Artifact Registry v1 and GCS JSON APIs. No Google Cloud account can be reached
here: what is checked is the requests the SDKs send, field by field against the plan."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("google.cloud.run_v2")

from google.auth.credentials import AnonymousCredentials
from google.cloud import artifactregistry_v1, run_v2, storage

from mlspec.deploy.base import CredentialsError, DeployError, Deployment, FunctionDeployment
from mlspec.platforms.gcp_cloud_run.deploy import CloudRunDeployer, GcpClients

PROJECT, REGION = "demo-project", "us-central1"
LOCATION = f"projects/{PROJECT}/locations/{REGION}"
RUN_TYPE = "type.googleapis.com/google.cloud.run.v2."


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    body: dict[str, Any] | None


Reply = tuple[int, dict[str, Any] | None]


class CannedGoogleApis:
    """Records requests; `answer(method, path, body)` gives (status, JSON) for each."""

    def __init__(self, answer: Callable[[str, str, dict[str, Any] | None], Reply]) -> None:
        self.answer = answer
        self.requests: list[Recorded] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                server.requests.append(Recorded(self.command, url.path, parse_qs(url.query), body))
                status, reply = server.answer(self.command, url.path, body)
                data = json.dumps(reply).encode() if reply is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def mutating(self) -> list[Recorded]:
        return [r for r in self.requests if r.method != "GET"]

    def clients(self) -> GcpClients:
        options = {"api_endpoint": self.url}
        return GcpClients(
            services=run_v2.ServicesClient(
                credentials=AnonymousCredentials(), transport="rest", client_options=options
            ),
            jobs=run_v2.JobsClient(credentials=AnonymousCredentials(), transport="rest", client_options=options),
            registry=artifactregistry_v1.ArtifactRegistryClient(
                credentials=AnonymousCredentials(), transport="rest", client_options=options
            ),
            storage=storage.Client(project=PROJECT, credentials=AnonymousCredentials(), client_options=options),
            project=PROJECT,
        )


def error(code: int, status: str, message: str) -> Reply:
    return code, {"error": {"code": code, "status": status, "message": message}}


def done(name: str, response: dict[str, Any]) -> Reply:
    return 200, {"name": f"{LOCATION}/operations/{name}", "done": True, "response": response}


def not_found(method: str, path: str, body: dict[str, Any] | None) -> Reply:
    return error(404, "NOT_FOUND", f"{path} not found")


def accepting(existing: dict[str, dict[str, Any]], *, refuse: Reply | None = None) -> Callable[..., Reply]:
    """GET answers from `existing` (path -> resource JSON) or 404; writes succeed (or get `refuse`)."""

    def answer(method: str, path: str, body: dict[str, Any] | None) -> Reply:
        if method == "GET":
            return (200, existing[path]) if path in existing else not_found(method, path, body)
        if refuse is not None:
            return refuse
        if path.startswith("/storage/v1/b"):
            return (204, None) if method == "DELETE" else (200, {**(body or {}), "id": (body or {}).get("name")})
        if "/repositories" in path:
            kind = "google.protobuf.Empty" if method == "DELETE" else "google.devtools.artifactregistry.v1.Repository"
            return done("repo", {"@type": f"type.googleapis.com/{kind}"})
        kind = "Job" if "/jobs" in path else "Service"
        return done("fn", {"@type": RUN_TYPE + kind, **{k: v for k, v in (body or {}).items() if k != "@type"}})

    return answer


@pytest.fixture
def google() -> Iterator[Callable[[Callable[..., Reply]], CannedGoogleApis]]:
    servers: list[CannedGoogleApis] = []

    def start(answer: Callable[..., Reply]) -> CannedGoogleApis:
        servers.append(CannedGoogleApis(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.httpd.shutdown()
        server.httpd.server_close()


def function(stage: str, style: str, memory_mb: int, timeout_s: float, concurrency: int) -> FunctionDeployment:
    return FunctionDeployment(
        name=f"mlspec-demo-{stage}",
        stage=stage,
        function=stage,
        image=f"mlspec/demo-{stage}:abc{stage}123",
        context_hash=f"{stage}0123456789abcdef",
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        concurrency=concurrency,
        style=style,
        image_built=False,  # type: ignore[arg-type]
    )


DEPLOYMENT = Deployment(
    pipeline="demo",
    target="gcp-cloud-run",
    region=REGION,
    bucket="mlspec-demo-data",
    functions=(
        function("prep", "request", 2048, 300, 1),
        function("train", "job", 8192, 1800, 4),
        function("eval", "request", 512, 60, 2),
    ),
)


def deployed_state(server: CannedGoogleApis) -> dict[str, dict[str, Any]]:
    """What GETs return once the recorded creates have happened: each created body under its name."""
    state: dict[str, dict[str, Any]] = {}
    for r in server.mutating():
        body = r.body or {}
        if r.path.startswith("/storage/v1/b"):
            state[f"/storage/v1/b/{body['name']}"] = body
        elif r.path.endswith("/repositories"):
            state[f"{r.path}/{r.query['repositoryId'][0]}"] = body
        else:
            kind_id = "jobId" if r.path.endswith("/jobs") else "serviceId"
            state[f"{r.path}/{r.query[kind_id][0]}"] = body
    return state


def test_first_deploy_creates_everything_with_the_planned_fields_canned(google: Any) -> None:
    server = google(accepting({}))
    deployer = CloudRunDeployer({"vcpu": None}, clients=server.clients())
    calls = deployer.plan_calls(DEPLOYMENT)
    assert [c.describe() for c in calls] == [
        "artifactregistry.v1.create_repository  (missing)",
        "storage.Buckets.create_bucket  (missing)",
        "run.v2.Services.create_service  (missing)",
        "run.v2.Jobs.create_job  (missing)",
        "run.v2.Services.create_service  (missing)",
    ]
    assert server.mutating() == []  # planning only reads
    deployer.apply(calls)

    sent = server.mutating()
    assert [(r.method, r.path) for r in sent] == [
        ("POST", f"/v1/{LOCATION}/repositories"),
        ("POST", "/storage/v1/b"),
        ("POST", f"/v2/{LOCATION}/services"),
        ("POST", f"/v2/{LOCATION}/jobs"),
        ("POST", f"/v2/{LOCATION}/services"),
    ]
    repository, bucket, prep, train, evaluate = sent
    assert repository.query["repositoryId"] == ["mlspec-demo"]
    # The REST transport sends enums as their numbers.
    assert repository.body is not None and repository.body["format"] == artifactregistry_v1.Repository.Format.DOCKER
    assert repository.body["labels"] == {"managed-by": "mlspec", "mlspec-pipeline": "demo"}
    assert bucket.query["project"] == [PROJECT]
    assert bucket.body == {
        "name": "mlspec-demo-data",
        "location": REGION,
        "labels": {"managed-by": "mlspec", "mlspec-pipeline": "demo"},
    }

    assert prep.query["serviceId"] == ["mlspec-demo-prep"] and prep.body is not None
    template = prep.body["template"]
    assert template["containers"][0]["image"] == f"{REGION}-docker.pkg.dev/{PROJECT}/mlspec-demo/demo-prep:abcprep123"
    assert template["containers"][0]["resources"] == {"limits": {"memory": "2048Mi", "cpu": "1"}, "cpuIdle": True}
    assert template["timeout"] == "300s"
    assert template["maxInstanceRequestConcurrency"] == 1
    assert template["scaling"]["maxInstanceCount"] == 1
    assert prep.body["labels"] == {
        "managed-by": "mlspec",
        "mlspec-pipeline": "demo",
        "mlspec-stage": "prep",
        "mlspec-context": "prep0123456789abcdef",
    }

    # 512 MiB is in the 0.08-1 vCPU band: Cloud Run's smallest whole setting that admits it is 1 vCPU.
    assert evaluate.body is not None
    assert evaluate.body["template"]["containers"][0]["resources"]["limits"] == {"memory": "512Mi", "cpu": "1"}
    assert evaluate.body["template"]["scaling"]["maxInstanceCount"] == 2

    assert train.query["jobId"] == ["mlspec-demo-train"] and train.body is not None
    execution = train.body["template"]
    assert (int(execution["taskCount"]), int(execution["parallelism"])) == (4, 4)
    task = execution["template"]
    # 8 GiB needs 2 vCPU on Cloud Run jobs (1 vCPU stops at 4 GiB).
    assert task["containers"][0]["resources"]["limits"] == {"memory": "8192Mi", "cpu": "2"}
    assert task["timeout"] == "1800s" and task.get("maxRetries", 0) == 0
    assert train.body["labels"]["mlspec-context"] == "train0123456789abcdef"


def state_after_first_deploy(google: Any) -> dict[str, dict[str, Any]]:
    first = google(accepting({}))
    deployer = CloudRunDeployer({}, clients=first.clients())
    deployer.apply(deployer.plan_calls(DEPLOYMENT))
    return deployed_state(first)


def test_second_deploy_with_nothing_changed_makes_no_call_canned(google: Any) -> None:
    second = google(accepting(state_after_first_deploy(google)))
    assert CloudRunDeployer({}, clients=second.clients()).plan_calls(DEPLOYMENT) == []
    assert second.mutating() == [] and len(second.requests) == 5  # repository, bucket, three functions


def test_a_pushed_image_runs_by_its_digest_and_a_second_deploy_keeps_it_canned(google: Any) -> None:
    """What a push leaves (the deployer's `pushed`: uri -> reference by digest) is what the service gets;
    the push itself is run against a real registry in tests/executors/test_platform_images.py."""
    first = google(accepting({}))
    deployer = CloudRunDeployer({}, clients=first.clients())
    uri = deployer.image_uri(DEPLOYMENT, DEPLOYMENT.functions[0])
    reference = f"{uri.rsplit(':', 1)[0]}@sha256:{'a' * 64}"
    deployer.pushed[uri] = reference
    deployer.apply(deployer.plan_calls(DEPLOYMENT))
    created = next(r for r in first.mutating() if r.path.endswith("/services") and r.body is not None)
    assert created.body is not None and created.body["template"]["containers"][0]["image"] == reference
    second = google(accepting(deployed_state(first)))
    assert CloudRunDeployer({}, clients=second.clients()).plan_calls(DEPLOYMENT) == []


def test_changed_memory_and_image_update_only_that_function_canned(google: Any) -> None:
    state = state_after_first_deploy(google)
    prep = state[f"/v2/{LOCATION}/services/mlspec-demo-prep"]
    prep["template"]["containers"][0]["resources"]["limits"]["memory"] = "1024Mi"
    prep["labels"]["mlspec-context"] = "old"
    second = google(accepting(state))
    deployer = CloudRunDeployer({}, clients=second.clients())
    [call] = deployer.plan_calls(DEPLOYMENT)
    assert call.operation == "update_service"
    assert call.why == "memory 1024Mi -> 2048Mi, context old -> prep0123456789abcdef"
    deployer.apply([call])
    [patch] = second.mutating()
    assert (patch.method, patch.path) == ("PATCH", f"/v2/{LOCATION}/services/mlspec-demo-prep")
    assert patch.body is not None
    assert patch.body["template"]["containers"][0]["resources"]["limits"]["memory"] == "2048Mi"


def test_destroy_deletes_what_exists_canned(google: Any) -> None:
    state = state_after_first_deploy(google)
    del state[f"/v2/{LOCATION}/services/mlspec-demo-eval"]  # already gone: not deleted again
    second = google(accepting(state))
    deployer = CloudRunDeployer({}, clients=second.clients())
    deployer.apply(deployer.destroy_calls(DEPLOYMENT))
    assert [(r.method, r.path) for r in second.mutating()] == [
        ("DELETE", f"/v2/{LOCATION}/services/mlspec-demo-prep"),
        ("DELETE", f"/v2/{LOCATION}/jobs/mlspec-demo-train"),
        ("DELETE", f"/v1/{LOCATION}/repositories/mlspec-demo"),
        ("DELETE", "/storage/v1/b/mlspec-demo-data"),
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            error(403, "PERMISSION_DENIED", "Permission 'run.services.create' denied on resource"),
            "run.v2.Services.create_service: permission denied: Permission 'run.services.create' denied on resource "
            "(the caller needs roles/run.admin",
        ),
        (
            error(429, "RESOURCE_EXHAUSTED", "Quota exceeded for total allowable CPU per project per region"),
            "run.v2.Services.create_service: quota exceeded: "
            "Quota exceeded for total allowable CPU per project per region",
        ),
    ],
)
def test_permission_and_quota_errors_are_one_clear_line_canned(google: Any, reply: Reply, expected: str) -> None:
    server = google(accepting({}, refuse=reply))
    deployer = CloudRunDeployer({}, clients=server.clients())
    service_call = next(c for c in deployer.plan_calls(DEPLOYMENT) if c.operation == "create_service")
    with pytest.raises(DeployError) as caught:
        deployer.apply([service_call])
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message


def test_rejected_credentials_name_the_chain_canned(google: Any) -> None:
    server = google(lambda method, path, body: error(401, "UNAUTHENTICATED", "Request had invalid credentials"))
    with pytest.raises(CredentialsError, match=r"credentials were refused or expired \(tried: GOOGLE_APPLICATION"):
        CloudRunDeployer({}, clients=server.clients()).plan_calls(DEPLOYMENT)


def test_missing_credentials_name_the_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    with pytest.raises(CredentialsError, match=r"no Google Cloud credentials found \(tried: GOOGLE_APPLICATION"):
        CloudRunDeployer({}).plan_calls(DEPLOYMENT)


def test_memory_outside_the_requested_vcpu_band_is_a_deploy_error(google: Any) -> None:
    server = google(accepting({}))
    with pytest.raises(DeployError, match=re.escape("memory_mb 8192 is outside")):
        CloudRunDeployer({"vcpu": 1.0}, clients=server.clients()).plan_calls(DEPLOYMENT)


def test_a_built_image_is_pushed_only_when_its_tag_is_missing_canned(google: Any) -> None:
    built = Deployment(
        **{
            **DEPLOYMENT.__dict__,
            "functions": tuple(FunctionDeployment(**{**f.__dict__, "image_built": True}) for f in DEPLOYMENT.functions),
        }
    )
    state = state_after_first_deploy(google)
    tags = f"/v1/{LOCATION}/repositories/mlspec-demo/packages"
    state[f"{tags}/demo-prep/tags/abcprep123"] = {"name": "prep tag"}
    state[f"{tags}/demo-eval/tags/abceval123"] = {"name": "eval tag"}
    server = google(accepting(state))
    [push] = CloudRunDeployer({}, clients=server.clients()).plan_calls(built)
    assert (push.service, push.operation) == ("artifactregistry.v1", "push_image")
    assert push.params == {
        "image": "mlspec/demo-train:abctrain123",
        "uri": f"{REGION}-docker.pkg.dev/{PROJECT}/mlspec-demo/demo-train:abctrain123",
    }


SPEC = """\
name: gcpdemo
datasets:
  reviews: {format: imdb, synthetic: {train_size: 100, test_size: 50, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: reviews, max_features: 500}
  train: {kind: train, data: prep, model: logistic_regression, workers: 3, epochs: 1, memory_mb: 4096}
targets:
  gcp-cloud-run: {memory_mb: 1024, timeout_s: 900, vcpu: 1}
"""


def test_a_spec_and_its_build_become_these_requests_canned(google: Any, tmp_path: Path) -> None:
    from mlspec import spec
    from mlspec.compile.build import build
    from mlspec.deploy.deployment import deployment_for, load_manifest

    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC)
    pipeline = spec.load(path)
    build(pipeline, tmp_path / "build", ["gcp-cloud-run"], "none")
    deployment = deployment_for(pipeline, "gcp-cloud-run", load_manifest(tmp_path / "build", pipeline.name))
    server = google(accepting({}))
    deployer = CloudRunDeployer(deployment.settings, clients=server.clients())
    deployer.apply(deployer.plan_calls(deployment))
    services = {r.query["serviceId"][0]: r.body for r in server.mutating() if r.path.endswith("/services")}
    assert set(services) == {"mlspec-gcpdemo-prep", "mlspec-gcpdemo-train"}
    prep, train = services["mlspec-gcpdemo-prep"], services["mlspec-gcpdemo-train"]
    assert prep is not None and train is not None
    assert prep["template"]["containers"][0]["resources"]["limits"] == {"memory": "1024Mi", "cpu": "1"}
    assert train["template"]["containers"][0]["resources"]["limits"] == {"memory": "4096Mi", "cpu": "1"}
    assert (prep["template"]["timeout"], train["template"]["scaling"]["maxInstanceCount"]) == ("900s", 3)
    by_stage = {f.stage: f for f in deployment.functions}
    assert train["labels"]["mlspec-context"] == by_stage["train"].context_hash[:63]
