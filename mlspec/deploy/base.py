"""What every platform's deployer takes and gives: plain data in (the functions to deploy, with the
planned memory, timeout and concurrency, and their built image tags), API calls out.

A deployer first reads what exists on the platform, then returns only the calls that close the gap,
so a second deploy with no change makes no calls. `--dry-run` prints the same calls without making
them. Secrets never appear in a call's parameters: credentials come from each SDK's own chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from mlspec.errors import MlspecError


class DeployError(MlspecError):
    """A platform refused a call (permission, quota, missing resource): one clear line."""

    exit_code = 1


class Unreachable(DeployError):
    """The platform (or its sign-in endpoint) could not be reached: offline, a closed port, DNS."""


class CredentialsError(MlspecError):
    """No usable credentials: names the chain that was tried, never the values found."""

    exit_code = 2


class InvalidCredentialsError(CredentialsError):
    """Credentials were found (a key file, a config file, a certificate) but cannot be read or parsed: says
    which and why, never their content."""


@dataclass(frozen=True)
class FunctionDeployment:
    """One function of the pipeline on one platform."""

    name: str  # platform-safe resource name, e.g. "mlspec-quickstart-train"
    stage: str
    function: str  # runtime function name (mlspec.runtime.FUNCTIONS)
    image: str  # local image tag from `mlspec build` (repository:contenthash)
    context_hash: str
    memory_mb: int
    timeout_s: float
    concurrency: int  # invocations of it that run at once (the stage's fan-out)
    style: Literal["request", "job"]  # request/response (HTTP, Invoke) or batch job (Cloud Run jobs)
    image_built: bool = False  # the manifest says the local image exists, so it can be pushed


@dataclass(frozen=True)
class Deployment:
    """Everything one `mlspec deploy --target T` manages for one pipeline."""

    pipeline: str
    target: str  # "aws-lambda" | "gcp-cloud-run" | "azure-functions"
    region: str
    bucket: str  # object store for data, checkpoints and results
    functions: tuple[FunctionDeployment, ...]
    settings: dict[str, Any] = field(default_factory=dict)  # the target's own spec settings
    object_store: dict[str, Any] = field(default_factory=dict)  # the spec's storage.object_store
    # The spec's object store is this cloud's own kind, or local: deploy makes (and destroy removes) its
    # bucket here. False: the functions use another cloud's store, which deploy leaves alone.
    own_store: bool = True


@dataclass(frozen=True)
class ApiCall:
    """One SDK call, as --dry-run prints it and as deploy makes it."""

    service: str  # e.g. "lambda", "iam", "run.v2.Services", "web.WebApps"
    operation: str  # the SDK's method name, e.g. "create_function"
    params: dict[str, Any]
    why: str  # "missing", "memory 1024 -> 1769", ...

    def describe(self) -> str:
        return f"{self.service}.{self.operation}  ({self.why})"


@dataclass
class DeployReport:
    target: str
    calls: list[ApiCall]
    dry_run: bool
    notes: list[str] = field(default_factory=list)  # what was left undone and why (e.g. an unbuilt image)
    state_unknown: str | None = None  # a dry run that could not read the platform: why ("no credentials", ...)
    pushed: dict[str, str] = field(default_factory=dict)  # image uri -> the reference by digest it was pushed as

    @property
    def changed(self) -> bool:
        return bool(self.calls) and not self.dry_run


def changes(current: dict[str, Any], desired: dict[str, Any]) -> list[str]:
    """`field old -> new` for every field that differs: the `why` of an update call."""
    return [f"{key} {current.get(key)} -> {value}" for key, value in desired.items() if current.get(key) != value]


class Deployer(Protocol):
    target: str
    pushed: dict[str, str]  # filled by apply: each pushed image's uri -> its reference by digest

    def plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        """Read the platform's current state; the calls that would make it match `deployment`."""
        ...

    def for_dry_run(self) -> None:
        """Read with short connect timeouts and no retries from now on: a dry run answers at once offline."""
        ...

    def assume_nothing_deployed(self) -> None:
        """Plan without reading the platform, as if none of the deployment existed yet (a dry run that
        could not read it); names that only the platform knows (an account id) are shown as placeholders."""
        ...

    def apply(self, calls: list[ApiCall]) -> None:
        """Make the calls, in order; raise DeployError with the platform's message on failure."""
        ...

    def destroy_calls(self, deployment: Deployment) -> list[ApiCall]:
        """The calls that remove what deploy created (only what exists now)."""
        ...

    def missing_functions(self, deployment: Deployment) -> list[str]:
        """Names of the deployment's functions that are not deployed (`mlspec run` checks before it starts)."""
        ...
