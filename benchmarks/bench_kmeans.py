"""Iterative stages on shared state (the Lithops paper's k-means) against the sequential baseline, each
figure a ratio of timings taken in the same run:

1. speedup per iteration over the sequential baseline for 1, 2 and 4 workers, lock_based and lock_free;
2. the lock-free design's cost per iteration as the number of clusters grows (k = 2, 8, 32, 128):
   time per iteration, the share of it spent exchanging partials and waiting for the merged state, and
   the ratio to the sequential baseline's time per iteration at the same k;
3. at an honest size (issue #14): every CIFAR-10 training image, and the number of clusters doubled from 128
   until one sequential iteration on one thread takes >= 1 s (timed in this run); then 1 and 2 workers of
   1 vCPU each (vCPU 1: one thread, one core of its own) against that one-thread baseline.
   Goal: >= 1.6x with 2 workers, the baseline's inertia. Beside it, measured in the same run, the most this
   machine gives any split of that work in two: an iteration's assignment and partial sums, plain, on every
   row in one process against half the rows in each of two at once, nothing exchanged.

On CIFAR-10 pixels and IMDb TF-IDF features: the real archives in $MLSPEC_DATA (default ../shared/data) when
present, their synthetic twins otherwise (each row says which). Workers are separate processes (the local executor,
which gives each cpu_count // workers threads) sharing a real redis-server on 127.0.0.1 (a local-directory
parameter store when redis-server is not installed); the baseline runs in this process with every core.
Every stage runs a fixed number of iterations (tolerance 0) from the same seed, so per-iteration times
compare and every design must reach the baseline's inertia (the `inertia vs seq` column).
--quick: fewer examples, iterations and clusters, and parts 1 and 2 on CIFAR-10 only.
A time per iteration is the worker's (worker 0's) wall time over rounds 1.., the initial round excluded.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import together
from benchmarks.together import describe, serve

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MLSPEC_DATA") or ROOT.parent / "shared" / "data")
ARCHIVES = {"cifar10": "cifar-10-subset-python.tar.gz", "imdb": "aclImdb_v1.tar.gz"}
SEED = 0
WORKERS = (1, 2, 4)
SWEEP_WORKERS = 2
SPEEDUP_CLUSTERS = 16
CLUSTER_SWEEP = (2, 8, 32, 128)
MAX_FEATURES = 20_000  # IMDb: a dense 128 x features centroid matrix travels every round

# (quick, full)
TRAIN_EXAMPLES = {True: 2000, False: 10_000}
ITERATIONS = {True: 4, False: 10}
FORMATS = {True: ("cifar10",), False: ("cifar10", "imdb")}
HONEST_GOAL = 1.6
HONEST_ITERATIONS = {True: 3, False: 8}
HONEST_FIRST_K, HONEST_MAX_K = 128, 2048
HONEST_SECONDS = {True: 0.5, False: 1.0}  # quick: a smaller size, so the whole quick set stays under 5 minutes
CEILING_ROUNDS = {True: 0, False: 3}  # quick: no ceiling, so the quick set stays under 5 minutes


def _dataset(fmt: str, quick: bool, every_example: bool = False) -> tuple[str, str]:
    """The dataset's spec (YAML flow mapping) and what it is, for the report."""
    archive = SHARED_DATA / ARCHIVES[fmt]
    n = TRAIN_EXAMPLES[quick]
    if archive.is_file():
        limit = "" if every_example else f", max_train: {n}"
        return f"{{format: {fmt}, path: '{archive}'{limit}, max_test: 500}}", f"real ({archive.name})"
    return f"{{format: {fmt}, synthetic: {{train_size: {n}, test_size: 100, seed: 0}}}}", "synthetic twin"


def _stages(quick: bool) -> dict[str, dict[str, Any]]:
    common = {
        "kind": "iterative",
        "data": "prep",
        "algorithm": "kmeans",
        "iterations": ITERATIONS[quick],
        "tolerance": 0,
    }
    stages = {
        f"{design[5:]}{w}": {**common, "clusters": SPEEDUP_CLUSTERS, "workers": w, "shared_state": design}
        for design in ("lock_based", "lock_free")
        for w in WORKERS
    }
    stages.update(
        {
            f"k{k}": {**common, "clusters": k, "workers": SWEEP_WORKERS, "shared_state": "lock_free"}
            for k in CLUSTER_SWEEP
        }
    )
    return stages


