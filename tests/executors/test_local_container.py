"""Real images, really run: a Debian base bootstrapped here (cached per machine), the quick start's
function images built from it with a host wheelhouse, and invocations run in them by podman with a
platform's envelope enforced by the engine."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlspec import spec as spec_module
from mlspec.cli import main
from mlspec.compile.base_image import default_cache
from mlspec.compile.build import BuildResult, build
from mlspec.compile.engines import CliEngine, EngineError, podman_run_prefix
from mlspec.compile.graph import graph
from mlspec.executors.base import Invocation, Limits
from mlspec.executors.local_container import (
    ContainerImageError,
    LocalContainerExecutor,
    container_options,
    platform_vcpus,
)
from mlspec.spec.models import Pipeline
from tests.conftest import REPO

QUICKSTART = REPO / "examples" / "quickstart.yaml"
# Fewer epochs: the comparison needs the same work on both executors, not the full quick start.
OVERRIDES = ["stages.train_images.epochs=1", "stages.train_reviews.epochs=2"]
TIMINGS: dict[str, float] = {}  # measured, printed at the end with -s
# The first test builds the base and the function images (torch into each): minutes, more on a loaded machine.
pytestmark = pytest.mark.timeout(1800)


def _quickstart(*extra: str) -> Pipeline:
    return spec_module.load(QUICKSTART, [*OVERRIDES, *extra])


@pytest.fixture(scope="session")
def quickstart_images(base_image: str, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    started = time.monotonic()
    result = build(
        _quickstart(),
        tmp_path_factory.mktemp("build"),
        targets=["local"],
        engine="podman",
        base_image=base_image,
        wheelhouse=default_cache().parent / "wheelhouse",
    )
    TIMINGS["quick start images (wheelhouse + 6 builds)"] = time.monotonic() - started
    assert not result.failed, result.failed[0]["image"]["error"]
    return result


@pytest.fixture(scope="session")
def options(quickstart_images: BuildResult) -> dict[str, Any]:
    return container_options(_quickstart(), quickstart_images.directory.parent)


def _stage_event(stage: str, root: Path, **dataset: Any) -> dict[str, Any]:
    node = next(n for n in graph(_quickstart()).nodes if n.stage == stage)
    config = json.loads(json.dumps(node.config))
    config["dataset"]["synthetic"].update(dataset)
    return {
        **config,
        "function": node.function,
        "stage": stage,
        "run_id": f"test{time.time_ns()}",
        "worker": 0,
        "object_store": {"kind": "local", "root": str(root / "objects")},
        "param_store": {"kind": "local", "root": str(root / "params")},
        "cache_dir": str(root / "cache"),
    }


def test_platform_envelope_is_enforced_inside_the_container(options: dict[str, Any], tmp_path: Path) -> None:
    """AWS Lambda at 2,048 MB: the container's cgroup holds 2,048 MB and 2048/1769 vCPU."""
    executor = LocalContainerExecutor(tmp_path, {**options, "platform": "aws-lambda"})
    inv = Invocation("prep_images.preprocess", "prep_images", "preprocess", None, _stage_event("prep_images", tmp_path))
    command, env = executor._command(inv, Limits(2048, 60), threads=2)
    image = command.pop()
    probe = (
        "import pathlib as p\n"
        "def read(*names):\n"
        "    for n in names:\n"
        "        f = p.Path('/sys/fs/cgroup', n)\n"
        "        if f.exists(): return f.read_text().split()\n"
        "print(read('memory.max', 'memory/memory.limit_in_bytes')[0])\n"
        "v2 = read('cpu.max')\n"
        "print(*(v2 or read('cpu/cpu.cfs_quota_us') + read('cpu/cpu.cfs_period_us')))\n"
    )
    command.remove("--interactive")
    out = subprocess.run(
        [*command, "--entrypoint", "python", image, "-c", probe], capture_output=True, text=True, env=env, timeout=60
    )
    subprocess.run([executor.podman, "rm", "--force", executor.containers[inv.id].name], capture_output=True)
    assert out.returncode == 0, out.stderr
    memory, cpu = out.stdout.splitlines()
    quota, period = (int(x) for x in cpu.split())
    assert int(memory) == 2048 * 1024 * 1024
    assert quota / period == pytest.approx(2048 / 1769, abs=0.01)
    assert platform_vcpus("aws-lambda", 1769) == pytest.approx(1.0)


