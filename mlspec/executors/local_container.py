"""The local container executor: each invocation is `podman run -i` of its function's image (built by
`mlspec build --target local`), with a platform's envelope enforced by the engine: `--memory` and
`--cpus` from that platform's memory-to-vCPU rule (e.g. AWS Lambda: 1,769 MB per vCPU). So timings
measured here reflect that platform's allotment. The event goes in on stdin and JSON lines come back,
through the same shim and protocol as the process executor (this class reuses it). Containers share
nothing but the stores: the run's local store directories (and the dataset cache) are bind-mounted at
the same paths; the host network lets them reach loopback Redis or S3 servers."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.compile.build import MANIFEST, render_context
from mlspec.compile.engines import cli_engine, podman_run_prefix
from mlspec.compile.graph import graph
from mlspec.errors import UsageError
from mlspec.executors.base import Invocation, Limits
from mlspec.executors.local import STOP_GRACE_S, LocalProcessExecutor, _proc_status, _Running, thread_env
from mlspec.providers.registry import get_offering
from mlspec.spec.models import Pipeline
from mlspec.storage import is_local_store

CONTAINER_PLATFORM = "local"  # the image whose shim speaks JSON lines on stdin/stdout
APP_DIR = "/app"  # the images' working directory: where relative dataset paths resolve
PASSED_ENV_PREFIXES = ("AWS_",)  # credentials for an S3 store
OOM_EXIT = 137  # 128 + SIGKILL, what the kernel's out-of-memory killer leaves
OOM_NEAR_LIMIT = 0.9  # a peak this close to the limit, then SIGKILL: the limit killed it


class ContainerImageError(UsageError):
    """No current image for a function: it must be built first."""


def container_options(pipeline: Pipeline, build_dir: Path | None = None) -> dict[str, Any]:
    """The executor's options for pipeline: each stage's image from the build manifest, checked to be
    built for the current spec (its Dockerfile, requirements and function.json match a fresh rendering).
    Like any image, it runs the mlspec code it was built with: rebuild after changing mlspec itself."""

    directory = (build_dir or Path(pipeline.execution.container_build_dir)) / pipeline.name
    rebuild = f"run `mlspec build SPEC --target local --bootstrap-base --wheelhouse DIR --out {directory.parent}`"
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise ContainerImageError(f"no build manifest at {directory / MANIFEST} ({exc}): {rebuild}") from None
    entries = {e["stage"]: e for e in manifest["contexts"] if e["platform"] == CONTAINER_PLATFORM}
    podman = cli_engine("podman")
    if podman is None:
        raise ContainerImageError(
            "the local-container executor runs images with podman, which is not on PATH: `apt-get install podman runc`"
        )
    images = {}
    for node in graph(pipeline).nodes:
        entry = entries.get(node.stage)
        if entry is None or not entry["image"]["built"]:
            raise ContainerImageError(f"stage {node.stage!r} has no built image for the local platform: {rebuild}")
        dockerfile = (directory / entry["dir"] / "Dockerfile").read_text()
        base = re.search(r"^FROM\s+(\S+)", dockerfile, re.MULTILINE)
        current = render_context(
            pipeline, node, CONTAINER_PLATFORM, pipeline.targets.local, base.group(1) if base else None
        )
        built = directory / entry["dir"]
        changed = [  # a file absent from the built context (a brought file edited since) differs too
            name
            for name, data in current.files.items()
            if not name.startswith("mlspec/") and (not (built / name).is_file() or (built / name).read_bytes() != data)
        ]
        if changed:
            raise ContainerImageError(
                f"the image of stage {node.stage!r} ({entry['tag']}) was built from another "
                f"spec ({', '.join(changed)} differ): {rebuild}"
            )
        if not podman.image_exists(entry["tag"]):
            raise ContainerImageError(
                f"image {entry['tag']} of stage {node.stage!r} is not in podman's storage: {rebuild}"
            )
        images[node.stage] = entry["tag"]
    return {"images": images, "platform": pipeline.execution.container_platform, "podman": podman.executable}


def platform_vcpus(platform: str, memory_mb: int) -> float:
    """The vCPUs platform allots to a function with memory_mb (its own rule; the host's CPUs for local)."""

    return get_offering(platform).vcpu_rule.vcpus_for(memory_mb, None, f"{platform} envelope")


def envelope_args(memory_mb: int, vcpus: float) -> list[str]:
    """The engine's run options for a function's memory and vCPU allotment; memory-swap = memory: no
    swap beyond the limit, as on a serverless platform."""
    return ["--memory", f"{memory_mb}m", "--memory-swap", f"{memory_mb}m", "--cpus", f"{vcpus:.3f}"]


def container_name(inv: Invocation) -> str:
    return re.sub(r"[^a-zA-Z0-9_.-]", "-", f"mlspec-{inv.event.get('run_id', 'run')}-{inv.id}")


def mounts(event: dict[str, Any]) -> list[str]:
    """Bind mounts for the paths an event names on this host: local store roots and the dataset cache
    (read-write, same path), a dataset file (read-only, where the container resolves its path)."""
    shared = [
        config["root"]
        for config in (event.get("object_store"), event.get("param_store"))
        if isinstance(config, dict) and is_local_store(config) and config.get("root")
    ]
    if event.get("cache_dir"):
        shared.append(event["cache_dir"])
    args = []
    for path in dict.fromkeys(str(Path(p).resolve()) for p in shared):
        Path(path).mkdir(parents=True, exist_ok=True)
        args += ["--volume", f"{path}:{path}"]
    dataset_path = (event.get("dataset") or {}).get("path")
    if dataset_path:
        inside = os.path.normpath(os.path.join(APP_DIR, dataset_path))
        args += ["--volume", f"{Path(dataset_path).resolve()}:{inside}:ro"]
    return args


@dataclass
class _Container:
    name: str
    pidfile: Path
    memory_mb: int
    pid: int | None = None
    cgroup: Path | None = None  # its memory cgroup, as this host mounts it
    cpu_s: float = 0.0
    limit_hit: bool = False  # the cgroup reached its memory limit at least once


def _memory_cgroup(pid: int) -> Path | None:
    """pid's memory cgroup directory: the v1 memory hierarchy, else the unified (v2) one."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    paths = {controllers: path for _, controllers, path in (line.split(":", 2) for line in lines)}
    if "memory" in paths:
        return Path("/sys/fs/cgroup/memory" + paths["memory"])
    if "" in paths:
        return Path("/sys/fs/cgroup" + paths[""])
    return None


def _limit_hit(cgroup: Path) -> bool:
    """Whether the cgroup's memory use reached its limit (v1 memory.failcnt, v2 memory.events max/oom_kill)."""
    with contextlib.suppress(OSError, ValueError):
        return int((cgroup / "memory.failcnt").read_text()) > 0
    with contextlib.suppress(OSError, ValueError):
        events = dict(line.split() for line in (cgroup / "memory.events").read_text().splitlines())
        return int(events.get("max", 0)) + int(events.get("oom_kill", 0)) > 0
    return False


def _cpu_seconds(pid: int) -> float | None:
    """utime + stime of pid and its reaped children, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


class LocalContainerExecutor(LocalProcessExecutor):
    name = "local-container"

    def __init__(self, log_dir: Path, options: dict[str, Any] | None = None) -> None:
        super().__init__(log_dir)
        options = options or {}
        if not options.get("images"):
            raise ContainerImageError(
                "the local-container executor needs the functions' images (container_options(pipeline))"
            )
        self.images: dict[str, str] = options["images"]
        self.platform: str = options.get("platform", "local")
        self.podman: str = options.get("podman") or shutil.which("podman") or "podman"
        self.containers: dict[str, _Container] = {}

    def _workdir(self) -> Path:
        """The run's logs: podman's monitor (conmon) leaves an empty `oom` file in its working directory when
        the kernel kills a container for memory, which would otherwise land in the user's."""
        return self.log_dir

    def _command(self, inv: Invocation, limits: Limits, threads: int) -> tuple[list[str], dict[str, str]]:

        cpus = platform_vcpus(self.platform, limits.memory_mb)
        container = _Container(container_name(inv), self.log_dir / f"{inv.id}.pid", limits.memory_mb)
        container.pidfile.unlink(missing_ok=True)
        self.containers[inv.id] = container
        env = {**thread_env(max(1, min(threads, math.ceil(cpus)))), "MLSPEC_INVOCATION_ID": inv.id}
        passed = [name for name in os.environ if name.startswith(PASSED_ENV_PREFIXES)]
        # As the user running mlspec, so files in the shared stores are theirs, as with the process executor.
        user = ["--user", f"{os.getuid()}:{os.getgid()}", *(("--userns", "keep-id") if os.getuid() else ())]
        command = [
            *podman_run_prefix(self.podman),
            "--interactive",
            "--name",
            container.name,
            "--pidfile",
            str(container.pidfile),
            "--network",
            "host",
            *envelope_args(limits.memory_mb, cpus),
            *user,
            *mounts(inv.event),
            *(arg for k, v in env.items() for arg in ("--env", f"{k}={v}")),
            *(arg for name in passed for arg in ("--env", name)),
            self.images[inv.stage],
        ]
        return command, dict(os.environ)

    def _sample(self, run: _Running) -> int | None:
        container = self.containers[run.inv.id]
        if container.pid is None:
            with contextlib.suppress(OSError, ValueError):
                container.pid = int(container.pidfile.read_text().strip())
            if container.pid is not None:
                container.cgroup = _memory_cgroup(container.pid)
        if container.pid is not None:
            status = _proc_status(container.pid)
            run.peak_kb = max(run.peak_kb, status.get("VmHWM", 0), status.get("VmRSS", 0))
            container.cpu_s = _cpu_seconds(container.pid) or container.cpu_s
            container.limit_hit = container.limit_hit or (container.cgroup is not None and _limit_hit(container.cgroup))
        return None  # the engine enforces the memory limit

    def _exited(self, run: _Running) -> None:
        container = self.containers.pop(run.inv.id)
        run.cpu_s = container.cpu_s  # the container's process, not the podman client's
        if run.status is None and run.proc.returncode == OOM_EXIT and self._out_of_memory(container, run):
            run.status = "memory"
            run.error = (
                f"exceeded memory_mb={container.memory_mb}: killed by the kernel's out-of-memory killer "
                f"(podman --memory {container.memory_mb}m; peak resident {run.peak_kb / 1024:.0f} MB)"
            )
        subprocess.run([self.podman, "rm", "--force", container.name], capture_output=True)
        container.pidfile.unlink(missing_ok=True)

    def _out_of_memory(self, container: _Container, run: _Running) -> bool:
        """A SIGKILL we did not send, with the engine's word for it or with the memory at its limit (the
        engine does not always notice the kernel's OOM kill: podman 4.3 on cgroup v1 does not)."""
        if container.limit_hit or run.peak_kb >= OOM_NEAR_LIMIT * container.memory_mb * 1024:
            return True
        inspect = subprocess.run(
            [self.podman, "inspect", "--format", "{{.State.OOMKilled}}", container.name], capture_output=True, text=True
        )
        return inspect.stdout.strip() == "true"

    def _kill(self, run: _Running, status: str, error: str) -> None:
        super()._kill(run, status, error)
        # Killing the podman client leaves the container running: stop it through the engine.
        container = self.containers.get(run.inv.id)
        if container is not None:
            subprocess.run([self.podman, "kill", container.name], capture_output=True)

    def _terminate(self, run: _Running) -> None:
        # The podman client does not pass SIGTERM on to the function (PID 1 in its container ignores
        # it): the engine stops the container itself (SIGTERM, then SIGKILL after the grace).
        container = self.containers.get(run.inv.id)
        if container is not None:
            subprocess.Popen(
                [self.podman, "stop", "--time", f"{STOP_GRACE_S:.0f}", container.name],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        super()._terminate(run)

    def stop(self) -> None:
        names = [container.name for container in self.containers.values()]
        super().stop()
        for name in names:  # the stopped runs are never reaped by run_group, which removes the others
            subprocess.run([self.podman, "rm", "--force", name], capture_output=True)