def _spec(
    fmt: str, dataset: str, stages: dict[str, dict[str, Any]], param_store: str, vcpu: float | None = None
) -> str:
    lines = [
        f"name: bench-kmeans-{fmt}",
        f"seed: {SEED}",
        "datasets:",
        f"  data: {dataset}",
        "stages:",
        f"  prep: {{kind: preprocess, dataset: data, max_features: {MAX_FEATURES}}}",
    ]
    for name, stage in stages.items():
        lines.append(f"  {name}: {{{', '.join(f'{k}: {v}' for k, v in stage.items())}}}")
    lines += ["storage:", f"  param_store: {param_store}"]
    return "\n".join(lines) + "\n"


def _param_store(workdir: Path) -> tuple[AbstractContextManager[Any], str]:
    if shutil.which("redis-server") is None:
        return nullcontext(None), "local directory"
    from tests.servers import redis_server

    workdir.mkdir()
    return redis_server(workdir), "redis-server on 127.0.0.1"


class _Quiet:
    def stage_started(self, *args: Any) -> None: ...
    def progress(self, *args: Any) -> None: ...
    def stage_finished(self, *args: Any) -> None: ...


def _run_stages(
    fmt: str, dataset: str, stages: dict[str, dict[str, Any]], vcpu: float | None = None
) -> tuple[Any, dict[str, Any], Any, np.ndarray, str]:
    """Run the stages through the local process executor on a fresh parameter store: (record, data meta,
    the training set as the sequential baseline reads it (x, y), what the parameter store was)."""
    from mlspec import spec
    from mlspec.algorithms.data import load_training_set, read_meta
    from mlspec.executors.base import Limits
    from mlspec.executors.coordinator import new_run_dir, run_pipeline
    from mlspec.executors.local import LocalProcessExecutor
    from mlspec.storage import open_object_store

    with tempfile.TemporaryDirectory(prefix="bench-kmeans-") as tmp:
        server, store_name = _param_store(Path(tmp) / "redis")
        with server as redis:
            param_store = f"{{kind: redis, url: '{redis.url}'}}" if redis else "{kind: local}"
            pipeline = spec.load_text(_spec(fmt, dataset, stages, param_store))
            run_dir = new_run_dir(Path(tmp) / "runs", pipeline)
            executor = LocalProcessExecutor(run_dir.logs)
            limits = Limits(4096, 1800, vcpu=vcpu)  # as the CLI gives a target's vcpu: threads and a core each
            record = run_pipeline(pipeline, "bench-kmeans.yaml", [], executor, run_dir, _Quiet(), limits)
            objects = open_object_store({"kind": "local", "root": str(run_dir.objects)})
            meta = read_meta(objects, "data/prep")
            x, y = load_training_set(objects, "data/prep", meta, 1, SEED)
    return record, meta, x, y, store_name


def _sequential(meta: dict[str, Any], x: Any, y: np.ndarray, clusters: int, iterations: int) -> Any:
    from mlspec.algorithms import build, run_sequential

    algorithm = build({"algorithm": "kmeans", "clusters": clusters, "seed": SEED}, meta)
    return run_sequential(algorithm, x, y, iterations, 0.0)


def _row(name: str, stage: dict[str, Any], metrics: dict[str, float], baseline: Any) -> dict[str, Any]:
    seq_s = baseline.iterate_s / baseline.state.round
    return {
        "stage": name,
        "design": stage["shared_state"],
        "workers": stage["workers"],
        "clusters": stage["clusters"],
        "seconds_per_iteration": metrics["seconds_per_iteration"],
        "sequential_seconds_per_iteration": seq_s,
        "speedup": seq_s / metrics["seconds_per_iteration"],
        "exchange_share": metrics["exchange_s"] / metrics["iterate_s"],
        "inertia_vs_sequential": metrics["inertia"] / baseline.state.summary["inertia"] - 1,
    }


