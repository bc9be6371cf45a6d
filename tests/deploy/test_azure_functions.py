"""The Azure Functions deployer through the real Azure SDK clients (azure-mgmt-web,
azure-mgmt-containerregistry, azure-mgmt-authorization, azure-storage-blob), whose azure-core pipelines send through a
`RequestsTransport` on a requests session with a recording transport adapter mounted: every request
the SDKs build is recorded and answered with canned JSON in the shape of Azure Resource Manager and
Blob storage. No Azure subscription can be reached here: what is checked is the requests, field by
field against the plan."""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("azure.mgmt.web")

import requests
from azure.core.credentials import AccessToken
from azure.core.pipeline.transport import RequestsTransport
from azure.mgmt.authorization import AuthorizationManagementClient
from azure.mgmt.containerregistry import ContainerRegistryManagementClient
from azure.mgmt.web import WebSiteManagementClient
from azure.storage.blob import BlobServiceClient
from urllib3 import HTTPResponse

from mlspec.deploy.base import CredentialsError, DeployError, Deployment, FunctionDeployment
from mlspec.errors import UsageError
from mlspec.platforms.azure_functions.deploy import AzureClients, AzureFunctionsDeployer, app_name

SUBSCRIPTION, GROUP, ACCOUNT = "00000000-1111-2222-3333-444444444444", "mlspec-rg", "mlspecdata"
FAKE_TOKEN = "fake-entra-token-for-tests"  # a test value, never a real credential
ARM = f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{GROUP}/providers"


@dataclass
class Recorded:
    method: str
    host: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: Mapping[str, str]


Reply = tuple[int, dict[str, Any] | None, dict[str, str]]
Answer = Callable[[str, str, dict[str, list[str]], Any], Reply]
ROLE_ASSIGNMENTS = "/providers/Microsoft.Authorization/roleAssignments"