def test_function_over_the_memory_limit_is_oom_killed_and_reported(
    options: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)  # the user's folder: nothing may be left in it
    (tmp_path / "logs").mkdir()
    executor = LocalContainerExecutor(tmp_path / "logs", options)
    # 100,000 synthetic 32x32x3 images need far more than 256 MB.
    event = _stage_event("prep_images", tmp_path, train_size=100_000)
    inv = Invocation("prep_images.preprocess", "prep_images", "preprocess", None, event)
    # A wide time limit (within the suite's 300 s per test): making the images is CPU work, slow on a busy
    # machine; the memory limit is what is tested.
    [outcome] = executor.run_group([inv], Limits(256, 240), lambda i, p: None)
    assert outcome.record.status == "memory", outcome.record.error
    assert "out-of-memory" in (outcome.record.error or "")
    assert outcome.record.memory_limit_mb == 256
    assert _leftover_containers(executor, event["run_id"]) == []
    assert list(here.iterdir()) == []


def test_time_limit_stops_the_container(options: dict[str, Any], tmp_path: Path) -> None:
    executor = LocalContainerExecutor(tmp_path, options)
    event = _stage_event("prep_images", tmp_path, train_size=100_000)
    inv = Invocation("prep_images.preprocess", "prep_images", "preprocess", None, event)
    started = time.monotonic()
    [outcome] = executor.run_group([inv], Limits(4096, 1.5), lambda i, p: None)
    assert outcome.record.status == "timeout"
    assert time.monotonic() - started < 30
    assert _leftover_containers(executor, event["run_id"]) == []


def _leftover_containers(executor: LocalContainerExecutor, run_id: str) -> list[str]:
    listed = subprocess.run([executor.podman, "ps", "--all", "--format", "{{.Names}}"], capture_output=True, text=True)
    return [name for name in listed.stdout.split() if run_id in name]


def _run(tmp_path: Path, *args: str) -> dict[str, Any]:
    overrides = [arg for item in OVERRIDES for arg in ("--set", item)]
    result = CliRunner().invoke(
        main, ["run", str(QUICKSTART), *overrides, *args, "--json", "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    record: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return record


def test_quickstart_through_containers_matches_the_process_executor(
    quickstart_images: BuildResult, tmp_path: Path
) -> None:
    build_dir = str(quickstart_images.directory.parent)
    container = _run(tmp_path, "--executor", "local-container", "--set", f"execution.container_build_dir={build_dir}")
    process = _run(tmp_path, "--executor", "local")
    TIMINGS["quick start, local-container executor (wall)"] = container["wall_s"]
    TIMINGS["quick start, process executor (wall)"] = process["wall_s"]
    assert container["executor"] == "local-container" and container["status"] == "succeeded"
    assert all(inv["status"] == "ok" and inv["peak_rss_mb"] > 0 for inv in container["invocations"])
    for stage in ("eval_images", "eval_reviews"):
        ours, theirs = (r["stages"][stage]["metrics"]["test_accuracy"] for r in (container, process))
        TIMINGS[f"{stage} accuracy container - process"] = ours - theirs
        assert ours == pytest.approx(theirs, abs=0.02)


def test_missing_build_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ContainerImageError, match="no build manifest"):
        container_options(_quickstart(), tmp_path)


def test_stale_image_is_a_clear_error(quickstart_images: BuildResult) -> None:
    with pytest.raises(ContainerImageError, match="another spec"):
        container_options(_quickstart("targets.local.memory_mb=1024"), quickstart_images.directory.parent)


@pytest.fixture(scope="session", autouse=True)
def _report_timings() -> Any:
    yield
    for name, seconds in TIMINGS.items():
        print(f"measured: {name}: {seconds:.2f}")


def test_engine_error_names_the_base_image_step(podman: CliEngine, tmp_path: Path) -> None:
    missing = tmp_path / "absent.tar"
    with pytest.raises(EngineError, match="import"):
        podman.import_rootfs(missing, "localhost/mlspec-test-never:1", {}, lambda text: None)
    assert podman_run_prefix(podman.executable)[0] == podman.executable