def _measure(fmt: str, quick: bool) -> dict[str, Any]:
    stages = _stages(quick)
    dataset, what = _dataset(fmt, quick)
    record, meta, x, y, store_name = _run_stages(fmt, dataset, stages)
    sequential = {k: _sequential(meta, x, y, k, ITERATIONS[quick]) for k in sorted({SPEEDUP_CLUSTERS, *CLUSTER_SWEEP})}
    rows = [
        _row(name, stage, record.stages[name].metrics, sequential[stage["clusters"]]) for name, stage in stages.items()
    ]
    return {
        "data": what,
        "train_examples": int(meta["n_train"]),
        "features": x.shape[1],
        "param_store": store_name,
        "iterations": ITERATIONS[quick],
        "rows": rows,
    }


def _partials(config: dict[str, Any]) -> Callable[[], None]:
    """k-means' work per iteration on rows `start`:`stop` of the saved training set (assigning them to the saved
    centroids, and their partial sums), `iterations` times; warmed up once."""
    from mlspec.algorithms import build

    folder, rows = Path(config["folder"]), slice(config["start"], config["stop"])
    x, y = np.load(folder / "x.npy")[rows].copy(), np.load(folder / "y.npy")[rows].copy()
    params = np.load(folder / "params.npy")
    algorithm = build({"algorithm": "kmeans", "clusters": config["clusters"], "seed": SEED}, config["meta"])
    algorithm.partial(params, x, y)

    def work() -> None:
        for _ in range(config["iterations"]):
            algorithm.partial(params, x, y)

    return work


def ceiling_main(config: dict[str, Any]) -> None:
    serve(config, _partials)


def _ceiling(meta: dict[str, Any], x: Any, y: np.ndarray, baseline: Any, clusters: int, quick: bool) -> dict[str, Any]:
    """What this machine's first two cores give the baseline's iterations split in two (measured, see
    `benchmarks.together`), from the centroids the baseline ended with."""
    from mlspec.datasets import part_bounds

    iterations = HONEST_ITERATIONS[quick]
    with tempfile.TemporaryDirectory(prefix="bench-kmeans-ceiling-") as folder:
        for name, array in (("x", np.asarray(x)), ("y", y), ("params", baseline.state.params)):
            np.save(Path(folder) / f"{name}.npy", array)
        common = {"folder": folder, "meta": meta, "clusters": clusters, "iterations": iterations}
        whole = {**common, "start": 0, "stop": len(y)}
        halves = [{**common, "start": a, "stop": b} for a, b in part_bounds(len(y), 2)]
        figures = together.ceiling("benchmarks.bench_kmeans:ceiling_main", whole, halves, CEILING_ROUNDS[quick])
    return {**figures, "iterations": iterations}


def _honest(quick: bool) -> dict[str, Any]:
    """Part 3: the size where one sequential one-thread iteration takes HONEST_SECONDS, then 1 and 2 workers
    of 1 vCPU each against that baseline (the same one thread per worker: a fair comparison on any machine)."""
    from threadpoolctl import threadpool_limits

    dataset, what = _dataset("cifar10", quick, every_example=True)
    _, meta, x, y, _ = _run_stages("cifar10", dataset, {})
    clusters, calibration = HONEST_FIRST_K, {}
    with threadpool_limits(1):
        while True:
            one = _sequential(meta, x, y, clusters, 1)
            calibration[clusters] = one.iterate_s
            if one.iterate_s >= HONEST_SECONDS[quick] or clusters * 2 > min(HONEST_MAX_K, len(y)):
                break
            clusters *= 2
    iterations = HONEST_ITERATIONS[quick]
    common = {"kind": "iterative", "data": "prep", "algorithm": "kmeans", "iterations": iterations, "tolerance": 0}
    stages = {
        f"{design[5:]}{w}": {**common, "clusters": clusters, "workers": w, "shared_state": design}
        for design in ("lock_based", "lock_free")
        for w in (1, 2)
    }
    record, meta, x, y, store_name = _run_stages("cifar10", dataset, stages, vcpu=1)
    with threadpool_limits(1):
        baseline = _sequential(meta, x, y, clusters, iterations)
    rows = [_row(name, stage, record.stages[name].metrics, baseline) for name, stage in stages.items()]
    ceiling = _ceiling(meta, x, y, baseline, clusters, quick)
    if "skipped" not in ceiling:
        best = max(r["speedup"] for r in rows if r["workers"] == 2)
        ceiling["best_two_workers_of_ceiling"] = best / ceiling["speedup"]
    return {
        "data": what,
        "train_examples": int(meta["n_train"]),
        "features": x.shape[1],
        "param_store": store_name,
        "iterations": iterations,
        "calibration_seconds_by_k": calibration,
        "goal": HONEST_GOAL,
        "rows": rows,
        "ceiling": ceiling,
    }


