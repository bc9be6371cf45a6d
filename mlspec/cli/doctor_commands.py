"""`mlspec doctor`: which container engines, stores and cloud credentials this machine has, each
with the fix when missing. Credentials are reported by where they come from, never by value."""

from __future__ import annotations

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


def _engine(name: str) -> Check:
    from mlspec.compile.engines import INSTALL_HINT, cli_engine, docker_engine

    if name == "docker":
        found = docker_engine() is not None
        return Check("docker", found, "engine reachable (Docker SDK ping)" if found else
                     f"no Docker engine reachable (DOCKER_HOST or the default socket); {INSTALL_HINT}")
    engine = cli_engine(name)
    return Check(name, engine is not None, engine.executable if engine else f"not on PATH; {INSTALL_HINT}")


def _redis_server() -> Check:
    path = shutil.which("redis-server")
    return Check("redis-server", path is not None,
                 path or "not on PATH (tests and local Redis parameter stores use it): apt-get install redis-server")


def _redis_url(url: str) -> Check:
    try:
        import redis
    except ImportError:
        return Check(f"redis {url}", False, "the redis client is not installed: pip install 'mlspec[stores]'")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        return Check(f"redis {url}", False, f"not reachable ({type(exc).__name__}): start redis-server or fix the URL")
    return Check(f"redis {url}", True, "reachable (PING)")


def _credentials(name: str, find: Callable[[], str]) -> Check:
    try:
        return Check(name, True, find())
    except MlspecError as exc:  # CredentialsError: names the chain tried and the fix
        return Check(name, False, str(exc))


def _aws() -> str:
    from mlspec.deploy.credentials import aws_credentials_source, aws_session

    return f"found (from {aws_credentials_source(aws_session())}; not verified against AWS)"


def _gcp() -> str:
    from mlspec.deploy.credentials import gcp_credentials

    _, project = gcp_credentials()
    return f"found (application-default credentials, project {project or 'not set'})"


def _azure() -> str:
    from mlspec.deploy.credentials import azure_credential

    azure_credential()
    return "found (DefaultAzureCredential issued a management token)"


def checks(redis_url: str | None) -> list[Check]:
    found = [_engine(name) for name in ("docker", "podman", "buildah")]
    found.append(_redis_server())
    if redis_url:
        found.append(_redis_url(redis_url))
    found += [_credentials("aws credentials", _aws), _credentials("gcp credentials", _gcp),
              _credentials("azure credentials", _azure)]
    return found


@click.command()
@click.option("--redis-url", metavar="URL", help="Also check that this Redis answers (e.g. the spec's param store).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when anything is missing.")
def doctor(redis_url: str | None, strict: bool) -> None:
    """Report the container engines (Docker, podman, buildah), Redis and cloud credentials (AWS,
    Google Cloud, Azure) found here, each with the fix when missing. Exit status 0 unless --strict.

    \b
    Example:
      mlspec doctor
      mlspec doctor --redis-url redis://127.0.0.1:6379/0 --strict
    """
    results = checks(redis_url)
    width = max(len(c.name) for c in results)
    for check in results:
        click.echo(f"{'ok' if check.ok else 'missing':8} {check.name:{width}}  {check.detail}")
    if strict and not all(c.ok for c in results):
        raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (doctor,)
