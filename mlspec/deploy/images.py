"""Pushing a locally built image to a cloud registry with the container engine (podman or docker),
shared by every deployer: each one only says how to log in to its registry (ECR's authorization
token, Artifact Registry's OAuth access token, ACR's exchanged refresh token).

The registry password goes to the engine's `login --password-stdin` only: never into a command
line, a call's parameters, a log or an error message."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlspec.compile.engines import DIGEST, by_digest, registry_is_loopback
from mlspec.deploy.base import DeployError


@dataclass(frozen=True)
class RegistryLogin:
    registry: str  # host, e.g. "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    username: str
    password: str = field(repr=False)


def split_image(image: str) -> tuple[str, str]:
    """`[registry/]repository:tag` of a local image -> (repository, tag)."""
    repository, _, tag = image.rpartition(":")
    return repository, tag


def repository_of(reference: str) -> str:
    """`repository@sha256:...` or `repository:tag` -> repository."""
    return reference.split("@", 1)[0] if "@" in reference else split_image(reference)[0]


def pinned(value: Any, pushed: Mapping[str, str]) -> Any:
    """value (a call's params, or part of them) with every image uri that was pushed replaced by the
    reference by digest it was pushed as, alone or after a `KIND|` prefix (Azure's linuxFxVersion): a
    function then runs exactly the image pushed for it, whatever later happens to the tag."""
    if isinstance(value, dict):
        return {key: pinned(item, pushed) for key, item in value.items()}
    if isinstance(value, list):
        return [pinned(item, pushed) for item in value]
    if isinstance(value, str):
        prefix, bar, uri = value.rpartition("|")
        if uri in pushed:
            return f"{prefix}{bar}{pushed[uri]}"
    return value


def image_name(image: str) -> tuple[str, str]:
    """(package, tag): the repository's last path part, for registries that nest it under their own path."""
    repository, tag = split_image(image)
    return repository.rsplit("/", 1)[-1], tag


def container_engine() -> str:
    engine = shutil.which("podman") or shutil.which("docker")
    if engine is None:
        raise DeployError("cannot push images: neither podman nor docker is on PATH (`mlspec doctor` says more)")
    return engine


def push_commands(engine: str, image: str, uri: str, registry: str, username: str, digest_file: str) -> list[list[str]]:
    """The engine's command lines for one push; the login reads the password from stdin. podman writes
    the pushed digest to digest_file; docker prints it (`<tag>: digest: sha256:... size: N`)."""
    podman = Path(engine).name == "podman"
    digest = ["--digestfile", digest_file] if podman else []
    # plain HTTP to a registry on this machine (docker's daemon allows 127.0.0.0/8 by itself)
    tls = ["--tls-verify=false"] if podman and registry_is_loopback(uri) else []
    return [
        [engine, "login", *tls, "--username", username, "--password-stdin", registry],
        [engine, "tag", image, uri],
        [engine, "push", *tls, *digest, uri],
    ]


def push_with_engine(image: str, uri: str, login: RegistryLogin) -> str:
    """Tag the local `image` as `uri` and push it, after logging in to the registry; returns the
    reference by digest (`repository@sha256:...`) the registry stored it under."""
    engine = container_engine()
    with tempfile.TemporaryDirectory(prefix="mlspec-push-") as scratch:
        digest_file = Path(scratch) / "digest"
        output = ""
        for command in push_commands(engine, image, uri, login.registry, login.username, str(digest_file)):
            stdin = login.password if "--password-stdin" in command else None
            done = subprocess.run(command, input=stdin, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                # The engine's own last line; the password never appears in it (it went through stdin).
                detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["(no output)"]
                raise DeployError(
                    f"`{' '.join(command[:2])}` for {uri} failed (exit status {done.returncode}): {detail[0]}"
                )
            output = done.stdout
        written = digest_file.read_text() if digest_file.is_file() else output
    found = DIGEST.findall(written)
    if not found:
        raise DeployError(f"pushed {uri}, but {Path(engine).name} reported no digest for it")
    return by_digest(uri, found[-1])
