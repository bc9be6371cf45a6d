"""Iterative stages (k-means, logistic regression) on shared state, lock-based and lock-free, through the
real coordinator with worker processes, against the sequential baseline on the same data and seed."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlspec import spec
from mlspec.algorithms import build, run_sequential
from mlspec.algorithms.data import load_training_set, read_meta
from mlspec.compile import graph
from mlspec.errors import RunFailed, SpecError
from mlspec.executors.base import Limits
from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
from mlspec.executors.local import LocalProcessExecutor
from mlspec.records import RunRecord
from mlspec.storage import StoreTimeout, open_object_store, open_param_store
from mlspec.storage.codec import unpack

DATASETS = {
    "cifar10": "{format: cifar10, synthetic: {train_size: 900, test_size: 100, seed: 0}}",
    "imdb": "{format: imdb, synthetic: {train_size: 900, test_size: 200, seed: 0}}",
}


def _spec(fmt: str, stage: str, param_store: str) -> str:
    return f"""\
name: iterative
seed: 3
datasets:
  data: {DATASETS[fmt]}
stages:
  prep: {{kind: preprocess, dataset: data, max_features: 2000}}
  fit: {{kind: iterative, data: prep, {stage}}}
storage:
  param_store: {param_store}
"""


def _run(tmp_path: Path, text: str) -> tuple[RunRecord, Path]:
    pipeline = spec.load_text(text)
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    record = run_pipeline(
        pipeline, "iterative.yaml", [], LocalProcessExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 120)
    )
    return record, run_dir.objects


def _baseline(objects_root: Path, stage: dict[str, Any], seed: int) -> tuple[Any, Any, np.ndarray, Any]:
    """The sequential baseline on the training set the workers' shards came from."""
    objects = open_object_store({"kind": "local", "root": str(objects_root)})
    meta = read_meta(objects, "data/prep")
    x, y = load_training_set(objects, "data/prep", meta, stage["workers"], seed)
    config = {"seed": seed, "clusters": None, "learning_rate": 1.0, **stage}
    algorithm = build(config, meta)
    result = run_sequential(algorithm, x, y, stage.get("iterations", 100), stage.get("tolerance", 1e-4))
    parallel = unpack(objects.get("models/fit/model.npz"))["params"]
    return algorithm, result, parallel, (x, y)


def _agreement(a: np.ndarray, b: np.ndarray, clusters: int) -> float:
    """Share of points in the same cluster in both labelings, under the best matching of cluster names."""
    from scipy.optimize import linear_sum_assignment

    table = np.zeros((clusters, clusters))
    np.add.at(table, (a, b), 1)
    rows, cols = linear_sum_assignment(-table)
    return float(table[rows, cols].sum() / len(a))


@pytest.mark.parametrize(
    ("fmt", "design", "workers", "store"),
    [
        ("cifar10", "lock_based", 3, "local"),
        ("imdb", "lock_free", 2, "local"),
        ("imdb", "lock_based", 4, "redis"),
        ("cifar10", "lock_free", 3, "redis"),
    ],
)
def test_kmeans_parallel_gives_the_sequential_clustering(
    tmp_path: Path, redis_url: str, fmt: str, design: str, workers: int, store: str
) -> None:
    stage = {"algorithm": "kmeans", "clusters": 6, "workers": workers, "shared_state": design, "iterations": 40}
    param_store = f"{{kind: redis, url: '{redis_url}'}}" if store == "redis" else "{kind: local}"
    text = _spec(fmt, ", ".join(f"{k}: {v}" for k, v in stage.items()), param_store)
    record, objects_root = _run(tmp_path, text)

    assert record.status == "succeeded"
    metrics = record.stages["fit"].metrics
    algorithm, sequential, parallel, (x, _) = _baseline(objects_root, stage, seed=3)
    assert metrics["iterations"] == sequential.state.round
    assert metrics["inertia"] == pytest.approx(sequential.state.summary["inertia"], rel=0.01)
    assert metrics["purity"] == pytest.approx(sequential.state.summary["purity"], abs=0.01)
    same = _agreement(algorithm.assign(parallel, x)[0], algorithm.assign(sequential.state.params, x)[0], 6)
    assert same >= 0.99
    # Every worker took part in every round through the parameter store.
    invocations = [i for i in record.invocations if i.function == "iterative_worker"]
    assert len(invocations) == workers
    assert all(i.io["param_bytes_written"] > 0 and i.io["param_bytes_read"] > 0 for i in invocations)
    assert len(record.stages["fit"].history) == metrics["iterations"]