class CannedAzure(requests.adapters.BaseAdapter):
    """A requests transport adapter: records each request the SDK sends, answers from `answer`."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.requests: list[Recorded] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        url = urlsplit(request.url or "")
        raw = request.body.encode() if isinstance(request.body, str) else request.body
        body = json.loads(raw) if raw else None
        self.requests.append(
            Recorded(
                request.method or "", url.hostname or "", url.path, parse_qs(url.query), body, dict(request.headers)
            )
        )
        status, reply, headers = self.answer(request.method or "", url.path, parse_qs(url.query), body)
        data = json.dumps(reply).encode() if reply is not None else b""
        raw_response = HTTPResponse(
            body=io.BytesIO(data),
            status=status,
            preload_content=False,
            headers={"Content-Type": "application/json", "Content-Length": str(len(data)), **headers},
        )
        return requests.adapters.HTTPAdapter().build_response(request, raw_response)

    def close(self) -> None:
        pass

    def mutating(self) -> list[Recorded]:
        """Writes: every request but reads (GET, and the blob container's existence check, a HEAD-like GET)."""
        return [r for r in self.requests if r.method not in ("GET", "HEAD")]

    def clients(self) -> AzureClients:
        session = requests.Session()
        session.mount("https://", self)
        # retry_total=0: a canned 429 is reported at once (the SDKs' default retries would wait it out).
        options: dict[str, Any] = {
            "transport": RequestsTransport(session=session, session_owner=False),
            "retry_total": 0,
            "polling_interval": 0,
        }
        return AzureClients(
            web=WebSiteManagementClient(FixedTokenCredential(), SUBSCRIPTION, **options),
            registry=ContainerRegistryManagementClient(FixedTokenCredential(), SUBSCRIPTION, **options),
            blob=BlobServiceClient(
                f"https://{ACCOUNT}.blob.core.windows.net", credential=FixedTokenCredential(), **options
            ),
            subscription_id=SUBSCRIPTION,
            resource_group=GROUP,
            storage_account=ACCOUNT,
            authorization=AuthorizationManagementClient(FixedTokenCredential(), SUBSCRIPTION, **options),
        )


class FixedTokenCredential:
    """A token credential (azure-core's TokenCredential protocol) with a fixed fake token."""

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(FAKE_TOKEN, int(time.time()) + 3600)


def arm_error(status: int, code: str, message: str) -> Reply:
    return status, {"error": {"code": code, "message": message}}, {}


def principal_of(site_path: str) -> str:
    """The identity ARM gives a new app: a fixed id per app name here."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, site_path.rsplit("/", 1)[1]))


def assignments(existing: dict[str, dict[str, Any]], scope: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """A role assignment list at `scope`, filtered by principal like ARM's `principalId eq '...'`."""
    [principal] = re.findall(r"principalId eq '([^']+)'", query.get("$filter", [""])[0])
    return {
        "value": [
            {"id": path, "name": path.rsplit("/", 1)[1], **body}
            for path, body in existing.items()
            if path.startswith(f"{scope}/") and body["properties"]["principalId"] == principal
        ]
    }


def accepting(existing: dict[str, dict[str, Any]], *, refuse: Reply | None = None) -> Answer:
    """GET answers from `existing` (path -> resource JSON) or 404; writes succeed (or get `refuse`) and
    answer as ARM does: a new app with its identity's principal id."""

    def answer(method: str, path: str, query: dict[str, list[str]], body: Any) -> Reply:
        if method == "GET":
            if path.endswith(ROLE_ASSIGNMENTS):
                return 200, assignments(existing, path.removesuffix(ROLE_ASSIGNMENTS), query), {}
            if path in existing:
                return 200, existing[path], {}
            if path.count("/") == 1:  # a blob container
                return 404, None, {"x-ms-error-code": "ContainerNotFound"}
            return arm_error(404, "ResourceNotFound", f"{path} was not found")
        if refuse is not None:
            return refuse
        if path.count("/") == 1:
            return (201 if method == "PUT" else 202), None, {}
        if method == "DELETE":
            return 200, None, {}
        reply = {**body, "properties": {**body.get("properties", {}), "provisioningState": "Succeeded"}}
        if "/Microsoft.Web/sites/" in path:
            reply["identity"] = {**body["identity"], "principalId": principal_of(path)}
        return 200, reply, {}

    return answer


def function(stage: str, memory_mb: int, timeout_s: float, concurrency: int) -> FunctionDeployment:
    return FunctionDeployment(
        name=f"mlspec-demo-{stage}",
        stage=stage,
        function=stage,
        image=f"mlspec/demo-{stage}:abc{stage}123",
        context_hash=f"{stage}0123456789abcdef",
        memory_mb=memory_mb,
        timeout_s=timeout_s,
        concurrency=concurrency,
        style="request",
    )


DEPLOYMENT = Deployment(
    pipeline="demo",
    target="azure-functions",
    region="eastus",
    bucket="mlspec-demo-data",
    functions=(function("prep", 2048, 300, 1), function("train", 4096, 1800, 4)),
)


def names(adapter: CannedAzure) -> tuple[str, str, str]:
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    return (
        deployer.registry_name(DEPLOYMENT),
        app_name(deployer.clients, DEPLOYMENT.functions[0].name),
        app_name(deployer.clients, DEPLOYMENT.functions[1].name),
    )


def deploy_all(adapter: CannedAzure, pushed: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Deploys (after the pushes `pushed` records), then returns what GETs would find: each PUT body under its path."""
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    deployer.pushed = dict(pushed or {})
    deployer.apply(deployer.plan_calls(DEPLOYMENT))
    state = {r.path: r.body or {} for r in adapter.mutating() if r.method == "PUT"}
    for path, body in state.items():
        if "/Microsoft.Web/sites/" in path:
            body["identity"] = {**body["identity"], "principalId": principal_of(path)}
    return state


def test_first_deploy_creates_everything_with_the_planned_fields_recorded() -> None:
    adapter = CannedAzure(accepting({}))
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    calls = deployer.plan_calls(DEPLOYMENT)
    registry_name, prep_app, train_app = names(adapter)
    grants = [
        f"authorization.RoleAssignments.create  (missing: {role} for {app}'s identity)"
        for app in (prep_app, train_app)
        for role in ("AcrPull", "Storage Blob Data Owner")
    ]
    assert [c.describe() for c in calls] == [
        "containerregistry.Registries.begin_create  (missing)",
        "blob.create_container  (missing)",
        "web.AppServicePlans.begin_create_or_update  (missing)",
        "web.WebApps.begin_create_or_update  (missing)",
        *grants[:2],
        "web.WebApps.begin_create_or_update  (missing)",
        *grants[2:],
    ]
    assert adapter.mutating() == []
    deployer.apply(calls)

    sent = adapter.mutating()
    registry_scope = f"{ARM}/Microsoft.ContainerRegistry/registries/{registry_name}"
    account_scope = f"{ARM}/Microsoft.Storage/storageAccounts/{ACCOUNT}"
    assert [(r.method, r.host, r.path.rsplit("/", 1)[0]) for r in sent] == [
        ("PUT", "management.azure.com", f"{ARM}/Microsoft.ContainerRegistry/registries"),
        ("PUT", f"{ACCOUNT}.blob.core.windows.net", ""),
        ("PUT", "management.azure.com", f"{ARM}/Microsoft.Web/serverfarms"),
        ("PUT", "management.azure.com", f"{ARM}/Microsoft.Web/sites"),
        ("PUT", "management.azure.com", f"{registry_scope}{ROLE_ASSIGNMENTS}"),
        ("PUT", "management.azure.com", f"{account_scope}{ROLE_ASSIGNMENTS}"),
        ("PUT", "management.azure.com", f"{ARM}/Microsoft.Web/sites"),
        ("PUT", "management.azure.com", f"{registry_scope}{ROLE_ASSIGNMENTS}"),
        ("PUT", "management.azure.com", f"{account_scope}{ROLE_ASSIGNMENTS}"),
    ]
    registry, container, plan, prep, prep_pull, prep_blob, train, train_pull, train_blob = sent
    assert (registry.path, container.path) == (registry_scope, "/mlspec-demo-data")
    sites = f"{ARM}/Microsoft.Web/sites"
    assert (prep.path, train.path) == (f"{sites}/{prep_app}", f"{sites}/{train_app}")
    # Each app's identity (its principal id from the create call's response) gets AcrPull on the registry
    # and Storage Blob Data Owner on the storage account.
    roles = f"/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Authorization/roleDefinitions"
    for put, site, role in (
        (prep_pull, prep, "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
        (prep_blob, prep, "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
        (train_pull, train, "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
        (train_blob, train, "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"),
    ):
        assert put.body == {
            "properties": {
                "roleDefinitionId": f"{roles}/{role}",
                "principalId": principal_of(site.path),
                "principalType": "ServicePrincipal",
            }
        }
        uuid.UUID(put.path.rsplit("/", 1)[1])  # assignment names are GUIDs
    assert registry.body["sku"] == {"name": "Basic"} and registry.body["properties"] == {"adminUserEnabled": False}
    assert container.query["restype"] == ["container"]
    assert container.headers["x-ms-meta-mlspec_pipeline"] == "demo"
    # The largest function (4096 MB) needs EP2 (7 GB); all four workers may run at once.
    assert plan.body["sku"] == {"name": "EP2", "tier": "ElasticPremium"}
    assert plan.body["kind"] == "elastic"
    assert plan.body["properties"] == {"reserved": True, "maximumElasticWorkerCount": 4}

    assert train.body["kind"] == "functionapp,linux,container"
    assert train.body["identity"] == {"type": "SystemAssigned"}
    properties = train.body["properties"]
    assert properties["serverFarmId"].endswith("/Microsoft.Web/serverfarms/mlspec-demo-plan")
    config = properties["siteConfig"]
    assert config["linuxFxVersion"] == f"DOCKER|{registry_name}.azurecr.io/demo-train:abctrain123"
    assert config["acrUseManagedIdentityCreds"] is True
    assert config["functionAppScaleLimit"] == 4
    settings = {s["name"]: s["value"] for s in config["appSettings"]}
    assert settings["AzureFunctionsJobHost__functionTimeout"] == "00:30:00"
    assert settings["AzureWebJobsStorage__accountName"] == ACCOUNT
    assert train.body["tags"]["mlspec-context"] == "train0123456789abcdef"
    assert prep.body["properties"]["siteConfig"]["appSettings"][-1] == {
        "name": "AzureFunctionsJobHost__functionTimeout",
        "value": "00:05:00",
    }
    # The token went only into the Authorization header, never into a call's parameters.
    assert all(r.headers["Authorization"] == f"Bearer {FAKE_TOKEN}" for r in sent)
    assert FAKE_TOKEN not in repr(calls)


def test_second_deploy_with_nothing_changed_makes_no_call_recorded() -> None:
    state = deploy_all(CannedAzure(accepting({})))
    adapter = CannedAzure(accepting(state))
    assert AzureFunctionsDeployer({}, clients=adapter.clients()).plan_calls(DEPLOYMENT) == []
    # Reads only: registry, container, plan, each app and its identity's assignments at the two scopes.
    assert adapter.mutating() == [] and len(adapter.requests) == 3 + 2 * 3


def test_a_pushed_image_runs_by_its_digest_and_a_second_deploy_keeps_it_recorded() -> None:
    """What a push leaves (the deployer's `pushed`: uri -> reference by digest) is what the app runs; its
    tags keep the uri. The push itself is run against a real registry in tests/executors/test_platform_images.py."""
    adapter = CannedAzure(accepting({}))
    uri = AzureFunctionsDeployer({}, clients=adapter.clients()).image_uri(DEPLOYMENT, DEPLOYMENT.functions[0])
    reference = f"{uri.rsplit(':', 1)[0]}@sha256:{'b' * 64}"
    state = deploy_all(adapter, {uri: reference})
    app = next(body for body in state.values() if uri in str(body))
    assert app["properties"]["siteConfig"]["linuxFxVersion"] == f"DOCKER|{reference}"
    assert app["tags"]["mlspec-image"] == uri
    assert AzureFunctionsDeployer({}, clients=CannedAzure(accepting(state)).clients()).plan_calls(DEPLOYMENT) == []


def test_changed_timeout_updates_only_that_app_recorded() -> None:
    state = deploy_all(CannedAzure(accepting({})))
    adapter = CannedAzure(accepting(state))
    slower = Deployment(
        **{**DEPLOYMENT.__dict__, "functions": (DEPLOYMENT.functions[0], function("train", 4096, 3600, 4))}
    )
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    [call] = deployer.plan_calls(slower)
    assert call.why == "timeout 00:30:00 -> 01:00:00"
    deployer.apply([call])
    [put] = adapter.mutating()
    settings = {s["name"]: s["value"] for s in put.body["properties"]["siteConfig"]["appSettings"]}
    assert settings["AzureFunctionsJobHost__functionTimeout"] == "01:00:00"


def test_destroy_deletes_what_exists_recorded() -> None:
    state = deploy_all(CannedAzure(accepting({})))
    adapter = CannedAzure(accepting({**state, "/mlspec-demo-data": {}}))
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    deployer.apply(deployer.destroy_calls(DEPLOYMENT))
    registry_name, prep_app, train_app = names(adapter)
    grants = {path for path in state if ROLE_ASSIGNMENTS in path}
    deleted = [(r.method, r.path) for r in adapter.mutating()]
    # Each app's role assignments go just before the app.
    assert {path for _, path in deleted[0:2] + deleted[3:5]} == grants and len(grants) == 4
    assert {method for method, _ in deleted} == {"DELETE"}
    assert [deleted[2], deleted[5], *deleted[6:]] == [
        ("DELETE", f"{ARM}/Microsoft.Web/sites/{prep_app}"),
        ("DELETE", f"{ARM}/Microsoft.Web/sites/{train_app}"),
        ("DELETE", f"{ARM}/Microsoft.Web/serverfarms/mlspec-demo-plan"),
        ("DELETE", f"{ARM}/Microsoft.ContainerRegistry/registries/{registry_name}"),
        ("DELETE", "/mlspec-demo-data"),
    ]


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            arm_error(
                403,
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.Web/sites/write'",
            ),
            "web.WebApps.begin_create_or_update: permission denied (AuthorizationFailed): The client does not have "
            "authorization to perform action 'Microsoft.Web/sites/write' (the caller needs Contributor",
        ),
        (
            arm_error(429, "TooManyRequests", "Too many requests, retry later"),
            "web.WebApps.begin_create_or_update: quota exceeded (TooManyRequests): Too many requests, retry later",
        ),
        (
            arm_error(
                409, "SubscriptionIsOverQuotaForSku", "This region has quota of 0 instances for your subscription"
            ),
            "web.WebApps.begin_create_or_update: quota exceeded (SubscriptionIsOverQuotaForSku): This region has quota",
        ),
    ],
)
def test_permission_and_quota_errors_are_one_clear_line_recorded(reply: Reply, expected: str) -> None:
    adapter = CannedAzure(accepting({}, refuse=reply))
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    app_call = next(c for c in deployer.plan_calls(DEPLOYMENT) if c.service == "web.WebApps")
    with pytest.raises(DeployError) as caught:
        deployer.apply([app_call])
    message = str(caught.value)
    assert message.startswith(expected) and "\n" not in message and FAKE_TOKEN not in message


def test_rejected_credentials_name_the_chain_recorded() -> None:
    adapter = CannedAzure(lambda method, path, query, body: arm_error(401, "InvalidAuthenticationToken", "expired"))
    with pytest.raises(CredentialsError, match=r"Azure refused the credentials \(tried: DefaultAzureCredential"):
        AzureFunctionsDeployer({}, clients=adapter.clients()).plan_calls(DEPLOYMENT)


def test_memory_beyond_the_largest_premium_instance_is_a_deploy_error() -> None:
    adapter = CannedAzure(accepting({}))
    huge = Deployment(**{**DEPLOYMENT.__dict__, "functions": (function("train", 32768, 60, 1),)})
    with pytest.raises(DeployError, match="memory_mb 32768 is more than the largest Premium instance"):
        AzureFunctionsDeployer({}, clients=adapter.clients()).plan_calls(huge)


def test_missing_subscription_is_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    with pytest.raises(UsageError, match="needs `subscription_id` in the target's settings or AZURE_SUBSCRIPTION_ID"):
        AzureFunctionsDeployer({}).plan_calls(DEPLOYMENT)


def test_a_built_image_is_pushed_only_when_the_app_does_not_run_it_yet_recorded() -> None:
    built = Deployment(
        **{
            **DEPLOYMENT.__dict__,
            "functions": tuple(FunctionDeployment(**{**f.__dict__, "image_built": True}) for f in DEPLOYMENT.functions),
        }
    )
    state = deploy_all(CannedAzure(accepting({})))
    adapter = CannedAzure(accepting(state))
    assert AzureFunctionsDeployer({}, clients=adapter.clients()).plan_calls(built) == []
    newer = Deployment(
        **{
            **built.__dict__,
            "functions": (
                built.functions[0],
                FunctionDeployment(
                    **{**built.functions[1].__dict__, "image": "mlspec/demo-train:new1", "context_hash": "new1"}
                ),
            ),
        }
    )
    push, update = AzureFunctionsDeployer({}, clients=adapter.clients()).plan_calls(newer)
    registry_name = names(adapter)[0]
    assert (push.operation, push.params) == (
        "push_image",
        {"image": "mlspec/demo-train:new1", "uri": f"{registry_name}.azurecr.io/demo-train:new1"},
    )
    assert update.operation == "begin_create_or_update"
    old, new = (f"{registry_name}.azurecr.io/demo-train:{tag}" for tag in ("abctrain123", "new1"))
    assert update.why == f"context train0123456789abcdef -> new1, image {old} -> {new}"


def test_a_missing_role_assignment_is_the_only_call_recorded() -> None:
    """Idempotent grants: the existing assignments are listed first; only the missing one is made."""
    state = deploy_all(CannedAzure(accepting({})))
    blob_grant = next(
        p
        for p, body in state.items()
        if ROLE_ASSIGNMENTS in p
        and "storageAccounts" in p
        and body["properties"]["principalId"] == principal_of(next(s for s in state if "-train-" in s))
    )
    adapter = CannedAzure(accepting({p: b for p, b in state.items() if p != blob_grant}))
    deployer = AzureFunctionsDeployer({}, clients=adapter.clients())
    [call] = deployer.plan_calls(DEPLOYMENT)
    train_app = names(adapter)[2]
    assert call.describe() == (
        f"authorization.RoleAssignments.create  (missing: Storage Blob Data Owner for {train_app}'s identity)"
    )
    deployer.apply([call])
    [put] = adapter.mutating()
    assert put.path == blob_grant  # the same name as before: derived from scope, principal and role


@pytest.mark.parametrize("plan", ["flex", "consumption"])
def test_a_plan_that_cannot_run_images_is_refused_before_any_call(plan: str) -> None:
    adapter = CannedAzure(accepting({}))
    refusal = rf"`plan: {plan}` cannot run mlspec's container images .* set `plan: premium`"
    with pytest.raises(UsageError, match=refusal):
        AzureFunctionsDeployer({"plan": plan}, clients=adapter.clients()).plan_calls(DEPLOYMENT)
    assert adapter.requests == []
