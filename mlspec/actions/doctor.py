"""`mlspec doctor`: which container engines (and debootstrap, for base images made here), stores,
cloud SDKs and cloud credentials this machine has, each with the fix when missing. Credentials are
reported by where they come from, never by value; each platform names its SDK modules and its
credential check in its catalog entry."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mlspec.compile.engines import INSTALL_HINT, cli_engine, docker_engine
from mlspec.compile.graph import FunctionGraph, installed_version
from mlspec.deploy.base import InvalidCredentialsError
from mlspec.errors import MlspecError
from mlspec.providers.platform import Platform
from mlspec.providers.registry import all_platforms
from mlspec.redaction import redact
from mlspec.references import load


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str  # what was found, or (when missing) what was looked for and the fix
    problem: str = "missing"  # the status shown when not ok


def _engine(name: str) -> Check:
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


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def _sdk(cloud: str, modules: tuple[str, ...]) -> Check:
    """`cloud` is also the name of the extra that installs the modules."""
    missing = [m for m in modules if not _installed(m)]
    if missing:
        return Check(f"{cloud} sdk", False, f"missing {', '.join(missing)}: pip install 'mlspec[{cloud}]'")
    return Check(f"{cloud} sdk", True, f"installed ({', '.join(modules)})")


# Executors from an extra of their own -> the module each imports (the extra has the executor's name).
OPTIONAL_EXECUTORS = {"lithops": "lithops", "ray": "ray"}


def _executor(name: str, module: str) -> Check:
    if _installed(module):
        return Check(f"{name} executor", True, f"installed: mlspec run SPEC --executor {name}")
    return Check(f"{name} executor", False, f"missing {module}: pip install 'mlspec[{name}]'")


def requirement_checks(functions: FunctionGraph) -> list[Check]:
    """One check per package a spec's functions need (its own, and what `requirements:` adds), with the stages."""
    stages: dict[str, list[str]] = {}
    for node in functions.nodes:
        for package in node.requirements:
            stages.setdefault(package, []).append(node.stage)
    out = []
    for package, needing in stages.items():
        version = installed_version(package)
        detail = f"installed {version}" if version else f"pip install {package}"
        out.append(Check(f"package {package}", version is not None, f"{detail} (stages {', '.join(needing)})"))
    return out


def _redis_server() -> Check:
    path = shutil.which("redis-server")
    return Check(
        "redis-server",
        path is not None,
        path or "not on PATH (tests and local Redis parameter stores use it): apt-get install redis-server",
    )


def _redis_url(url: str) -> Check:
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
    try:
        return Check(name, True, find())
    except InvalidCredentialsError as exc:  # found, but unreadable or unparsable: says which file and why
        return Check(name, False, str(exc), "invalid")
    except MlspecError as exc:  # CredentialsError: names the chain tried and the fix
        return Check(name, False, str(exc))


def checks(redis_url: str | None, platforms: Sequence[Platform] | None = None) -> list[Check]:
    """Every check, in the order printed; the cloud checks for `platforms` (default: every registered one)."""
    found = [*(_engine(name) for name in ("docker", "podman", "buildah")), _debootstrap(), _redis_server()]
    if redis_url:
        found.append(_redis_url(redis_url))
    found += [_executor(name, module) for name, module in OPTIONAL_EXECUTORS.items()]
    for platform in all_platforms() if platforms is None else platforms:
        if platform.cloud is None or platform.credentials is None:
            continue
        cloud, find = platform.cloud, load(platform.credentials)
        sdk = _sdk(cloud, platform.sdk_modules)
        # Without the SDK the credential chain cannot be read: the SDK line already says what to install.
        found += [
            sdk,
            _credentials(f"{cloud} credentials", find)
            if sdk.ok
            else Check(f"{cloud} credentials", False, f"not checked: install the {cloud} SDK first"),
        ]
    return found
