"""Real servers on loopback for the tests: redis-server, moto's S3-speaking server, gcp-storage-emulator,
Azurite's blob service, a container registry (Debian's docker-registry) and podman's Docker-compatible
API service. Each is started on a free port (or a socket in a temporary directory) and stopped
afterwards; nothing is mocked."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import pytest


def require_program(name: str, install_hint: str) -> str:
    """The program's path. Missing, it skips the test on a user's machine and fails it in CI, which installs it."""
    binary = shutil.which(name)
    if binary is None:
        _missing(name, install_hint)
    return binary


def require_module(name: str, install_hint: str) -> None:
    """Like require_program, for a Python module run with `python -m`."""
    if importlib.util.find_spec(name) is None:
        _missing(name, install_hint)


def _missing(name: str, install_hint: str) -> NoReturn:
    message = f"{name} is not installed ({install_hint}; bash .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s}s")


@contextmanager
def _serving(command: list[str], port: int, what: str) -> Iterator[None]:
    """command running while the block runs, once it listens on port; killed afterwards."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_port(port, proc, what)
        yield
    finally:
        proc.kill()
        proc.wait()


class RedisServer:
    def __init__(self, workdir: Path, password: str | None = None) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.password = password  # clients must AUTH with it (requirepass)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        userinfo = f":{self.password}@" if self.password else ""
        return f"redis://{userinfo}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = require_program("redis-server", "apt-get install redis-server")
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                *(["--requirepass", self.password] if self.password else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port, self.proc, "redis-server")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@contextmanager
def redis_server(workdir: Path, password: str | None = None) -> Iterator[RedisServer]:
    server = RedisServer(workdir, password)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def s3_server() -> Iterator[str]:
    """moto in server mode; yields its endpoint URL."""
    port = free_port()
    with _serving([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port, "moto server"):
        yield f"http://127.0.0.1:{port}"


@contextmanager
def gcs_server() -> Iterator[str]:
    """gcp-storage-emulator, in memory; yields its endpoint URL."""
    require_module("gcp_storage_emulator", "pip install gcp-storage-emulator")
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gcp_storage_emulator",
            "start",
            "-H",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
            "-q",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "gcp-storage-emulator", timeout_s=60)  # wide: a loaded machine starts it slowly
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.kill()
        proc.wait()


#: Where .ci/run installs Azurite (npm install --prefix); $MLSPEC_NPM_PREFIX overrides it.
NPM_PREFIX = Path(os.environ.get("MLSPEC_NPM_PREFIX") or Path.home() / ".cache" / "mlspec-npm")
#: Azurite's fixed development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def _azurite_blob() -> str:
    """The azurite-blob program: $AZURITE_BLOB, else the one .ci/run pinned in NPM_PREFIX, else on PATH."""
    installed = NPM_PREFIX / "node_modules" / ".bin" / "azurite-blob"
    if os.environ.get("AZURITE_BLOB"):
        return os.environ["AZURITE_BLOB"]
    if installed.is_file():
        return str(installed)
    return require_program("azurite-blob", f"npm install --prefix {NPM_PREFIX} azurite@3.35.0")


@contextmanager
def azurite_server(workdir: Path) -> Iterator[str]:
    """Azurite's blob service, in memory; yields a connection string for its development account."""
    port = free_port()
    proc = subprocess.Popen(
        # The SDK may speak a newer API version than this Azurite knows; the calls mlspec makes are old ones.
        [
            _azurite_blob(),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--inMemoryPersistence",
            "--silent",
            "--disableTelemetry",
            "--skipApiVersionCheck",
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port, proc, "azurite-blob", timeout_s=60)  # wide: node starts slowly on a loaded machine
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
        )
    finally:
        proc.kill()
        proc.wait()


def _gcs_client(endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="mlspec", credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


def create_gcs_bucket(endpoint: str, name: str) -> None:
    _gcs_client(endpoint).create_bucket(name)


def gcs_object_names(endpoint: str, bucket: str) -> list[str]:
    return [blob.name for blob in _gcs_client(endpoint).list_blobs(bucket)]


def create_azure_container(connection_string: str, name: str) -> None:
    from azure.storage.blob import BlobServiceClient

    BlobServiceClient.from_connection_string(connection_string).create_container(name)


def azure_blob_names(connection_string: str, container: str) -> list[str]:
    from azure.storage.blob import ContainerClient

    return list(ContainerClient.from_connection_string(connection_string, container).list_blob_names())


@contextmanager
def container_registry(workdir: Path) -> Iterator[str]:
    """Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1; yields host:port."""
    binary = require_program("docker-registry", "apt-get install docker-registry")
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}, delete: {{enabled: true}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    with _serving([binary, "serve", str(config)], port, "docker-registry"):
        yield f"127.0.0.1:{port}"


@contextmanager
def podman_service(workdir: Path, insecure_registry: str) -> Iterator[str]:
    """`podman system service` on a socket in workdir, speaking the Docker Engine API; yields the
    DOCKER_HOST URL. Its containers run with runc (crun refuses hybrid cgroup hosts) and file limits
    the runtime accepts, and it speaks plain HTTP to the test's loopback registry (as Docker does to
    127.0.0.0/8 by default)."""
    podman = require_program("podman", "apt-get install podman buildah runc")
    runc = shutil.which("runc")
    (workdir / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
        + (f'[engine]\nruntime = "{runc}"\n' if runc else "")
    )
    (workdir / "registries.conf").write_text(f'[[registry]]\nlocation = "{insecure_registry}"\ninsecure = true\n')
    socket_path = workdir / "podman.sock"
    env = {
        **os.environ,
        "CONTAINERS_CONF": str(workdir / "containers.conf"),
        "CONTAINERS_REGISTRIES_CONF": str(workdir / "registries.conf"),
    }
    with (workdir / "service.log").open("wb") as log:
        proc = subprocess.Popen(
            [podman, "system", "service", "--time=0", f"unix://{socket_path}"], stdout=log, stderr=log, env=env
        )
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"podman system service did not start: {(workdir / 'service.log').read_text()}")
            time.sleep(0.05)
        yield f"unix://{socket_path}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
