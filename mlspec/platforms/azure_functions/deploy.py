"""Azure Functions deployer: an Azure Container Registry for the images, one Elastic Premium plan for
the pipeline, a Function App per stage running its image, and a Blob container for the object store.

Why Premium and not Flex Consumption: `mlspec build` makes a complete Functions image (the Functions
host from Azure's base image plus the worker and the code). Flex Consumption runs only code packages
or, in preview, worker-only images, and Consumption no images at all; full images need a Premium (or
Dedicated) plan, so deploy refuses a target whose `plan` is not `premium`. The plan's SKU is the
smallest whose instance memory holds the largest function (EP1 3.5 GB, EP2 7 GB, EP3 14 GB: the
catalog's `azure-functions:premium` sizes).

The timeout lives in host.json (`functionTimeout`, rendered into the image by `mlspec build`); deploy
also sets the app setting `AzureFunctionsJobHost__functionTimeout`, which overrides host.json, so a
changed timeout is an app update, not a rebuild. Each app's scale limit is the stage's fan-out.

Every call's params are the SDK call's keyword arguments, bodies in the REST shape the SDK sends.
Apps carry what deploy manages (context hash, image, timeout, scale) as tags, so a second deploy with
nothing changed makes no call. Credentials: DefaultAzureCredential. The apps use their system-assigned
identity for the registry pull and the storage account (no secret in any app setting): each app's
identity gets AcrPull on the registry and Storage Blob Data Owner on the storage account, as role
assignments (azure-mgmt-authorization) made once the app exists, since its identity's principal id
comes back from the app's create call. They are listed first (a second deploy makes none) and
removed by destroy before the app. The resource group and the storage account (in that group) must
exist: `resource_group`, `storage_account` and `subscription_id` in the target's settings, else
AZURE_RESOURCE_GROUP, AZURE_STORAGE_ACCOUNT and AZURE_SUBSCRIPTION_ID."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import uuid
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
from mlspec.deploy.images import RegistryLogin, image_name, pinned, push_with_engine
from mlspec.errors import UsageError, one_line
from mlspec.platforms.azure_functions.credentials import AZURE_CHAIN, AZURE_FIX, azure_credential
from mlspec.providers.azure_functions import PLATFORM, PREMIUM, PREMIUM_SKU_NAMES

PLANS, APPS, REGISTRIES, CONTAINERS = "web.AppServicePlans", "web.WebApps", "containerregistry.Registries", "blob"
ROLES = "authorization.RoleAssignments"
# Built-in role definitions (the same ids in every tenant).
# https://learn.microsoft.com/azure/role-based-access-control/built-in-roles (read 2026-11-23)
ACR_PULL = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
ROLE_NAMES = {ACR_PULL: "AcrPull", BLOB_DATA_OWNER: "Storage Blob Data Owner"}
# ACR's user name for a registry refresh token obtained from an Entra ID token (the "exchange" flow).
ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"
ARM_SCOPE = "https://management.azure.com/.default"
FUNCTION_ROUTE = "invoke"  # the shim's route: POST /api/invoke
FUNCTION_NAME = "invoke_http"  # the shim's function, whose key the executor reads
REGISTRY_NAME_LENGTH = 50
APP_NAME_LENGTH = 60
# A dry run's reads (and its token): one try each, so it answers at once offline.
DRY_RUN_OPTIONS = {"retry_total": 0, "connection_timeout": 3, "read_timeout": 10}


@dataclass
class AzureClients:
    """The SDK clients a deployer (and the executor) talks through; injected in tests."""

    web: Any  # azure.mgmt.web.WebSiteManagementClient
    registry: Any  # azure.mgmt.containerregistry.ContainerRegistryManagementClient
    blob: Any  # azure.storage.blob.BlobServiceClient on the storage account
    subscription_id: str
    resource_group: str
    storage_account: str
    credential: Any = None  # for the registry login of a push
    authorization: Any = None  # azure.mgmt.authorization.AuthorizationManagementClient (deploy and destroy)


def setting(settings: dict[str, Any], key: str, variable: str) -> str:
    value = settings.get(key) or os.environ.get(variable)
    if not value:
        raise UsageError(f"azure-functions needs `{key}` in the target's settings or {variable} in the environment")
    return str(value)


def default_clients(settings: dict[str, Any], **options: Any) -> AzureClients:
    """Clients on DefaultAzureCredential; `options` go to the credential and every client (a dry run's)."""
    from azure.mgmt.authorization import AuthorizationManagementClient
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient
    from azure.mgmt.web import WebSiteManagementClient
    from azure.storage.blob import BlobServiceClient

    names = names_only(settings)
    subscription, account = names.subscription_id, names.storage_account
    credential = azure_credential(**options)
    return AzureClients(
        web=WebSiteManagementClient(credential, subscription, **options),
        registry=ContainerRegistryManagementClient(credential, subscription, **options),
        blob=BlobServiceClient(f"https://{account}.blob.core.windows.net", credential=credential, **options),
        subscription_id=subscription,
        resource_group=names.resource_group,
        storage_account=account,
        credential=credential,
        authorization=AuthorizationManagementClient(credential, subscription, **options),
    )


def names_only(settings: dict[str, Any]) -> AzureClients:
    """No clients, only the names the settings give (what a plan needs when nothing can be read)."""
    return AzureClients(
        web=None,
        registry=None,
        blob=None,
        subscription_id=setting(settings, "subscription_id", "AZURE_SUBSCRIPTION_ID"),
        resource_group=setting(settings, "resource_group", "AZURE_RESOURCE_GROUP"),
        storage_account=setting(settings, "storage_account", "AZURE_STORAGE_ACCOUNT"),
    )


def unique_suffix(clients: AzureClients) -> str:
    """App and registry host names are global: a short hash of subscription and group keeps ours apart."""
    return hashlib.sha256(f"{clients.subscription_id}/{clients.resource_group}".encode()).hexdigest()[:6]


def app_name(clients: AzureClients, function: str) -> str:
    """The Function App of a function (FunctionDeployment.name)."""
    return resource_name(function, unique_suffix(clients), max_length=APP_NAME_LENGTH)


def function_url(app: str) -> str:
    return f"https://{app}.azurewebsites.net/api/{FUNCTION_ROUTE}"


def premium_sku(memory_mb: int) -> str:
    """The smallest Elastic Premium instance whose memory holds `memory_mb`."""
    sizes = PREMIUM.allowed_memory_mb.value if PREMIUM.allowed_memory_mb else ()
    for capacity, sku in zip(sizes, PREMIUM_SKU_NAMES, strict=True):
        if memory_mb <= capacity:
            return sku
    raise DeployError(
        f"azure-functions: memory_mb {memory_mb} is more than the largest Premium instance "
        f"({sizes[-1]} MB, {PREMIUM_SKU_NAMES[-1]})"
    )


def check_plan(settings: dict[str, Any]) -> None:
    """Only Elastic Premium runs a full Functions container image (the platform's undeployable offerings);
    settings without a `plan` (not from a spec) mean premium."""
    problem = PLATFORM.deploy_problem(settings)
    if problem:
        raise UsageError(f"azure-functions: {problem}")


def role_assignment_name(scope: str, principal: str, role: str) -> str:
    """Role assignment names are GUIDs; one derived from what it grants makes a repeated create harmless."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{scope}|{principal}|{role}"))


def function_timeout(seconds: float) -> str:
    """host.json's `functionTimeout` format, hh:mm:ss."""
    minutes, second = divmod(round(seconds), 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}:{second:02d}"


def sdk_error(call: ApiCall, exc: Exception) -> Exception:
    """An azure-core error as one line naming the call and what to do."""
    from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

    where = f"{call.service}.{call.operation}"
    if isinstance(exc, ServiceRequestError | ServiceResponseError):  # no connection, or none answered
        return Unreachable(f"{where}: {one_line(exc)}")
    error = getattr(exc, "error", None)
    code = str(getattr(error, "code", None) or "")
    message = one_line(getattr(error, "message", None) or getattr(exc, "message", None) or exc)
    status = getattr(exc, "status_code", None)
    if isinstance(exc, ClientAuthenticationError) or status == HTTPStatus.UNAUTHORIZED:
        return CredentialsError(
            f"{where}: Azure refused the credentials (tried: {AZURE_CHAIN}): {message}; {AZURE_FIX}"
        )
    label = f" ({code})" if code else ""
    if status == HTTPStatus.FORBIDDEN:
        need = (
            "Storage Blob Data Contributor on the storage account"
            if call.service == CONTAINERS
            else "Contributor on the resource group"
        )
        return DeployError(f"{where}: permission denied{label}: {message} (the caller needs {need})")
    if status == HTTPStatus.TOO_MANY_REQUESTS or "quota" in code.lower():
        return DeployError(
            f"{where}: quota exceeded{label}: {message} (request more quota, or lower memory or workers)"
        )
    return DeployError(f"{where}: HTTP {status}{label}: {message}")


@contextmanager
def translated_errors(call: ApiCall) -> Iterator[None]:
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        raise sdk_error(call, exc) from None


class AzureFunctionsDeployer:
    target = "azure-functions"

    def __init__(self, settings: dict[str, Any], clients: AzureClients | None = None) -> None:
        self.pushed: dict[str, str] = {}  # pushed image uri -> its reference by digest
        self.settings = settings
        self._clients = clients
        self._principals: dict[str, str | None] = {}  # app -> its identity, from the create call's response
        self._options: dict[str, Any] = {}
        self._blind = False  # assume_nothing_deployed: no reads at all

    @property
    def clients(self) -> AzureClients:
        if self._clients is None:
            blind = self._blind
            self._clients = names_only(self.settings) if blind else default_clients(self.settings, **self._options)
        return self._clients

    def for_dry_run(self) -> None:
        self._options = DRY_RUN_OPTIONS

    def assume_nothing_deployed(self) -> None:
        self._blind = True

    # ------------------------------------------------------------------ names

    def registry_name(self, deployment: Deployment) -> str:
        """Registry names: letters and digits only, 5-50 characters, global."""
        name = re.sub(r"[^a-z0-9]", "", f"mlspec{deployment.pipeline.lower()}")
        return f"{name[: REGISTRY_NAME_LENGTH - 6]}{unique_suffix(self.clients)}"

    def plan_name(self, deployment: Deployment) -> str:
        return resource_name("mlspec", deployment.pipeline, "plan", max_length=APP_NAME_LENGTH)

    def plan_id(self, deployment: Deployment) -> str:
        return f"{self.group_id()}/providers/Microsoft.Web/serverfarms/{self.plan_name(deployment)}"

    def group_id(self) -> str:
        return f"/subscriptions/{self.clients.subscription_id}/resourceGroups/{self.clients.resource_group}"

    def role_scopes(self, deployment: Deployment) -> dict[str, str]:
        """Role definition id -> the scope the apps' identities need it on."""
        return {
            ACR_PULL: f"{self.group_id()}/providers/Microsoft.ContainerRegistry/registries/"
            f"{self.registry_name(deployment)}",
            BLOB_DATA_OWNER: f"{self.group_id()}/providers/Microsoft.Storage/storageAccounts/"
            f"{self.clients.storage_account}",
        }

    def role_definition_id(self, role: str) -> str:
        return f"/subscriptions/{self.clients.subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role}"

    def image_uri(self, deployment: Deployment, function: FunctionDeployment) -> str:
        package, tag = image_name(function.image)
        return f"{self.registry_name(deployment)}.azurecr.io/{package}:{tag}"

    def tags(self, deployment: Deployment, function: FunctionDeployment | None = None) -> dict[str, str]:
        tags = {"managed-by": "mlspec", "mlspec-pipeline": deployment.pipeline}
        if function is not None:
            tags |= {
                "mlspec-stage": function.stage,
                "mlspec-context": function.context_hash,
                "mlspec-image": self.image_uri(deployment, function),
                "mlspec-timeout": function_timeout(function.timeout_s),
                "mlspec-scale": str(function.concurrency),
            }
        return tags

    # ------------------------------------------------------------------ desired state

    def plan_body(self, deployment: Deployment) -> dict[str, Any]:
        sku = premium_sku(max(f.memory_mb for f in deployment.functions))
        return {
            "location": deployment.region,
            "kind": "elastic",
            "tags": self.tags(deployment),
            "sku": {"name": sku, "tier": "ElasticPremium"},
            "properties": {
                "reserved": True,  # Linux
                "maximumElasticWorkerCount": max(f.concurrency for f in deployment.functions),
            },
        }

    def app_body(self, deployment: Deployment, function: FunctionDeployment) -> dict[str, Any]:
        settings = {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "WEBSITES_ENABLE_APP_SERVICE_STORAGE": "false",
            "AzureWebJobsStorage__accountName": self.clients.storage_account,  # identity-based, no key
            "AzureFunctionsJobHost__functionTimeout": function_timeout(function.timeout_s),  # overrides host.json
        }
        return {
            "location": deployment.region,
            "kind": "functionapp,linux,container",
            "tags": self.tags(deployment, function),
            "identity": {"type": "SystemAssigned"},
            "properties": {
                "serverFarmId": self.plan_id(deployment),
                "httpsOnly": True,
                "siteConfig": {
                    "linuxFxVersion": f"DOCKER|{self.image_uri(deployment, function)}",
                    "acrUseManagedIdentityCreds": True,
                    "functionAppScaleLimit": function.concurrency,
                    "appSettings": [{"name": k, "value": v} for k, v in settings.items()],
                },
            },
        }

    # ------------------------------------------------------------------ Deployer protocol

    def plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        check_plan(self.settings)
        calls = [
            *self.registry_calls(deployment),
            *self.container_calls(deployment),
            *self.service_plan_calls(deployment),
        ]
        for function in deployment.functions:
            calls.extend(self.app_calls(deployment, function))
        return calls

    def group(self) -> dict[str, str]:
        return {"resource_group_name": self.clients.resource_group}

    def registry_calls(self, deployment: Deployment) -> list[ApiCall]:
        name = self.registry_name(deployment)
        if self.read(REGISTRIES, "get", {**self.group(), "registry_name": name}) is not None:
            return []
        body = {
            "location": deployment.region,
            "tags": self.tags(deployment),
            "sku": {"name": "Basic"},
            "properties": {"adminUserEnabled": False},
        }
        return [
            ApiCall(REGISTRIES, "begin_create", {**self.group(), "registry_name": name, "registry": body}, "missing")
        ]

    def container_calls(self, deployment: Deployment) -> list[ApiCall]:
        if not deployment.own_store or self.read(CONTAINERS, "exists", {"name": deployment.bucket}):
            return []
        return [
            ApiCall(
                CONTAINERS,
                "create_container",
                {
                    "name": deployment.bucket,
                    "metadata": {"managed_by": "mlspec", "mlspec_pipeline": deployment.pipeline},
                },
                "missing",
            )
        ]

    def service_plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        body = self.plan_body(deployment)
        params = {**self.group(), "name": self.plan_name(deployment), "app_service_plan": body}
        current = self.read(PLANS, "get", {**self.group(), "name": self.plan_name(deployment)})
        if current is None:
            return [ApiCall(PLANS, "begin_create_or_update", params, "missing")]
        diff = changes(plan_summary(current), plan_summary(body))
        return [ApiCall(PLANS, "begin_create_or_update", params, ", ".join(diff))] if diff else []

    def app_calls(self, deployment: Deployment, function: FunctionDeployment) -> list[ApiCall]:
        name = app_name(self.clients, function.name)
        current = self.read(APPS, "get", {**self.group(), "name": name})
        current_tags = dict(current.get("tags") or {}) if current is not None else {}
        desired = self.tags(deployment, function)
        calls = []
        # An image the app already runs is in the registry; an unbuilt one cannot be pushed (deploy notes it).
        if function.image_built and current_tags.get("mlspec-image") != desired["mlspec-image"]:
            calls.append(
                ApiCall(
                    REGISTRIES,
                    "push_image",
                    {
                        "image": function.image,
                        "uri": self.image_uri(deployment, function),
                    },
                    "not in the registry: token exchange, then the engine's login, tag, push",
                )
            )
        diff = changes(
            {k.removeprefix("mlspec-"): v for k, v in current_tags.items()},
            {k.removeprefix("mlspec-"): v for k, v in desired.items()},
        )
        if current is None or diff:
            calls.append(
                ApiCall(
                    APPS,
                    "begin_create_or_update",
                    {
                        **self.group(),
                        "name": name,
                        "site_envelope": self.app_body(deployment, function),
                    },
                    "missing" if current is None else ", ".join(diff),
                )
            )
        return calls + self.role_calls(deployment, name, principal_id(current))

    def role_calls(self, deployment: Deployment, app: str, principal: str | None) -> list[ApiCall]:
        """The app identity's missing role assignments. A new app's principal id is known only once it is
        created: apply reads it from the create call's response (`principal_of`)."""
        granted = {role for role, _, _ in self.assignments(deployment, principal)} if principal else set()
        return [
            ApiCall(
                ROLES,
                "create",
                {
                    "scope": scope,
                    "role_definition_id": self.role_definition_id(role),
                    "principal_of": app,
                },
                f"missing: {ROLE_NAMES[role]} for {app}'s identity",
            )
            for role, scope in self.role_scopes(deployment).items()
            if role not in granted
        ]

    def assignments(self, deployment: Deployment, principal: str) -> list[tuple[str, str, str]]:
        """(role definition GUID, scope, assignment name) of the principal's assignments of mlspec's roles."""
        found = []
        for role, scope in self.role_scopes(deployment).items():
            params = {"scope": scope, "filter": f"principalId eq '{principal}'"}
            for assignment in self.read(ROLES, "list_for_scope", params) or ():
                if str(assignment.role_definition_id).lower().endswith(f"/{role}"):
                    found.append((role, scope, str(assignment.name)))
        return found

    def missing_functions(self, deployment: Deployment) -> list[str]:
        """The functions of `deployment` whose Function App does not exist."""
        apps = {f.name: {**self.group(), "name": app_name(self.clients, f.name)} for f in deployment.functions}
        return [name for name, params in apps.items() if self.read(APPS, "get", params) is None]

    def destroy_calls(self, deployment: Deployment) -> list[ApiCall]:
        calls = []
        for function in deployment.functions:
            params = {**self.group(), "name": app_name(self.clients, function.name)}
            current = self.read(APPS, "get", params)
            if current is None:
                continue
            principal = principal_id(current)
            # An app's role assignments go before it: once its identity is gone they cannot be told apart.
            for role, scope, name in self.assignments(deployment, principal) if principal else ():
                calls.append(
                    ApiCall(
                        ROLES,
                        "delete",
                        {"scope": scope, "role_assignment_name": name},
                        f"{ROLE_NAMES[role]} of {params['name']}'s identity",
                    )
                )
            calls.append(ApiCall(APPS, "delete", params, "deployed"))
        plan = {**self.group(), "name": self.plan_name(deployment)}
        if self.read(PLANS, "get", plan) is not None:
            calls.append(ApiCall(PLANS, "delete", plan, "deployed"))
        registry = {**self.group(), "registry_name": self.registry_name(deployment)}
        if self.read(REGISTRIES, "get", registry) is not None:
            calls.append(ApiCall(REGISTRIES, "begin_delete", registry, "deployed"))
        if deployment.own_store and self.read(CONTAINERS, "exists", {"name": deployment.bucket}):
            calls.append(ApiCall(CONTAINERS, "delete_container", {"container": deployment.bucket}, "deployed"))
        return calls

    def apply(self, calls: list[ApiCall]) -> None:
        for call in calls:
            with translated_errors(call):
                if call.operation == "push_image":
                    self.push_image(call)
                    continue
                if (call.service, call.operation) == (ROLES, "create"):
                    self.grant_role(call)
                    continue
                if call.service == APPS and call.operation == "begin_create_or_update":
                    call = self.pinned_app(call)
                result = self.operation(call)(**call.params)
                if hasattr(result, "result"):  # a poller: wait, so later calls find it done
                    result = result.result()
                if call.service == APPS and call.operation == "begin_create_or_update":
                    self._principals[call.params["name"]] = principal_id(result)

    def pinned_app(self, call: ApiCall) -> ApiCall:
        """The app's image by the digest it was just pushed as (deploy.images.pinned); its tags keep the
        uri, which is what the next deploy compares."""
        envelope = call.params["site_envelope"]
        properties = pinned(envelope["properties"], self.pushed)
        return dataclasses.replace(
            call, params={**call.params, "site_envelope": {**envelope, "properties": properties}}
        )

    def grant_role(self, call: ApiCall) -> None:
        app = call.params["principal_of"]
        principal = self._principals.get(app) or principal_id(self.read(APPS, "get", {**self.group(), "name": app}))
        if principal is None:
            raise DeployError(f"{ROLES}.create: {app} has no system-assigned identity yet; deploy again in a minute")
        scope, role = call.params["scope"], call.params["role_definition_id"]
        self.clients.authorization.role_assignments.create(
            scope=scope,
            role_assignment_name=role_assignment_name(scope, principal, role),
            parameters={
                "properties": {"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}
            },
        )

    # ------------------------------------------------------------------ SDK calls

    def operation(self, call: ApiCall) -> Any:
        c = self.clients
        group = {PLANS: c.web.app_service_plans, APPS: c.web.web_apps, REGISTRIES: c.registry.registries}
        if call.service == ROLES:
            return getattr(c.authorization.role_assignments, call.operation)
        if call.service == CONTAINERS:
            if call.operation == "exists":
                return lambda name: c.blob.get_container_client(name).exists()
            return getattr(c.blob, call.operation)
        return getattr(group[call.service], call.operation)

    def read(self, service: str, operation: str, params: dict[str, Any]) -> Any:
        """A get: the resource (as its REST JSON mapping), or None where it does not exist (or, assuming
        nothing deployed, always)."""
        from azure.core.exceptions import ResourceNotFoundError

        if self._blind:
            return None
        call = ApiCall(service, operation, params, "read")
        with translated_errors(call):
            try:
                result = self.operation(call)(**params)
                return list(result) if call.operation.startswith("list") else result  # pages: read them now
            except ResourceNotFoundError:
                return None

    def push_image(self, call: ApiCall) -> None:
        uri = call.params["uri"]
        registry = uri.split("/", 1)[0]
        login = RegistryLogin(registry, ACR_TOKEN_USER, self.registry_token(registry))
        self.pushed[uri] = push_with_engine(call.params["image"], uri, login)

    def registry_token(self, registry: str) -> str:
        """ACR's exchange: an Entra ID token for a registry refresh token (the engine's password)."""
        import requests

        token = self.clients.credential.get_token(ARM_SCOPE).token
        failed = f"containerregistry token exchange with {registry} failed"
        try:
            reply = requests.post(
                f"https://{registry}/oauth2/exchange",
                timeout=30,
                data={
                    "grant_type": "access_token",
                    "service": registry,
                    "access_token": token,
                },
            )
        except requests.RequestException as exc:
            raise DeployError(f"{failed}: {type(exc).__name__}") from None
        if reply.status_code != HTTPStatus.OK:
            raise DeployError(f"{failed}: HTTP {reply.status_code}")
        return str(reply.json()["refresh_token"])


def principal_id(app: Any) -> str | None:
    """The app's system-assigned identity (a Site as a REST mapping), None when it has none (yet)."""
    identity = (app or {}).get("identity") or {}
    return str(identity["principalId"]) if identity.get("principalId") else None


def plan_summary(plan: Any) -> dict[str, Any]:
    """The fields deploy manages, from a plan as the SDK returns it or as deploy would send it."""
    return {"sku": plan["sku"]["name"], "max burst": plan["properties"].get("maximumElasticWorkerCount")}
