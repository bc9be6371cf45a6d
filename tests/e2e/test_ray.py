"""The Ray executor on a real two-node Ray cluster (tests/ray_cluster.py): the quick start across both nodes
with the process executor's accuracy, a node's worker process killed mid-training and the stage restarted
from its checkpoint, k-means lock-based and lock-free with the sequential inertia, a model and a transform
brought from files shipped to the nodes in the events, and an invocation over its memory or a group bigger than
the cluster reported in one line. The runs use the CLI, as a user would."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.algorithms.test_iterative import _baseline, _spec
from tests.conftest import wait_until
from tests.datasets.test_brought_features import IMAGES
from tests.e2e.test_fault_tolerance import SPEC, accuracy, find_process, trained_epochs
from tests.models.test_imported_models import NETS
from tests.ray_cluster import RayCluster, ray_cluster

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.yaml"
NOISE = 0.03  # seeded runs; only the math libraries' thread counts may differ between the executors


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    with ray_cluster() as running:
        yield running


def on_ray(cluster: RayCluster, spec: Path, runs: Path, *sets: str) -> subprocess.Popen[str]:
    """`mlspec run SPEC --executor ray` inside the cluster's network namespace, as a user on a cluster node."""
    args = ["run", str(spec), "--executor", "ray", "--set", f"execution.ray.address={cluster.address}"]
    args += ["--runs-dir", str(runs), "--json", *(a for s in sets for a in ("--set", s))]
    return subprocess.Popen(
        cluster.mlspec(*args), cwd=spec.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(proc: subprocess.Popen[str], code: int = 0) -> tuple[dict[str, Any] | None, str]:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == code, err[-3000:]
    return (json.loads(out) if code == 0 else None), err


def test_quickstart_runs_across_both_nodes_with_the_local_accuracy(cluster: RayCluster, tmp_path: Path) -> None:
    local = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", str(QUICKSTART), "--json", "--runs-dir", str(tmp_path / "local")],
        capture_output=True,
        text=True,
        check=True,
    )
    ray, _ = finished(on_ray(cluster, QUICKSTART, tmp_path / "ray"))
    assert ray is not None
    assert ray["executor"] == "ray" and ray["status"] == "succeeded"
    nodes = {inv["node"] for inv in ray["invocations"]}
    assert len(nodes) == 2 and all(node and node.endswith("@127.0.0.1") for node in nodes)
    # The two workers of each train stage were spread over both nodes (one placement group per stage).
    for stage in ("train_images", "train_reviews"):
        assert len({inv["node"] for inv in ray["invocations"] if inv["stage"] == stage}) == 2
    assert all(inv["vcpu"] == 1.0 and inv["peak_rss_mb"] > 0 for inv in ray["invocations"])
    for stage in ("eval_images", "eval_reviews"):
        expected = json.loads(local.stdout)["stages"][stage]["metrics"]["test_accuracy"]
        assert ray["stages"][stage]["metrics"]["test_accuracy"] == pytest.approx(expected, abs=NOISE)


def test_worker_process_killed_mid_training_restarts_from_checkpoint(cluster: RayCluster, tmp_path: Path) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(SPEC.format(storage=""))
    runs = tmp_path / "runs"
    proc = on_ray(cluster, spec, runs)
    wait_until(lambda: trained_epochs(runs) >= 2, 300, "two trained epochs")
    invocation = wait_until(lambda: find_process("train.train_worker#1", cluster.processes()), 120, "worker 1")
    ray_worker = psutil.Process(invocation).ppid()  # the node's worker process running the Ray task
    assert Path(f"/proc/{ray_worker}/cmdline").read_bytes().startswith(b"ray::")
    os.kill(ray_worker, signal.SIGKILL)
    record, _ = finished(proc)
    assert record is not None
    train = record["stages"]["train"]
    assert train["retries"] == 1
    [lost] = [i for i in record["invocations"] if i["stage"] == "train" and i["status"] == "error"]
    assert lost["worker"] == 1 and "WorkerCrashedError" in lost["error"]
    # Restarted from the checkpoint: every epoch counted once, none trained twice.
    assert [h["epoch"] for h in train["history"]] == [1, 2, 3, 4, 5, 6]
    assert min(i["metrics"].get("first_epoch", 1) for i in record["invocations"] if i["attempt"] == 2) >= 3
    assert accuracy(record) > 0.3


@pytest.mark.parametrize("design", ["lock_based", "lock_free"])
def test_kmeans_on_ray_gives_the_sequential_inertia(cluster: RayCluster, tmp_path: Path, design: str) -> None:
    stage = {"algorithm": "kmeans", "clusters": 6, "workers": 3, "shared_state": design, "iterations": 40}
    spec = tmp_path / "iterative.yaml"
    spec.write_text(_spec("cifar10", ", ".join(f"{k}: {v}" for k, v in stage.items()), "{kind: local}"))
    record, _ = finished(on_ray(cluster, spec, tmp_path / "runs"))
    assert record is not None
    assert len({i["node"] for i in record["invocations"] if i["function"] == "iterative_worker"}) == 2
    metrics = record["stages"]["fit"]["metrics"]
    _, sequential, _, _ = _baseline(tmp_path / "runs" / record["run_id"] / "objects", stage, seed=3)
    assert metrics["iterations"] == sequential.state.round
    assert metrics["inertia"] == pytest.approx(sequential.state.summary["inertia"], rel=1e-6)


BROUGHT = """\
name: ray-brought
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 200, test_size: 100, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: images, workers: 2, transform: "images.py:mirror"}
  train: {kind: train, data: prep, model: "nets.py:TinyNet", model_options: {width: 4}, workers: 2, epochs: 1,
          batch_size: 32}
  serve: {kind: serve, model: train}
"""


def test_brought_model_and_transform_travel_to_the_nodes(cluster: RayCluster, tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(NETS)
    (tmp_path / "images.py").write_text(IMAGES)
    (tmp_path / "brought.yaml").write_text(BROUGHT)
    record, _ = finished(on_ray(cluster, tmp_path / "brought.yaml", tmp_path / "runs"))
    assert record is not None and record["status"] == "succeeded"
    train = [i for i in record["invocations"] if i["stage"] == "train"]
    assert len({i["node"] for i in train}) == 2  # each worker imported nets.py on its own node
    # The bundle sends raw held-out images through the shipped transform, as offline evaluation had them.
    assert record["stages"]["serve"]["metrics"]["check_agreement"] == 1.0


def test_invocation_over_its_memory_is_reported_as_such(cluster: RayCluster, tmp_path: Path) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(SPEC.format(storage=""))
    _, err = finished(on_ray(cluster, spec, tmp_path / "runs", "targets.local.memory_mb=200"), code=1)
    assert "exceeded memory_mb=200" in err and "Traceback" not in err
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]
    assert {i["status"] for i in record["invocations"] if i["stage"] == "train"} >= {"memory"}


def test_group_larger_than_the_cluster_is_refused_in_one_line(cluster: RayCluster, tmp_path: Path) -> None:
    spec = tmp_path / "ft.yaml"
    spec.write_text(SPEC.format(storage=""))
    _, err = finished(on_ray(cluster, spec, tmp_path / "runs", "stages.train.workers=5"), code=1)
    assert "the Ray cluster cannot run 5 invocations of 1 vCPU and 2,048 MB at once" in err
    assert "it has 2 nodes: 4 CPUs" in err and "Traceback" not in err
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]
    assert record["stages"]["train"]["retries"] == 0  # refused as it is: retrying cannot help
