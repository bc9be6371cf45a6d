"""Images built, shipped and run as their platforms run them, all for real on loopback:

- `mlspec build --engine docker` builds through the Docker SDK against podman's Docker-API service
  (`podman system service`), so the Docker-engine branch of the build is the one exercised;
- `--push` sends every image to a registry (Debian's docker-registry) and records the digest, which
  must be the one the registry serves; so does the push step every deployer runs;
- each image is pulled back by that digest and run through the Docker API too: the aws-lambda image
  by its own entry point (the runtime interface client) against the Lambda Runtime API emulator, the
  gcp-cloud-run image serving HTTP on $PORT, each with its platform's memory and vCPU envelope. Their
  results and the objects they write equal the process executor's for the same event."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from mlspec import spec as spec_module
from mlspec.cli import main
from mlspec.compile.base_image import default_cache
from mlspec.compile.engines import CliEngine
from mlspec.compile.graph import graph
from mlspec.deploy.images import RegistryLogin, push_with_engine
from mlspec.executors.base import Invocation, Limits
from mlspec.executors.local import LocalProcessExecutor
from mlspec.executors.local_container import mounts, platform_vcpus
from mlspec.platforms.aws_lambda.runtime_api import RuntimeApiEmulator
from tests.conftest import wait_until
from tests.servers import container_registry, free_port, podman_service

pytest.importorskip("docker")
# Two images from the base (numpy and the shims into each): a minute or two, more on a loaded machine.
pytestmark = pytest.mark.timeout(1200)

MEMORY_MB = 1024
SPEC = f"""\
name: shipped
datasets:
  images: {{format: cifar10, synthetic: {{train_size: 60, test_size: 20, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: images}}
targets:
  aws-lambda: {{memory_mb: {MEMORY_MB}, timeout_s: 120}}
  gcp-cloud-run: {{memory_mb: {MEMORY_MB}, vcpu: 1}}
"""
PLATFORMS = ("aws-lambda", "gcp-cloud-run")
MANIFEST_TYPES = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with container_registry(tmp_path_factory.mktemp("registry")) as address:
        yield address


@pytest.fixture(scope="module")
def docker_host(registry: str, podman: CliEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with podman_service(tmp_path_factory.mktemp("podman-service"), registry) as url:
        yield url


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "shipped.yaml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def manifest(
    spec_file: Path, base_image: str, docker_host: str, registry: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("build")
    targets = [arg for platform in PLATFORMS for arg in ("--target", platform)]
    wheelhouse = default_cache().parent / "wheelhouse"
    result = CliRunner().invoke(
        main,
        [
            "build",
            str(spec_file),
            *targets,
            "--engine",
            "docker",
            "--base-image",
            base_image,
            "--wheelhouse",
            str(wheelhouse),
            "--push",
            f"{registry}/mlspec",
            "--out",
            str(out),
        ],
        env={"DOCKER_HOST": docker_host},
    )
    assert result.exit_code == 0, result.output
    assert "pushed as" in result.stdout
    data: dict[str, Any] = json.loads((out / "shipped" / "manifest.json").read_text())
    return data


def _entry(manifest: dict[str, Any], platform: str) -> dict[str, Any]:
    return next(e for e in manifest["contexts"] if e["platform"] == platform)


def _event(root: Path) -> dict[str, Any]:
    node = graph(spec_module.load_text(SPEC)).nodes[0]
    return {
        **json.loads(json.dumps(node.config)),
        "function": node.function,
        "stage": node.stage,
        "run_id": "shipped",
        "worker": 0,
        "object_store": {"kind": "local", "root": str(root / "objects")},
        "param_store": {"kind": "local", "root": str(root / "params")},
        "cache_dir": str(root / "cache"),
    }


def _content(path: Path) -> str:
    """A hash of what a file holds: for an .npz, its arrays (the archive's own bytes carry write times)."""
    if path.suffix != ".npz":
        return hashlib.sha256(path.read_bytes()).hexdigest()
    digest = hashlib.sha256()
    with np.load(path) as arrays:
        for name in sorted(arrays.files):
            array = arrays[name]
            digest.update(f"{name}{array.dtype}{array.shape}".encode() + array.tobytes())
    return digest.hexdigest()


def _objects(root: Path) -> dict[str, str]:
    """Every object a run wrote, by path, with its content's hash."""
    base = root / "objects"
    return {str(path.relative_to(base)): _content(path) for path in sorted(base.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def process_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, str]]:
    """The same event through the process executor: its result and the objects it wrote."""
    root = tmp_path_factory.mktemp("process")
    event = _event(root)
    invocation = Invocation(id="prep#0", stage="prep", function=event["function"], worker=0, event=event)
    (root / "logs").mkdir()
    (outcome,) = LocalProcessExecutor(root / "logs").run_group([invocation], Limits(MEMORY_MB, 120), lambda *a: None)
    assert outcome.record.status == "ok", outcome.record.error
    assert outcome.result is not None
    return outcome.result, _objects(root)


@pytest.fixture(scope="module")
def client(docker_host: str) -> Iterator[Any]:
    """A Docker SDK client of podman's Docker-API service."""
    import docker

    client = docker.DockerClient(base_url=docker_host, timeout=300)
    yield client
    client.close()


@pytest.fixture
def containers(client: Any) -> Iterator[list[Any]]:
    """The containers a test starts; removed afterwards, whatever happened."""
    import docker

    started: list[Any] = []
    yield started
    for container in started:
        try:
            container.remove(force=True)
        except docker.errors.APIError:  # podman: it exited while being killed ("state improper: stopped")
            container.wait(timeout=60)
            container.remove()


def _volumes(event: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The executor's bind mounts for an event (`--volume host:inside[:ro]`), as the Docker SDK takes them."""
    args = mounts(event)
    volumes = {}
    for spec in args[1::2]:
        host, inside, *mode = spec.split(":")
        volumes[host] = {"bind": inside, "mode": mode[0] if mode else "rw"}
    return volumes


def _run(client: Any, reference: str, env: dict[str, str], vcpus: float, root: Path) -> Any:
    """Pull reference by digest, then run it detached through the Docker API with its own entry point, in
    the platform's envelope (memory, no swap, vCPUs), as the user running the tests (so the shared
    store directory stays theirs), on the host network (the loopback servers)."""
    client.images.pull(reference)
    return client.containers.run(
        reference,
        detach=True,
        network_mode="host",
        mem_limit=f"{MEMORY_MB}m",
        memswap_limit=f"{MEMORY_MB}m",
        nano_cpus=round(vcpus * 1e9),
        user=f"{os.getuid()}:{os.getgid()}",
        userns_mode="keep-id" if os.getuid() else None,
        environment=env,
        volumes=_volumes(_event(root)),
    )


def _envelope(container: Any) -> tuple[int, int, int]:
    container.reload()
    host = container.attrs["HostConfig"]
    return int(host["Memory"]), int(host["MemorySwap"]), int(host["NanoCpus"])


def test_every_image_is_built_through_the_docker_api_and_pushed_by_digest(
    manifest: dict[str, Any], registry: str
) -> None:
    assert manifest["engine"] == "docker"
    for platform in PLATFORMS:
        entry = _entry(manifest, platform)
        image = entry["image"]
        assert image["built"] and image["engine"] == "docker" and image["error"] is None
        pushed = image["pushed"]
        repository, _, tag = pushed["uri"].removeprefix(f"{registry}/").rpartition(":")
        assert tag == entry["tag"].rpartition(":")[2]
        assert _registry_digest(registry, repository, tag) == pushed["digest"]
        assert pushed["reference"] == f"{registry}/{repository}@{pushed['digest']}"


def _registry_digest(registry: str, repository: str, tag: str) -> str:
    request = urllib.request.Request(
        f"http://{registry}/v2/{repository}/manifests/{tag}", method="HEAD", headers={"Accept": MANIFEST_TYPES}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return str(answer.headers["Docker-Content-Digest"])


def test_the_deploy_push_returns_the_reference_by_digest(manifest: dict[str, Any], registry: str) -> None:
    """What every deployer's push_image step runs (login, tag, push through the engine's CLI)."""
    image = _entry(manifest, "aws-lambda")["tag"]
    uri = f"{registry}/deploy/{image}"
    reference = push_with_engine(image, uri, RegistryLogin(registry, "mlspec", "unused-by-this-registry"))
    repository, _, digest = reference.removeprefix(f"{registry}/").partition("@")
    assert repository == "deploy/" + image.rpartition(":")[0]
    assert digest == _registry_digest(registry, repository, image.rpartition(":")[2])


def test_the_lambda_image_runs_as_lambda_runs_it(
    manifest: dict[str, Any],
    client: Any,
    containers: list[Any],
    process_run: tuple[dict[str, Any], dict[str, str]],
    tmp_path: Path,
) -> None:
    reference = _entry(manifest, "aws-lambda")["image"]["pushed"]["reference"]
    vcpus = platform_vcpus("aws-lambda", MEMORY_MB)  # Lambda's rule: 1,769 MB per vCPU
    with RuntimeApiEmulator("shipped-prep", MEMORY_MB, timeout_s=120) as api:
        containers.append(_run(client, reference, api.environment(), vcpus, tmp_path))
        assert client.images.get(reference).attrs["Config"]["Entrypoint"] == ["python", "-m", "awslambdaric"]
        outcome = api.invoke(_event(tmp_path))
        # A warm container takes the next event too, as Lambda reuses an execution environment.
        failed = api.invoke({"function": "no_such_function"})
    assert outcome.error is None, outcome.error
    expected_result, expected_objects = process_run
    assert outcome.result == expected_result
    assert _objects(tmp_path) == expected_objects and expected_objects
    assert failed.error is not None and "no_such_function" in failed.error["errorMessage"]
    memory, swap, nano_cpus = _envelope(containers[0])
    assert memory == swap == MEMORY_MB * 1024 * 1024
    # The engine keeps the vCPUs as a CFS quota per 100 ms period: equal to 1e-3.
    assert nano_cpus == pytest.approx(vcpus * 1e9, rel=1e-3)


def test_the_cloud_run_image_serves_its_port(
    tmp_path: Path,
    process_run: tuple[dict[str, Any], dict[str, str]],
    manifest: dict[str, Any],
    client: Any,
    containers: list[Any],
) -> None:
    port = free_port()
    reference = _entry(manifest, "gcp-cloud-run")["image"]["pushed"]["reference"]
    containers.append(_run(client, reference, {"PORT": str(port)}, 1.0, tmp_path))
    url = f"http://127.0.0.1:{port}/"

    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    # The service starts in a second or two; the margin is for a machine busy with other work.
    wait_until(ready, 120, f"the Cloud Run image listening on $PORT={port}")
    body = json.dumps(_event(tmp_path)).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        result = json.loads(answer.read())
    expected_result, expected_objects = process_run
    assert result == expected_result
    assert _objects(tmp_path) == expected_objects
    assert _envelope(containers[0]) == (MEMORY_MB * 1024 * 1024, MEMORY_MB * 1024 * 1024, 10**9)
