"""Container engines that turn a build context into an image and push it to a registry: a Docker
engine through the Docker SDK, or the daemonless podman and buildah CLIs (with the flags this kind of
machine needs)."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Protocol

from mlspec.errors import MlspecError

ENGINES = ("docker", "podman", "buildah")
INSTALL_HINT = "install one to build images: `apt-get install podman buildah` (daemonless), or start a Docker engine"
# podman and buildah without a user namespace for builds: chroot isolation; and file/process limits
# low enough for the container runtime to accept.
PODMAN_BUILD_FLAGS = ("--isolation", "chroot", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
PODMAN_RUN_FLAGS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024")
BUILDAH_BUILD_FLAGS = ("--isolation", "chroot")
# A wheelhouse is bind-mounted here for the build's RUN steps only: the context (and its hash) never holds it.
WHEELHOUSE_MOUNT = "/wheels"
WHEELHOUSE_PIP_OPTIONS = f"--no-index --find-links={WHEELHOUSE_MOUNT}"
ENGINE_CALL_TIMEOUT_S = 3600
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")

Progress = Callable[[str], None]


class EngineError(MlspecError):
    exit_code = 1


class Engine(Protocol):
    name: str

    def build(self, context_dir: Path, tag: str, on_line: Progress, wheelhouse: Path | None = None) -> None:
        """Build context_dir/Dockerfile as `tag`, installing Python packages only from `wheelhouse`
        when one is given; raises EngineError with the engine's message."""
        ...

    def image_exists(self, tag: str) -> bool: ...

    def import_rootfs(self, tarball: Path, tag: str, env: Mapping[str, str], on_line: Progress) -> None:
        """Make image `tag` from a root file system tarball, with environment `env`."""
        ...

    def push(self, tag: str, uri: str, on_line: Progress) -> str:
        """Push local image `tag` as `uri` (registry/repository:tag); returns the digest the registry
        stored it under (sha256:...), so that it can be referred to by content, not by a movable tag."""
        ...


def by_digest(uri: str, digest: str) -> str:
    """`registry/repository:tag` pushed with `digest` -> `registry/repository@sha256:...`, the reference
    deploys and pulls name (a tag can be moved, a digest cannot)."""
    return f"{uri.rpartition(':')[0]}@{digest}"


