"""Container engines that turn a build context into an image: a Docker engine through the Docker SDK,
or the daemonless podman and buildah CLIs (with the flags this kind of machine needs)."""

from __future__ import annotations

import shutil
import subprocess
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlspec.errors import MlspecError

ENGINES = ("docker", "podman", "buildah")
INSTALL_HINT = ("install one to build images: `apt-get install podman buildah` (daemonless), "
                "or start a Docker engine")
# podman and buildah without a user namespace for builds: chroot isolation; and file/process limits
# low enough for the container runtime to accept.
PODMAN_BUILD_FLAGS = ("--isolation", "chroot", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
PODMAN_RUN_FLAGS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
BUILDAH_BUILD_FLAGS = ("--isolation", "chroot")

Progress = Callable[[str], None]


class EngineError(MlspecError):
    exit_code = 1


class Engine(Protocol):
    name: str

    def build(self, context_dir: Path, tag: str, on_line: Progress) -> None:
        """Build context_dir/Dockerfile as `tag`; raises EngineError with the engine's message."""
        ...


def _tail(lines: deque[str]) -> str:
    return "\n".join(lines) or "(no output)"


@dataclass
class DockerSdkEngine:
    client: Any
    name: str = "docker"

    def build(self, context_dir: Path, tag: str, on_line: Progress) -> None:
        lines: deque[str] = deque(maxlen=30)
        try:
            for chunk in self.client.api.build(path=str(context_dir), tag=tag, rm=True, decode=True):
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                    raise EngineError(f"docker build of {tag} failed: {detail}\n{_tail(lines)}")
                text = str(chunk.get("stream") or chunk.get("status") or "").strip()
                if text:
                    lines.append(text)
                    on_line(text)
        except EngineError:
            raise
        except Exception as exc:  # the SDK's APIError, connection errors
            raise EngineError(f"docker build of {tag} failed: {exc}") from exc


@dataclass
class CliEngine:
    """podman or buildah: runs `<engine> build ...`, streaming its output."""

    name: str
    executable: str
    flags: tuple[str, ...]

    def command(self, context_dir: Path, tag: str) -> list[str]:
        return [self.executable, "build", *self.flags, "--tag", tag, "--file",
                str(context_dir / "Dockerfile"), str(context_dir)]

    def build(self, context_dir: Path, tag: str, on_line: Progress) -> None:
        lines: deque[str] = deque(maxlen=30)
        try:
            process = subprocess.Popen(self.command(context_dir, tag), stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True, errors="replace")
        except OSError as exc:
            raise EngineError(f"{self.name} could not start: {exc}") from exc
        assert process.stdout is not None
        for raw in process.stdout:
            text = raw.rstrip()
            if text:
                lines.append(text)
                on_line(text)
        code = process.wait()
        if code != 0:
            hint = ""
            if any("Trying to pull" in line or "pinging container registry" in line for line in lines):
                hint = "\n(no registry reachable? build from a local image with --base-image IMAGE)"
            raise EngineError(f"{self.name} build of {tag} failed (exit status {code}):\n{_tail(lines)}{hint}")


def docker_engine() -> DockerSdkEngine | None:
    """A reachable Docker engine (DOCKER_HOST or the default socket), or None."""
    try:
        import docker
    except ImportError:
        return None
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except Exception:
        return None
    return DockerSdkEngine(client)


def cli_engine(name: str) -> CliEngine | None:
    executable = shutil.which(name)
    if executable is None:
        return None
    flags = PODMAN_BUILD_FLAGS if name == "podman" else BUILDAH_BUILD_FLAGS
    return CliEngine(name, executable, flags)


def find_engine(choice: str = "auto") -> tuple[Engine | None, str]:
    """The engine to build with and a note on what was looked for. `auto` tries docker, podman,
    buildah in that order; `none` builds no images; a named engine that is missing is an error."""
    if choice == "none":
        return None, "--engine none: build contexts only, no images"
    names = ENGINES if choice == "auto" else (choice,)
    if choice not in ("auto", *ENGINES):
        raise EngineError(f"unknown engine {choice!r} (choose auto, none, {', '.join(ENGINES)})")
    for name in names:
        engine: Engine | None = docker_engine() if name == "docker" else cli_engine(name)
        if engine is not None:
            return engine, f"building images with {name}"
    looked = ("a Docker engine (Docker SDK: docker.from_env().ping()), podman, buildah" if choice == "auto"
              else ("a Docker engine (Docker SDK)" if choice == "docker" else f"{choice} on PATH"))
    if choice != "auto":
        raise EngineError(f"--engine {choice}: not found (looked for {looked}); {INSTALL_HINT}")
    return None, f"no container engine found (looked for {looked}): build contexts only; {INSTALL_HINT}"