@pytest.mark.parametrize(
    ("fmt", "design", "store"),
    [("imdb", "lock_based", "local"), ("imdb", "lock_free", "redis"), ("cifar10", "lock_free", "local")],
)
def test_logistic_regression_parallel_reaches_the_sequential_accuracy(
    tmp_path: Path, redis_url: str, fmt: str, design: str, store: str
) -> None:
    stage = {
        "algorithm": "logistic_regression",
        "workers": 3,
        "shared_state": design,
        "iterations": 25,
        "learning_rate": 4.0,
    }
    param_store = f"{{kind: redis, url: '{redis_url}'}}" if store == "redis" else "{kind: local}"
    record, objects_root = _run(tmp_path, _spec(fmt, ", ".join(f"{k}: {v}" for k, v in stage.items()), param_store))

    assert record.status == "succeeded"
    metrics = record.stages["fit"].metrics
    algorithm, sequential, parallel, _ = _baseline(objects_root, stage, seed=3)
    objects = open_object_store({"kind": "local", "root": str(objects_root)})
    from mlspec.algorithms.data import load_test_set

    expected = algorithm.evaluate(
        sequential.state.params, *load_test_set(objects, "data/prep", read_meta(objects, "data/prep"))
    )
    assert metrics["test_accuracy"] == pytest.approx(expected["test_accuracy"], abs=0.02)
    assert metrics["test_loss"] == pytest.approx(expected["test_loss"], rel=0.02)
    assert metrics["test_accuracy"] > (0.7 if fmt == "imdb" else 0.2)  # it learned (chance: 0.5 / 0.1)
    assert np.allclose(parallel, sequential.state.params, rtol=1e-3, atol=1e-5)


def test_lock_free_merger_stops_when_the_stage_fails(tmp_path: Path) -> None:
    # More clusters than training points: every worker (and the merger) fails on its first round.
    text = _spec("cifar10", "algorithm: kmeans, clusters: 2000, workers: 2, retries: 0", "{kind: local}")
    with pytest.raises(RunFailed, match="needs at least 2000 training examples"):
        _run(tmp_path, text)
    assert not [t for t in threading.enumerate() if t.name.startswith("merger-")]


@pytest.mark.parametrize("kind", ["local", "redis"])
def test_param_store_lock_is_exclusive_and_times_out(tmp_path: Path, redis_url: str, kind: str) -> None:
    config = {"kind": "redis", "url": redis_url} if kind == "redis" else {"kind": "local", "root": str(tmp_path)}
    key = f"{tmp_path.name}/counter"

    def add(times: int) -> None:
        store = open_param_store(config)  # a store per thread, as per process
        for _ in range(times):
            with store.lock(f"{tmp_path.name}/lock", 10):
                value = int(store.get(key) or b"0")
                time.sleep(0.001)  # widen the window a lost update would need
                store.put(key, str(value + 1).encode())

    threads = [threading.Thread(target=add, args=(15,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert open_param_store(config).get(key) == b"60"

    holder, waiter = open_param_store(config), open_param_store(config)
    with (
        holder.lock(f"{tmp_path.name}/lock", 10),
        pytest.raises(StoreTimeout, match="waiting for lock"),
        waiter.lock(f"{tmp_path.name}/lock", 0.2),
    ):
        pass


@pytest.mark.parametrize(
    ("stage", "message"),
    [
        ("algorithm: kmeans", "algorithm kmeans needs clusters"),
        ("algorithm: logistic_regression, clusters: 4", "clusters is for algorithm kmeans"),
        ("algorithm: kmeans, clusters: 4, learning_rate: 0.5", "learning_rate is for algorithm logistic_regression"),
        ("algorithm: kmeans, clusters: 4, shared_state: locked", "lock_based"),
        ("algorithm: kmeans, clusters: 4, workers: 0", "must be at least 1"),
    ],
)
def test_invalid_iterative_stages_are_reported(stage: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        spec.load_text(_spec("cifar10", stage, "{kind: local}"))


def test_iterative_stage_must_read_a_preprocess_stage() -> None:
    text = _spec("cifar10", "algorithm: kmeans, clusters: 4", "{kind: local}").replace(
        "  fit:", "  other: {kind: iterative, data: fit, algorithm: kmeans, clusters: 2}\n  fit:"
    )
    with pytest.raises(SpecError, match=r"iterative\.data needs preprocess"):
        spec.load_text(text)


def test_iterative_stage_compiles_to_workers_on_their_own_shards() -> None:
    pipeline = spec.load_text(_spec("imdb", "algorithm: kmeans, clusters: 4, workers: 5", "{kind: local}"))
    functions = graph(pipeline)
    fit = functions.node("fit")
    assert (fit.function, fit.fan_out, fit.after) == ("iterative_worker", 5, ("prep",))
    assert fit.config["shared_state"] == "lock_free" and fit.config["seed"] == 3
    assert functions.node("prep").config["shard_counts"] == [5]
