"""`mlspec doctor`: which container engines (and debootstrap, for base images made here), stores,
cloud SDKs and cloud credentials this machine has, each with the fix when missing. Credentials are
reported by where they come from, never by value."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import click

from mlspec.errors import MlspecError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or (when missing) what was looked for and the fix
    problem: str = "missing"  # the status shown when not ok


def _engine(name: str) -> Check:
    from mlspec.compile.engines import INSTALL_HINT, cli_engine, docker_engine

    if name == "docker":
        found = docker_engine() is not None
        return Check(
            "docker",
            found,
            "engine reachable (Docker SDK ping)"
            if found
            else f"no Docker engine reachable (DOCKER_HOST or the default socket); {INSTALL_HINT}",
        )
    engine = cli_engine(name)
    return Check(name, engine is not None, engine.executable if engine else f"not on PATH; {INSTALL_HINT}")


def _debootstrap() -> Check:
    """`mlspec build` makes its own Debian base image with debootstrap when no registry can be reached."""
    path = shutil.which("debootstrap")
    if path is None:
        return Check(
            "debootstrap",
            False,
            "not on PATH (builds then need a reachable registry or --base-image): apt-get install debootstrap",
        )
    if os.geteuid() != 0:
        return Check(
            "debootstrap",
            False,
            f"{path}, but it needs root to make a base image: run builds as root, or pass --base-image IMAGE",
        )
    return Check("debootstrap", True, f"{path} (makes the base image when no registry can be reached)")


# Cloud -> (the extra that installs its SDKs, the modules deploy and run import).
CLOUD_SDKS = {
    "aws": ("aws", ("boto3",)),
    "gcp": ("gcp", ("google.cloud.run_v2", "google.cloud.artifactregistry_v1", "google.cloud.storage", "google.auth")),
    "azure": (
        "azure",
        (
            "azure.identity",
            "azure.mgmt.web",
            "azure.mgmt.containerregistry",
            "azure.mgmt.authorization",
            "azure.storage.blob",
        ),
    ),
}


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _sdk(cloud: str) -> Check:
    extra, modules = CLOUD_SDKS[cloud]
    missing = [m for m in modules if not _installed(m)]
    if missing:
        return Check(f"{cloud} sdk", False, f"missing {', '.join(missing)}: pip install 'mlspec[{extra}]'")
    return Check(f"{cloud} sdk", True, f"installed ({', '.join(modules)})")


def _redis_server() -> Check:
    path = shutil.which("redis-server")
    return Check(
        "redis-server",
        path is not None,
        path or "not on PATH (tests and local Redis parameter stores use it): apt-get install redis-server",
    )


def _redis_url(url: str) -> Check:
    from mlspec.redaction import redact

    name = f"redis {redact(url)}"
    try:
        import redis
    except ImportError:
        return Check(name, False, "the redis client is not installed: pip install 'mlspec[stores]'")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return Check(name, False, f"not reachable ({type(exc).__name__}): start redis-server or fix the URL")
    return Check(name, True, "reachable (PING)")


def _credentials(name: str, find: Callable[[], str]) -> Check:
    from mlspec.deploy.base import InvalidCredentialsError

    try:
        return Check(name, True, find())
    except InvalidCredentialsError as exc:  # found, but unreadable or unparsable: says which file and why
        return Check(name, False, str(exc), "invalid")
    except MlspecError as exc:  # CredentialsError: names the chain tried and the fix
        return Check(name, False, str(exc))


def _aws() -> str:
    from mlspec.platforms.aws_lambda.credentials import aws_credentials_source, aws_session

    return f"found (from {aws_credentials_source(aws_session())}; not verified against AWS)"


def _gcp() -> str:
    from mlspec.platforms.gcp_cloud_run.credentials import gcp_credentials

    _, project = gcp_credentials()
    where = (
        f"project {project}"
        if project
        else ("no project: set `project` in the gcp-cloud-run target or GOOGLE_CLOUD_PROJECT")
    )
    return f"found (application-default credentials; {where}; not verified against Google Cloud)"


def _azure() -> str:
    from mlspec.platforms.azure_functions.credentials import azure_credential

    azure_credential()
    subscription = (
        "subscription from AZURE_SUBSCRIPTION_ID"
        if os.environ.get("AZURE_SUBSCRIPTION_ID")
        else "no AZURE_SUBSCRIPTION_ID: set `subscription_id` in the azure-functions target"
    )
    return f"found (DefaultAzureCredential issued a management token; {subscription})"


def checks(redis_url: str | None) -> list[Check]:
    found = [*(_engine(name) for name in ("docker", "podman", "buildah")), _debootstrap(), _redis_server()]
    if redis_url:
        found.append(_redis_url(redis_url))
    finders = {"aws": _aws, "gcp": _gcp, "azure": _azure}
    for cloud, find in finders.items():
        sdk = _sdk(cloud)
        # Without the SDK the credential chain cannot be read: the SDK line already says what to install.
        found += [
            sdk,
            _credentials(f"{cloud} credentials", find)
            if sdk.ok
            else Check(f"{cloud} credentials", False, f"not checked: install the {cloud} SDK first"),
        ]
    return found


@click.command()
@click.option("--redis-url", metavar="URL", help="Also check that this Redis answers (e.g. the spec's param store).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when anything is missing.")
def doctor(redis_url: str | None, strict: bool) -> None:
    """Report the container engines (Docker, podman, buildah), debootstrap, Redis, and the cloud SDKs
    and credentials (AWS, Google Cloud, Azure) found here, each with the fix when missing. Exit status
    0 unless --strict.

    \b
    Example:
      mlspec doctor
      mlspec doctor --redis-url redis://127.0.0.1:6379/0 --strict
    """
    results = checks(redis_url)
    width = max(len(c.name) for c in results)
    for check in results:
        click.echo(f"{'ok' if check.ok else check.problem:8} {check.name:{width}}  {check.detail}")
    if strict and not all(c.ok for c in results):
        raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (doctor,)