def registry_is_loopback(uri: str) -> bool:
    """Whether uri's registry is on this machine (plain HTTP there, as Docker allows for 127.0.0.0/8)."""
    host = uri.split("/", 1)[0]
    host = host[1 : host.index("]")] if host.startswith("[") else host.rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def served_directory(directory: Path) -> Iterator[str]:
    """directory served read-only over HTTP on 127.0.0.1 while the block runs; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietFiles, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, name="wheelhouse", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _tail(lines: deque[str]) -> str:
    return "\n".join(lines) or "(no output)"


@dataclass
class DockerSdkEngine:
    client: Any
    name: str = "docker"

    def build(self, context_dir: Path, tag: str, on_line: Progress, wheelhouse: Path | None = None) -> None:
        if wheelhouse is None:
            self._build(context_dir, tag, on_line, {})
            return
        # The Docker API cannot mount a directory into a build: the wheelhouse is served on loopback
        # instead, and the build shares the host's network to reach it (an engine on this machine).
        with served_directory(wheelhouse) as url:
            options = {"network_mode": "host", "buildargs": {"PIP_OPTIONS": f"--no-index --find-links={url}"}}
            self._build(context_dir, tag, on_line, options)

    def _build(self, context_dir: Path, tag: str, on_line: Progress, options: dict[str, Any]) -> None:
        self._stream(
            f"docker build of {tag}",
            on_line,
            lambda: self.client.api.build(path=str(context_dir), tag=tag, rm=True, decode=True, **options),
        )

    def _stream(self, what: str, on_line: Progress, chunks: Callable[[], Any]) -> deque[str]:
        """Pass each streamed status line to on_line; the engine's error (with the last lines) as EngineError."""
        lines: deque[str] = deque(maxlen=30)
        try:
            for chunk in chunks():
                if "error" in chunk or "errorDetail" in chunk:
                    detail = chunk.get("errorDetail", {}).get("message") or chunk.get("error")
                    raise EngineError(f"{what} failed: {str(detail).strip()}\n{_tail(lines)}")
                text = str(chunk.get("stream") or chunk.get("status") or "").strip()
                digest = (chunk.get("aux") or {}).get("Digest")
                if digest:  # a push's result: kept with the lines the caller reads
                    text = f"{text} digest: {digest}".strip()
                if text:
                    lines.append(text)
                    on_line(text)
        except EngineError:
            raise
        except Exception as exc:  # the SDK's APIError, connection errors
            raise EngineError(f"{what} failed: {exc}") from exc
        return lines

    def push(self, tag: str, uri: str, on_line: Progress) -> str:
        repository, _, version = uri.rpartition(":")
        what = f"docker push of {uri}"
        try:
            self.client.images.get(tag).tag(repository, version)
        except Exception as exc:
            raise EngineError(f"{what} failed: cannot tag {tag}: {exc}") from exc
        lines = self._stream(
            what, on_line, lambda: self.client.api.push(repository, tag=version, stream=True, decode=True)
        )
        found = [match for line in lines for match in DIGEST.findall(line)]
        if not found:
            raise EngineError(f"{what}: the engine reported no digest\n{_tail(lines)}")
        return found[-1]

    def image_exists(self, tag: str) -> bool:
        try:
            self.client.images.get(tag)
        except Exception:  # the SDK's ImageNotFound, connection errors
            return False
        return True

    def import_rootfs(self, tarball: Path, tag: str, env: Mapping[str, str], on_line: Progress) -> None:
        repository, _, version = tag.rpartition(":")
        try:
            self.client.api.import_image_from_file(
                str(tarball), repository=repository, tag=version, changes=[f"ENV {k}={v}" for k, v in env.items()]
            )
        except Exception as exc:
            raise EngineError(f"docker import of {tag} failed: {exc}") from exc