def _print(fmt: str, result: dict[str, Any]) -> None:
    print(
        f"\nk-means on {fmt}: {result['data']}, {result['train_examples']} training examples x "
        f"{result['features']} features; parameter store: {result['param_store']}; "
        f"{result['iterations']} iterations; all times measured"
    )
    header = (
        f"  {'design':10}  {'workers':>7}  {'k':>4}  {'s/iter':>8}  {'seq s/iter':>10}  {'speedup':>7}  "
        f"{'exchange':>8}  {'inertia vs seq':>14}"
    )
    for title, keep in (
        ("speedup over the sequential baseline", lambda r: not r["stage"].startswith("k")),
        ("lock-free cost as clusters grow", lambda r: r["stage"].startswith("k")),
    ):
        print(f" {title}:")
        print(header)
        for r in filter(keep, result["rows"]):
            print(
                f"  {r['design']:10}  {r['workers']:>7}  {r['clusters']:>4}  {r['seconds_per_iteration']:>8.4f}  "
                f"{r['sequential_seconds_per_iteration']:>10.4f}  {r['speedup']:>6.2f}x  "
                f"{r['exchange_share']:>8.0%}  {r['inertia_vs_sequential']:>+14.2e}"
            )


def _print_honest(result: dict[str, Any]) -> None:
    calibration = ", ".join(f"k={k}: {s:.2f} s" for k, s in result["calibration_seconds_by_k"].items())
    print(
        f"\nk-means at an honest size: {result['data']}, every one of its {result['train_examples']} training "
        f"images x {result['features']} features; one sequential iteration on one thread ({calibration}); "
        f"workers of 1 vCPU (one thread, a core each); {result['iterations']} iterations; parameter store: "
        f"{result['param_store']}; all times measured"
    )
    for r in result["rows"]:
        print(
            f"  {r['design']:10}  workers {r['workers']}, k={r['clusters']}: {r['seconds_per_iteration']:.3f} s/iter "
            f"vs one-thread sequential {r['sequential_seconds_per_iteration']:.3f} = {r['speedup']:.2f}x "
            f"(goal with 2: >= {result['goal']}x)   exchange {r['exchange_share']:.0%}   "
            f"inertia vs seq {r['inertia_vs_sequential']:+.2e}"
        )
    top = result["ceiling"]
    reached = f"the better 2-worker design reaches {100 * top.get('best_two_workers_of_ceiling', 0.0):.0f} % of it"
    work = f"an iteration's assignment and partial sums, plain, nothing exchanged, {top.get('iterations')} iterations"
    print("  " + describe(top, work, "every row in 1 process", "half in each of 2 at once", reached))


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    out: dict[str, Any] = {"cpus": os.cpu_count(), "load_average_start": load_start}
    for fmt in FORMATS[quick]:
        out[fmt] = _measure(fmt, quick)
        if verbose:
            _print(fmt, out[fmt])
    out["honest"] = _honest(quick)
    if verbose:
        _print_honest(out["honest"])
    out["seconds"] = time.perf_counter() - started
    if verbose:
        print(
            f"\nkmeans: {out['seconds']:.0f} s on {out['cpus']} CPUs, load average {load_start:.1f} at start, "
            f"{os.getloadavg()[0]:.1f} at end"
        )
    return out
