"""Google Cloud Run deployer: an Artifact Registry repository for the images, a GCS bucket for the
object store, a Cloud Run service per request-style function and a Cloud Run job per batch function
(training workers: task count and parallelism = workers, so every worker runs at once).

Every call's params are the SDK request as plain data (what --dry-run prints is what is sent).
Memory and vCPU follow Cloud Run's memory -> vCPU bands (`mlspec.providers.gcp_cloud_run`); each
resource carries the build context hash as a label, so a second deploy with nothing changed reads
the resources, finds them equal and makes no call. Credentials come from google.auth.default()
(application-default credentials); the project from the spec's settings, else from that chain.

Images: each function runs `<region>-docker.pkg.dev/<project>/<repository>/<image>:<tag>`. A built
image whose tag is not in the repository yet gets `artifactregistry.push_image`: the container
engine's `login --password-stdin` (an OAuth access token of the same credentials, through stdin
only), `tag` and `push`."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from mlspec.deploy.base import (
    ApiCall,
    CredentialsError,
    DeployError,
    Deployment,
    FunctionDeployment,
    Unreachable,
    changes,
)
from mlspec.deploy.deployment import resource_name
from mlspec.deploy.images import RegistryLogin, image_name, pinned, push_with_engine, repository_of
from mlspec.errors import one_line
from mlspec.platforms.gcp_cloud_run.credentials import GCP_CHAIN, GCP_FIX, gcp_credentials
from mlspec.providers import gcp_cloud_run as offerings
from mlspec.providers.catalog import ProviderLimitError

MANAGED_BY = {"managed-by": "mlspec"}
LABEL_VALUE_LENGTH = 63  # GCP label values: at most 63 lowercase letters, digits, '-' or '_'
OPERATION_TIMEOUT_S = 600.0

SERVICES, JOBS, REGISTRY, BUCKETS = "run.v2.Services", "run.v2.Jobs", "artifactregistry.v1", "storage.Buckets"
REGISTRY_USER = "oauth2accesstoken"  # Artifact Registry's user name for an OAuth access token
DRY_RUN_TIMEOUT_S = 10.0  # a dry run's reads: one try each, so it answers at once offline
PROJECT_PLACEHOLDER = "<project>"  # where no project is configured and the credentials could not be read


@dataclass
class GcpClients:
    """The SDK clients a deployer (and the executor) talks through; injected in tests."""

    services: Any  # google.cloud.run_v2.ServicesClient
    jobs: Any  # google.cloud.run_v2.JobsClient
    registry: Any  # google.cloud.artifactregistry_v1.ArtifactRegistryClient
    storage: Any  # google.cloud.storage.Client
    project: str
    credentials: Any = None  # google.auth credentials, for the registry login of a push


def default_clients(project: str | None, transport: str | None = None) -> GcpClients:
    """Clients on the application-default credentials; a missing credential is one clear line. The REST
    transport (a dry run's) refreshes the credentials before it opens any connection."""
    from google.cloud import artifactregistry_v1, run_v2
    from google.cloud.storage import Client as StorageClient

    credentials, found_project = gcp_credentials()
    project = project or found_project
    if not project:
        raise CredentialsError(
            "no Google Cloud project: set `project` in the gcp-cloud-run target, or "
            "GOOGLE_CLOUD_PROJECT, or `gcloud config set project ...`"
        )
    return GcpClients(
        services=run_v2.ServicesClient(credentials=credentials, transport=transport),
        jobs=run_v2.JobsClient(credentials=credentials, transport=transport),
        registry=artifactregistry_v1.ArtifactRegistryClient(credentials=credentials, transport=transport),
        storage=StorageClient(project=project, credentials=credentials),
        project=project,
        credentials=credentials,
    )


def sdk_error(call: ApiCall, exc: Exception) -> Exception:
    """A google-api-core or google-auth error as one line naming the call and what to do. The REST
    and gRPC transports raise different classes for one refusal (Forbidden vs PermissionDenied), but
    both carry the HTTP status as `code`."""
    import requests
    from google.api_core.exceptions import RetryError
    from google.auth.exceptions import GoogleAuthError, TransportError

    where = f"{call.service}.{call.operation}"
    # The REST transport prefixes the request line ("POST https://...: "); the platform's words follow.
    message = re.sub(r"^[A-Z]+ \S+: ", "", one_line(getattr(exc, "message", None) or exc))
    code = getattr(exc, "code", None)
    unreachable = TransportError | RetryError | requests.ConnectionError | requests.Timeout
    if isinstance(exc, unreachable) or code in UNREACHABLE_CODES:
        return Unreachable(f"{where}: {type(exc).__name__}: {message}")
    if isinstance(exc, GoogleAuthError) or code == HTTPStatus.UNAUTHORIZED:
        return CredentialsError(
            f"{where}: Google Cloud credentials were refused or expired (tried: {GCP_CHAIN}): {message}; {GCP_FIX}"
        )
    if code == HTTPStatus.FORBIDDEN:
        return DeployError(
            f"{where}: permission denied: {message} (the caller needs roles/run.admin, "
            "roles/artifactregistry.admin and roles/storage.admin on the project)"
        )
    if code == HTTPStatus.TOO_MANY_REQUESTS:
        return DeployError(
            f"{where}: quota exceeded: {message} (request more quota in the console, or lower memory or workers)"
        )
    if code == HTTPStatus.NOT_FOUND:
        return DeployError(f"{where}: not found: {message}")
    return DeployError(f"{where}: {type(exc).__name__}: {message}")


# gRPC's "no connection" (UNAVAILABLE, as HTTP 503) and a deadline passed waiting for one.
UNREACHABLE_CODES = (HTTPStatus.SERVICE_UNAVAILABLE, HTTPStatus.GATEWAY_TIMEOUT)


def cpu_limit(vcpu: float) -> str:
    """Cloud Run's CPU limit: whole vCPUs as "2", fractions in millicores ("500m")."""
    return str(int(vcpu)) if vcpu == int(vcpu) else f"{round(vcpu * 1000)}m"


def label(value: str) -> str:
    return re.sub(r"[^a-z0-9_-]", "-", value.lower())[:LABEL_VALUE_LENGTH]


class CloudRunDeployer:
    target = "gcp-cloud-run"

    def __init__(self, settings: dict[str, Any], clients: GcpClients | None = None) -> None:
        self.pushed: dict[str, str] = {}  # pushed image uri -> its reference by digest
        self.settings = settings
        self._clients = clients
        self._dry_run = False
        self._blind = False  # assume_nothing_deployed: no reads at all

    @property
    def clients(self) -> GcpClients:
        if self._clients is None:
            project = self.settings.get("project")
            self._clients = default_clients(project, "rest") if self._dry_run else default_clients(project)
        return self._clients

    @property
    def project(self) -> str:
        if self._blind and self._clients is None:
            return str(self.settings.get("project") or os.environ.get("GOOGLE_CLOUD_PROJECT") or PROJECT_PLACEHOLDER)
        return self.clients.project

    def for_dry_run(self) -> None:
        self._dry_run = True

    def assume_nothing_deployed(self) -> None:
        self._blind = True

    # ------------------------------------------------------------------ names

    def location(self, deployment: Deployment) -> str:
        return f"projects/{self.project}/locations/{deployment.region}"

    def repository_id(self, deployment: Deployment) -> str:
        return resource_name("mlspec", deployment.pipeline)

    def resource_path(self, deployment: Deployment, function: FunctionDeployment) -> str:
        kind = "jobs" if function.style == "job" else "services"
        return f"{self.location(deployment)}/{kind}/{function.name}"

    def image_uri(self, deployment: Deployment, function: FunctionDeployment) -> str:
        """Where the function's image lives in Artifact Registry: the local tag's last path part."""
        package, tag = image_name(function.image)
        return f"{registry_host(deployment)}/{self.project}/{self.repository_id(deployment)}/{package}:{tag}"

    def labels(self, deployment: Deployment, function: FunctionDeployment | None = None) -> dict[str, str]:
        labels = {**MANAGED_BY, "mlspec-pipeline": label(deployment.pipeline)}
        if function is not None:
            labels |= {"mlspec-stage": label(function.stage), "mlspec-context": label(function.context_hash)}
        return labels

    # ------------------------------------------------------------------ desired state

    def limits(self, function: FunctionDeployment) -> dict[str, str]:
        offering = offerings.JOB if function.style == "job" else offerings.SERVICE
        try:
            vcpu = offering.vcpu_rule.vcpus_for(function.memory_mb, self.settings.get("vcpu"), function.stage)
        except ProviderLimitError as exc:
            raise DeployError(f"gcp-cloud-run: {exc}") from None
        return {"memory": f"{function.memory_mb}Mi", "cpu": cpu_limit(vcpu)}

    def container(self, deployment: Deployment, function: FunctionDeployment) -> dict[str, Any]:
        return {"image": self.image_uri(deployment, function), "resources": {"limits": self.limits(function)}}

    def service_body(self, deployment: Deployment, function: FunctionDeployment) -> dict[str, Any]:
        container = self.container(deployment, function)
        # CPU only while a request is handled: the request-based billing the cost model prices.
        container["resources"]["cpu_idle"] = True
        return {
            "labels": self.labels(deployment, function),
            "template": {
                "containers": [container],
                "timeout": {"seconds": round(function.timeout_s)},
                # One request per instance: every invocation gets the whole planned memory and CPU.
                "max_instance_request_concurrency": 1,
                "scaling": {"max_instance_count": function.concurrency},
            },
        }

    def job_body(self, deployment: Deployment, function: FunctionDeployment) -> dict[str, Any]:
        return {
            "labels": self.labels(deployment, function),
            "template": {
                "task_count": function.concurrency,
                "parallelism": function.concurrency,  # workers synchronise: all must run at once
                "template": {
                    "containers": [self.container(deployment, function)],
                    "timeout": {"seconds": round(function.timeout_s)},
                    "max_retries": 0,  # the coordinator restarts failed workers from their checkpoint
                },
            },
        }

    @staticmethod
    def summary(function: FunctionDeployment, resource: Any) -> dict[str, Any]:
        """The fields deploy manages, read from a Service or Job (or from the body deploy would send)."""
        if function.style == "job":
            execution = resource.template
            task = execution.template
            fields = {"tasks": execution.task_count, "parallelism": execution.parallelism}
        else:
            task = resource.template
            fields = {"max instances": task.scaling.max_instance_count}
        container = task.containers[0] if task.containers else None
        limits = dict(container.resources.limits) if container else {}
        return {
            # by repository: a pushed image runs by digest (deploy.images.pinned); "context" says which build
            "image": repository_of(container.image) if container else None,
            "memory": limits.get("memory"),
            "cpu": limits.get("cpu"),
            "timeout": round(task.timeout.total_seconds()) if task.timeout else None,
            **fields,
            "context": resource.labels.get("mlspec-context"),
        }

    # ------------------------------------------------------------------ Deployer protocol

    def plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        registry = self.registry_calls(deployment)
        calls = [*registry, *self.bucket_calls(deployment)]
        for function in deployment.functions:
            calls.extend(self.push_calls(deployment, function, new_repository=bool(registry)))
            calls.extend(self.function_calls(deployment, function))
        return calls

    def registry_calls(self, deployment: Deployment) -> list[ApiCall]:
        name = f"{self.location(deployment)}/repositories/{self.repository_id(deployment)}"
        if self.read(REGISTRY, "get_repository", {"name": name}) is not None:
            return []
        return [
            ApiCall(
                REGISTRY,
                "create_repository",
                {
                    "parent": self.location(deployment),
                    "repository_id": self.repository_id(deployment),
                    "repository": {
                        "format_": "DOCKER",
                        "labels": self.labels(deployment),
                        "description": f"mlspec images for pipeline {deployment.pipeline}",
                    },
                },
                "missing",
            )
        ]

    def bucket_calls(self, deployment: Deployment) -> list[ApiCall]:
        if not deployment.own_store:
            return []
        if self.read(BUCKETS, "lookup_bucket", {"bucket_name": deployment.bucket}) is not None:
            return []
        return [
            ApiCall(
                BUCKETS,
                "create_bucket",
                {
                    "name": deployment.bucket,
                    "location": deployment.region,
                    "labels": self.labels(deployment),
                },
                "missing",
            )
        ]

    def push_calls(self, deployment: Deployment, function: FunctionDeployment, new_repository: bool) -> list[ApiCall]:
        """A push for a built image whose tag the repository lacks (an unbuilt one: deploy notes it)."""
        if not function.image_built:
            return []
        package, tag = image_name(function.image)
        name = (
            f"{self.location(deployment)}/repositories/{self.repository_id(deployment)}/packages/{package}/tags/{tag}"
        )
        if not new_repository and self.read(REGISTRY, "get_tag", {"name": name}) is not None:
            return []
        return [
            ApiCall(
                REGISTRY,
                "push_image",
                {"image": function.image, "uri": self.image_uri(deployment, function)},
                "not in Artifact Registry: the engine's login, tag, push",
            )
        ]

    def function_calls(self, deployment: Deployment, function: FunctionDeployment) -> list[ApiCall]:
        from google.cloud import run_v2

        job = function.style == "job"
        service, noun, message = (JOBS, "job", run_v2.Job) if job else (SERVICES, "service", run_v2.Service)
        body = self.job_body(deployment, function) if job else self.service_body(deployment, function)
        path = self.resource_path(deployment, function)
        current = self.read(service, f"get_{noun}", {"name": path})
        if current is None:
            return [
                ApiCall(
                    service,
                    f"create_{noun}",
                    {
                        "parent": self.location(deployment),
                        f"{noun}_id": function.name,
                        noun: body,
                    },
                    "missing",
                )
            ]
        diff = changes(self.summary(function, current), self.summary(function, message(body)))
        if not diff:
            return []
        return [ApiCall(service, f"update_{noun}", {noun: {**body, "name": path}}, ", ".join(diff))]

    def missing_functions(self, deployment: Deployment) -> list[str]:
        """The functions of `deployment` that are not deployed (as a service or job, as the spec says)."""
        return [
            f.name
            for f in deployment.functions
            if self.read(*self.getter(f), {"name": self.resource_path(deployment, f)}) is None
        ]

    @staticmethod
    def getter(function: FunctionDeployment) -> tuple[str, str]:
        return (JOBS, "get_job") if function.style == "job" else (SERVICES, "get_service")

    def destroy_calls(self, deployment: Deployment) -> list[ApiCall]:
        calls = []
        for function in deployment.functions:
            service, noun = (JOBS, "job") if function.style == "job" else (SERVICES, "service")
            path = self.resource_path(deployment, function)
            if self.read(service, f"get_{noun}", {"name": path}) is not None:
                calls.append(ApiCall(service, f"delete_{noun}", {"name": path}, "deployed"))
        repository = f"{self.location(deployment)}/repositories/{self.repository_id(deployment)}"
        if self.read(REGISTRY, "get_repository", {"name": repository}) is not None:
            calls.append(ApiCall(REGISTRY, "delete_repository", {"name": repository}, "deployed"))
        own = deployment.own_store
        if own and self.read(BUCKETS, "lookup_bucket", {"bucket_name": deployment.bucket}) is not None:
            # Not forced: a bucket still holding run data fails with the platform's message instead.
            calls.append(ApiCall(BUCKETS, "delete_bucket", {"name": deployment.bucket}, "deployed"))
        return calls

    def apply(self, calls: list[ApiCall]) -> None:
        for call in calls:
            with translated_errors(call):
                self.send(call)

    # ------------------------------------------------------------------ SDK calls

    def client(self, service: str) -> Any:
        clients = self.clients
        return {SERVICES: clients.services, JOBS: clients.jobs, REGISTRY: clients.registry, BUCKETS: clients.storage}[
            service
        ]

    def read(self, service: str, operation: str, params: dict[str, Any]) -> Any:
        """A get: the resource, or None where it does not exist (or, assuming nothing deployed, always)."""
        from google.api_core.exceptions import NotFound

        if self._blind:
            return None
        once: dict[str, Any] = {"retry": None, "timeout": DRY_RUN_TIMEOUT_S} if self._dry_run else {}
        with translated_errors(ApiCall(service, operation, params, "read")):
            try:
                if service == BUCKETS:
                    return self.clients.storage.lookup_bucket(params["bucket_name"], **once)
                return getattr(self.client(service), operation)(request=params, **once)
            except NotFound:
                return None

    def send(self, call: ApiCall) -> None:
        if call.operation == "push_image":
            self.push_image(call)
            return
        call = dataclasses.replace(call, params=pinned(call.params, self.pushed))
        if call.service == BUCKETS:
            storage = self.clients.storage
            if call.operation == "create_bucket":
                bucket = storage.bucket(call.params["name"])
                bucket.labels = call.params["labels"]
                storage.create_bucket(bucket, location=call.params["location"])
            else:
                storage.bucket(call.params["name"]).delete()
            return
        result = getattr(self.client(call.service), call.operation)(request=call.params)
        if hasattr(result, "result"):  # a long-running operation: wait, so later calls find it done
            result.result(timeout=OPERATION_TIMEOUT_S)

    def push_image(self, call: ApiCall) -> None:
        from google.auth.transport.requests import Request

        credentials = self.clients.credentials
        credentials.refresh(Request())
        uri = call.params["uri"]
        login = RegistryLogin(uri.split("/", 1)[0], REGISTRY_USER, credentials.token)
        self.pushed[uri] = push_with_engine(call.params["image"], uri, login)


def registry_host(deployment: Deployment) -> str:
    return f"{deployment.region}-docker.pkg.dev"


@contextmanager
def translated_errors(call: ApiCall) -> Iterator[None]:
    """google-api-core and google-auth errors leave as one-line DeployError / CredentialsError."""
    import requests
    from google.api_core.exceptions import GoogleAPIError
    from google.auth.exceptions import GoogleAuthError

    try:
        yield
    # The storage client (and a REST transport) let requests' own connection errors through.
    except (GoogleAPIError, GoogleAuthError, requests.ConnectionError, requests.Timeout) as exc:
        raise sdk_error(call, exc) from None