def _stream(command: Sequence[str], on_line: Progress, what: str, stdin: int | None = None) -> deque[str]:
    """Run command, passing each output line to on_line; raises EngineError with the last lines on failure."""
    lines: deque[str] = deque(maxlen=30)
    try:
        process = subprocess.Popen(
            list(command), stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
    except OSError as exc:
        raise EngineError(f"{what}: could not start {command[0]}: {exc}") from exc
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
            hint = "\n(no registry reachable? build from a local image with --base-image IMAGE or --bootstrap-base)"
        raise EngineError(f"{what} failed (exit status {code}):\n{_tail(lines)}{hint}")
    return lines


@dataclass
class CliEngine:
    """podman or buildah: runs `<engine> build ...`, streaming its output."""

    name: str
    executable: str
    flags: tuple[str, ...]

    def command(self, context_dir: Path, tag: str, wheelhouse: Path | None = None) -> list[str]:
        offline: list[str] = []
        if wheelhouse is not None:
            offline = [
                "--volume",
                f"{wheelhouse.resolve()}:{WHEELHOUSE_MOUNT}:ro",
                "--build-arg",
                f"PIP_OPTIONS={WHEELHOUSE_PIP_OPTIONS}",
            ]
        return [
            self.executable,
            "build",
            *self.flags,
            *offline,
            "--tag",
            tag,
            "--file",
            str(context_dir / "Dockerfile"),
            str(context_dir),
        ]

    def build(self, context_dir: Path, tag: str, on_line: Progress, wheelhouse: Path | None = None) -> None:
        _stream(self.command(context_dir, tag, wheelhouse), on_line, f"{self.name} build of {tag}")

    def push(self, tag: str, uri: str, on_line: Progress) -> str:
        tls = ["--tls-verify=false"] if registry_is_loopback(uri) else []
        destination = uri if self.name == "podman" else f"docker://{uri}"
        with tempfile.TemporaryDirectory(prefix="mlspec-push-") as scratch:
            digest_file = Path(scratch) / "digest"
            command = [self.executable, "push", *tls, "--digestfile", str(digest_file), tag, destination]
            _stream(command, on_line, f"{self.name} push of {uri}")
            digest = digest_file.read_text().strip() if digest_file.is_file() else ""
        if not DIGEST.fullmatch(digest):
            raise EngineError(f"{self.name} push of {uri}: no digest written ({digest or 'empty'!r})")
        return digest

    def image_exists(self, tag: str) -> bool:
        check = ["image", "exists", tag] if self.name == "podman" else ["inspect", "--type", "image", tag]
        return subprocess.run([self.executable, *check], capture_output=True).returncode == 0

    def import_rootfs(self, tarball: Path, tag: str, env: Mapping[str, str], on_line: Progress) -> None:
        what = f"{self.name} import of {tag}"
        if self.name == "podman":
            changes = [arg for k, v in env.items() for arg in ("--change", f"ENV {k}={v}")]
            _stream([self.executable, "import", *changes, str(tarball), tag], on_line, what)
            return
        container = subprocess.run([self.executable, "from", "scratch"], capture_output=True, text=True)
        if container.returncode != 0:
            raise EngineError(f"{what} failed: {container.stderr.strip()}")
        name = container.stdout.strip()
        try:
            _stream([self.executable, "add", name, str(tarball), "/"], on_line, what)
            _stream(
                [self.executable, "config", *(a for k, v in env.items() for a in ("--env", f"{k}={v}")), name],
                on_line,
                what,
            )
            _stream([self.executable, "commit", name, tag], on_line, what)
        finally:
            subprocess.run([self.executable, "rm", name], capture_output=True)


def podman_run_prefix(podman: str) -> list[str]:
    """`podman [--runtime runc] run`: runc where installed, since crun refuses hosts with cgroups in
    hybrid (v1 + v2) mode, and runc works on every cgroup layout."""
    runc = shutil.which("runc")
    return [podman, *(("--runtime", runc) if runc else ()), "run", *PODMAN_RUN_FLAGS]


def fill_wheelhouse(directory: Path, requirement_files: Sequence[Path], on_line: Progress) -> None:
    """Put a wheel for every pinned requirement (and its dependencies) into directory, with pip on the
    host. Offline from the wheelhouse itself first; only what is missing is fetched, through the
    host's pip configuration, failing fast (no retries) on an index that cannot be reached."""
    directory.mkdir(parents=True, exist_ok=True)
    requirements = [arg for path in requirement_files for arg in ("--requirement", str(path))]
    base = [
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--wheel-dir",
        str(directory),
        "--find-links",
        str(directory),
        *requirements,
    ]
    offline = subprocess.run([*base, "--no-index"], capture_output=True, text=True)
    if offline.returncode == 0:
        on_line(f"wheelhouse {directory}: every requirement already there")
        return
    _stream([*base, "--retries", "0", "--progress-bar", "off"], on_line, f"pip wheel into {directory}")


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
    # 5 s to find the engine; a build or push step can be silent for much longer than that.
    client.api.timeout = ENGINE_CALL_TIMEOUT_S
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
    looked = (
        "a Docker engine (Docker SDK: docker.from_env().ping()), podman, buildah"
        if choice == "auto"
        else ("a Docker engine (Docker SDK)" if choice == "docker" else f"{choice} on PATH")
    )
    if choice != "auto":
        raise EngineError(f"--engine {choice}: not found (looked for {looked}); {INSTALL_HINT}")
    return None, f"no container engine found (looked for {looked}): build contexts only; {INSTALL_HINT}"
