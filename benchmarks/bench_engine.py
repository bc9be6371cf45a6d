"""The execution engine against plain baselines, each figure a ratio of two timings taken in the same run:

1. local 1-worker training epoch (run_pipeline + local executor) / a plain PyTorch loop in a subprocess, for
   the built-in small_cnn and (full run) for a network brought by import path, examples/cifar10-resnet's
   ResNet9 (batch norm, label smoothing: its own loss), the same network in the plain loop;
2. 2-worker data-parallel epoch (sync every step, and every 4 steps; --quick: every 4) / torch DDP over gloo,
   2 processes;
3. sync time per BSP round through a real redis-server, scatter-reduce / all-reduce, 2, 4 and 8 worker
   processes (2 and 8 with --quick), with the bytes/s achieved as a fraction of a plain redis-py SET+GET loop's;
4. per-invocation overhead of 100 no-op calls (10 with --quick), local executor / Lithops' localhost backend.

Figures 1 and 2 run each side 3 times (1 with --quick), interleaved, and give the pair with the median ratio.
Epoch times are (t_E - t_1) / (E - 1) on both sides, t_k being when epoch k (training plus the test
evaluation) ended: start-up and the first, warming epoch cancel out. mlspec's t_k is when the host
received worker 0's progress message for epoch k; the baselines print theirs. Both sides use the same
model (SmallCNN's network, SGD with momentum), data (the synthetic CIFAR-10 twin), per-worker batch,
augmentation (random crop + flip), per-epoch evaluation of the test split, and torch threads (the
local executor's cpu_count // workers, exported to the baselines too). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks.together import start

ROOT = Path(__file__).resolve().parents[1]
SEED = 0
LEARNING_RATE = 0.02
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
TEST_SIZE = 100

# Sizes: (quick, full).
TRAIN_SIZE = {True: 1024, False: 4096}
EPOCHS = {True: 2, False: 5}
EPOCH_PAIRS = {True: 1, False: 3}  # runs of each side of figures 1 and 2, interleaved
SYNC_FLOATS = {True: 11_000_000 // 4, False: 11_000_000}  # 11 MB / 44 MB of float32 (ResNet-18: 11M)
SYNC_ROUNDS = {True: 3, False: 5}
SYNC_WORKERS = {True: (2, 8), False: (2, 4, 8)}
SYNC_EVERY_STEPS = {True: (4,), False: (1, 4)}  # figure 2's variants
NOOP_CALLS = {True: 10, False: 100}
NOOP_GROUP = 25  # calls started at once (at most)
NOOP_RETRIES = 3

# A network brought by import path: what `model:` names, and the same class for the plain loop.
BROUGHT = ROOT / "examples" / "cifar10-resnet" / "nets.py"
NETWORKS = {"small_cnn": "small_cnn", "resnet9": f"{BROUGHT}:ResNet9"}

TARGETS = {
    "epoch_1w": 1.10,
    "epoch_1w_resnet9": 1.10,
    "epoch_2w_sync1": 1.3,
    "epoch_2w_sync4": 1.3,
    "sync_8w": 0.6,
    "noop": 0.5,
}


# ------------------------------------------------------------------------------------------ helpers


def _threads(workers: int) -> int:
    """What the local executor gives each of `workers` concurrent invocations (mlspec/executors/local.py)."""
    return max(1, (os.cpu_count() or 1) // workers)


def _epoch_time(ends: list[float]) -> float:
    """Mean epoch time over epochs 2..E from the times epochs 1..E ended."""
    if len(ends) < 2:
        raise RuntimeError(f"need at least 2 epoch end times, got {len(ends)}")
    return (ends[-1] - ends[0]) / (len(ends) - 1)


def _spec_text(
    train_size: int, workers: int, epochs: int, batch: int, sync_every: int | None, network: str = "small_cnn"
) -> str:
    sync = f"\n    sync_every_steps: {sync_every}" if sync_every else ""
    return f"""\
name: bench-engine
seed: {SEED}
datasets:
  images:
    format: cifar10
    synthetic: {{train_size: {train_size}, test_size: {TEST_SIZE}, seed: 0}}
stages:
  prep:
    kind: preprocess
    dataset: images
  train:
    kind: train
    data: prep
    model: "{NETWORKS[network]}"
    workers: {workers}
    epochs: {epochs}
    batch_size: {batch}
    learning_rate: {LEARNING_RATE}
    momentum: {MOMENTUM}
    weight_decay: {WEIGHT_DECAY}{sync}
  evaluate:
    kind: evaluate
    model: train
"""


class _EpochClock:
    """A coordinator reporter that notes when worker 0's progress message for each epoch arrives."""

    def __init__(self) -> None:
        self.ends: dict[int, float] = {}

    def stage_started(self, stage: Any, node: Any) -> None:
        pass

    def progress(self, stage: str, invocation: str, progress: dict[str, Any]) -> None:
        if stage == "train" and progress.get("worker") == 0 and "epoch" in progress:
            self.ends.setdefault(int(progress["epoch"]), time.perf_counter())

    def stage_finished(self, stage: Any) -> None:
        pass


def _mlspec_epoch(
    workers: int, train_size: int, epochs: int, batch: int, sync_every: int | None, network: str = "small_cnn"
) -> dict[str, Any]:
    """One pipeline run (preprocess, train, evaluate) on the local executor; epoch time of its train stage."""
    from mlspec import spec
    from mlspec.executors.base import Limits
    from mlspec.executors.coordinator import new_run_dir, run_pipeline
    from mlspec.executors.local import LocalProcessExecutor

    text = _spec_text(train_size, workers, epochs, batch, sync_every, network)
    pipeline = spec.load_text(text, "bench_engine.yaml")
    with tempfile.TemporaryDirectory(prefix="bench-engine-") as tmp:
        run_dir = new_run_dir(Path(tmp), pipeline)
        clock = _EpochClock()
        started = time.perf_counter()
        record = run_pipeline(
            pipeline,
            "bench_engine.yaml",
            [],
            LocalProcessExecutor(run_dir.logs),
            run_dir,
            clock,
            Limits(memory_mb=4096, timeout_s=1800),
        )
        wall = time.perf_counter() - started
    ends = [clock.ends[e] for e in sorted(clock.ends)]
    train = record.stages["train"]
    return {
        "epoch_s": _epoch_time(ends),
        "pipeline_wall_s": wall,
        "train_stage_wall_s": train.wall_s,
        "sync_s_worker0": train.metrics.get("sync_s"),
        "steps_per_epoch": train.metrics.get("steps_per_epoch"),
        "test_accuracy": train.metrics.get("test_accuracy"),
    }


def _baseline_epoch(
    workers: int, train_size: int, epochs: int, batch: int, network: str = "small_cnn"
) -> dict[str, Any]:
    """The plain loop (workers == 1) or torch DDP over gloo (workers > 1), one subprocess per rank."""
    from tests.servers import free_port

    threads = _threads(workers)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    port = free_port()
    procs = []
    started = time.perf_counter()
    for rank in range(workers):
        config = {
            "rank": rank,
            "world": workers,
            "port": port,
            "threads": threads,
            "train_size": train_size,
            "epochs": epochs,
            "batch": -(-batch // workers),
            "network": network,
        }
        procs.append(
            start("benchmarks.bench_engine:baseline_main", config, env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    outputs = [p.communicate(timeout=1800) for p in procs]
    wall = time.perf_counter() - started
    for p, (_, err) in zip(procs, outputs, strict=True):
        if p.returncode:
            raise RuntimeError(f"baseline rank failed ({p.returncode}): {err.strip()[-2000:]}")
    lines = [json.loads(line) for line in outputs[0][0].splitlines() if line.startswith("{")]
    ends = [line["t"] for line in lines if "epoch" in line]
    return {
        "epoch_s": _epoch_time(ends),
        "wall_s": wall,
        "threads": threads,
        "test_accuracy": lines[-1].get("test_accuracy") if lines else None,
    }


def baseline_main(config: dict[str, Any]) -> None:
    """A baseline rank (runs in its own process): the network (SmallCNN's, or the brought ResNet9 with its own
    loss) trained by a plain loop, wrapped in DistributedDataParallel when world > 1. Prints one JSON line per
    epoch with its end time."""
    import numpy as np
    import torch

    torch.set_num_threads(config["threads"])
    from mlspec.datasets import load_dataset, shard_indices
    from mlspec.models.small_cnn import build as small_cnn
    from mlspec.models.transforms import random_crop_flip

    rank, world = config["rank"], config["world"]
    data = load_dataset(
        {"format": "cifar10", "synthetic": {"train_size": config["train_size"], "test_size": TEST_SIZE, "seed": 0}},
        Path(tempfile.gettempdir()),
    )
    pixels = data.train_x.reshape(-1, 3).astype(np.float64) / 255.0
    meta = {"classes": data.classes, "offset": pixels.mean(0).tolist(), "scale": pixels.std(0).tolist()}
    rows = shard_indices(len(data.train_y), world, rank, SEED)  # DistributedSampler-equivalent sharding
    x, y = data.train_x[rows], data.train_y[rows]
    batch = config["batch"]
    steps = math.ceil((len(data.train_y) // world) / batch)  # every rank takes the same number of steps
    if config["network"] == "small_cnn":
        model = small_cnn({}, meta, SEED)
    else:  # the same class the spec names, built as mlspec builds it (seeded, num_classes from the data)
        from mlspec.models.imported import build_imported

        source = BROUGHT.read_text()
        code = {"name": BROUGHT.name, "sha256": hashlib.sha256(source.encode()).hexdigest(), "source": source}
        model = build_imported(NETWORKS[config["network"]], {"code": {"model": code}}, meta, SEED)
    net: torch.nn.Module = model.net
    if world > 1:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{config['port']}", rank=rank, world_size=world)
        net = DistributedDataParallel(model.net)
    optimizer = torch.optim.SGD(net.parameters(), lr=LEARNING_RATE, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    loss_fn = getattr(model.net, "loss", None) or torch.nn.CrossEntropyLoss()
    mean = torch.tensor(meta["offset"], dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(meta["scale"], dtype=torch.float32).view(1, 3, 1, 1)

    def tensor(images: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
        return (t - mean) / std

    for epoch in range(1, config["epochs"] + 1):
        rng = np.random.default_rng([SEED, rank, epoch])
        order = rng.permutation(len(y))
        net.train()
        correct = 0
        for step in range(steps):
            picked = order[step * batch : (step + 1) * batch]
            logits = net(tensor(random_crop_flip(x[picked], rng)))
            target = torch.from_numpy(y[picked].astype(np.int64))
            loss = loss_fn(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss.item()
            correct += int((logits.argmax(1) == target).sum().item())
        line: dict[str, Any] = {"epoch": epoch}
        if rank == 0:
            net.eval()
            with torch.no_grad():
                proba = torch.softmax(model.net(tensor(data.test_x)), dim=1).numpy()
            line["test_accuracy"] = float((proba.argmax(1) == data.test_y).mean())
            line["t"] = time.perf_counter()
            print(json.dumps(line), flush=True)
    if world > 1:
        import torch.distributed as dist

        dist.destroy_process_group()


# ------------------------------------------------------------------------------------- figure 1, 2


def _paired(ours: Callable[[], dict[str, Any]], baseline: Callable[[], dict[str, Any]], pairs: int) -> dict[str, Any]:
    """`pairs` runs of each side, alternating which goes first, so that this machine's drift in speed (up to 50 %
    within minutes) falls on both; the pair with the median ratio, and every pair's ratio."""
    runs = []
    for i in range(pairs):
        if i % 2 == 0:  # the baseline first
            base, mine = baseline(), ours()
        else:
            mine, base = ours(), baseline()
        runs.append({"mlspec": mine, "baseline": base})
    runs.sort(key=_ratio)
    return {**runs[len(runs) // 2], "pair_ratios": [_ratio(r) for r in runs]}


def _ratio(pair: dict[str, Any]) -> float:
    return float(pair["mlspec"]["epoch_s"] / pair["baseline"]["epoch_s"])


def _training(quick: bool, verbose: bool) -> list[dict[str, Any]]:
    n, epochs, pairs = TRAIN_SIZE[quick], EPOCHS[quick], EPOCH_PAIRS[quick]
    rows = []
    # The heavier brought network only in the full run (the quick one stays under its minutes).
    for network in ("small_cnn",) if quick else ("small_cnn", "resnet9"):
        one = _paired(
            partial(_mlspec_epoch, 1, n, epochs, 64, None, network),
            partial(_baseline_epoch, 1, n, epochs, 64, network),
            pairs,
        )
        brought = "" if network == "small_cnn" else f", {network} brought by import path"
        rows.append(
            _row(
                "epoch_1w" + ("" if network == "small_cnn" else f"_{network}"),
                f"1-worker epoch (s){brought}: local executor / plain PyTorch loop",
                one["mlspec"]["epoch_s"],
                one["baseline"]["epoch_s"],
                one,
            )
        )
        if verbose:
            print(
                f"  1 worker{brought}: mlspec {one['mlspec']['epoch_s']:.2f} s/epoch, "
                f"plain {one['baseline']['epoch_s']:.2f} s/epoch{_spread(one)}"
            )
    for every in SYNC_EVERY_STEPS[quick]:
        two = _paired(
            partial(_mlspec_epoch, 2, n, epochs, 64, every), partial(_baseline_epoch, 2, n, epochs, 64), pairs
        )
        rows.append(
            _row(
                f"epoch_2w_sync{every}",
                f"2-worker epoch (s), sync every {every} step(s) / DDP gloo",
                two["mlspec"]["epoch_s"],
                two["baseline"]["epoch_s"],
                two,
            )
        )
        if verbose:
            print(
                f"  2 workers, sync every {every}: mlspec {two['mlspec']['epoch_s']:.2f} s/epoch (worker 0 sync "
                f"{two['mlspec']['sync_s_worker0']:.2f} s over {epochs} epochs), DDP {two['baseline']['epoch_s']:.2f} "
                f"s/epoch{_spread(two)}"
            )
    return rows


def _spread(paired: dict[str, Any]) -> str:
    ratios = paired["pair_ratios"]
    return (
        f" (median of {len(ratios)} pairs: ratios {', '.join(f'{r:.2f}' for r in ratios)})" if len(ratios) > 1 else ""
    )


# ---------------------------------------------------------------------------------------- figure 3


def _sync_worker(
    url: str,
    namespace: str,
    pattern: str,
    worker: int,
    workers: int,
    floats: int,
    rounds: int,
    barrier: Any,
    results: Any,
) -> None:
    import numpy as np

    from mlspec.runtime.sync import synchronizer
    from mlspec.storage.redis_store import RedisParamStore

    store = RedisParamStore(url)
    sync = synchronizer(store, namespace, worker, workers, 600.0, protocol="bsp", pattern=pattern)
    params = np.random.default_rng([SEED, worker]).standard_normal(floats, dtype=np.float32)
    params = sync.average(params, epoch_end=False)  # warm-up round: connections, allocations
    barrier.wait()
    moved = store.counter.bytes_read + store.counter.bytes_written
    started = time.perf_counter()
    for _ in range(rounds):
        params = sync.average(params, epoch_end=False)
    elapsed = time.perf_counter() - started
    results.put((worker, elapsed, store.counter.bytes_read + store.counter.bytes_written - moved))


def _sync_round(url: str, pattern: str, workers: int, floats: int, rounds: int) -> dict[str, float]:
    import redis

    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(workers), context.Queue()
    namespace = f"bench/{pattern}/{workers}"
    procs = [
        context.Process(
            target=_sync_worker, args=(url, namespace, pattern, w, workers, floats, rounds, barrier, results)
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    out = [results.get(timeout=1800) for _ in procs]
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"sync worker exited with status {p.exitcode}")
    redis.Redis.from_url(url).flushall()
    round_s = max(elapsed for _, elapsed, _ in out) / rounds
    moved = sum(b for _, _, b in out) / rounds
    return {"round_s": round_s, "bytes_per_round": moved, "bytes_per_s": moved / round_s}


def _raw_client(url: str, size: int, seconds: float, barrier: Any, results: Any) -> None:
    import numpy as np
    import redis

    client = redis.Redis.from_url(url, socket_timeout=60)
    key = f"raw/{os.getpid()}"
    value = np.random.default_rng(SEED).integers(0, 256, size, dtype=np.uint8).tobytes()
    client.set(key, value)
    client.get(key)
    barrier.wait()
    moved, count, started = 0, 0, time.perf_counter()
    while count < 2 or time.perf_counter() - started < seconds:
        client.set(key, value)
        moved += len(value) + len(client.get(key) or b"")
        count += 1
    results.put((moved, time.perf_counter() - started))
    client.delete(key)


def _raw_redis(url: str, size: int, clients: int, seconds: float) -> float:
    """Bytes/s of plain redis-py SET+GET loops with values of `size` bytes, `clients` processes at once."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(clients), context.Queue()
    procs = [context.Process(target=_raw_client, args=(url, size, seconds, barrier, results)) for _ in range(clients)]
    for p in procs:
        p.start()
    out = [results.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    return sum(m for m, _ in out) / max(t for _, t in out)


def _sync(quick: bool, verbose: bool) -> list[dict[str, Any]]:
    from tests.servers import RedisServer

    floats, rounds = SYNC_FLOATS[quick], SYNC_ROUNDS[quick]
    size = floats * 4
    details: dict[str, Any] = {
        "update_bytes": size,
        "rounds": rounds,
        "protocol": "bsp",
        "cases": [],
        "workers_are": "processes (spawn), as are the raw clients",
    }
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        server = RedisServer(Path(tmp))
        server.start()
        try:
            seconds = 1.0 if quick else 2.0
            # One client (the plain loop) and as many clients as workers (the same concurrency as the exchange).
            single = _raw_redis(server.url, size, 1, seconds)
            details["raw_single_client_bytes_per_s"] = single
            for workers in SYNC_WORKERS[quick]:
                case: dict[str, Any] = {"workers": workers}
                for pattern in ("allreduce", "scatter_reduce"):
                    measured = _sync_round(server.url, pattern, workers, floats, rounds)
                    value_size = size if pattern == "allreduce" else math.ceil(floats / workers) * 4
                    raw = _raw_redis(server.url, value_size, workers, seconds)
                    measured.update(
                        value_bytes=value_size,
                        raw_bytes_per_s=raw,
                        fraction_of_raw=measured["bytes_per_s"] / raw,
                        fraction_of_single_client=measured["bytes_per_s"] / single,
                    )
                    case[pattern] = measured
                case["ratio"] = case["scatter_reduce"]["round_s"] / case["allreduce"]["round_s"]
                details["cases"].append(case)
                if verbose:
                    a, s = case["allreduce"], case["scatter_reduce"]
                    print(
                        f"  sync {workers} workers, {size / 1e6:.0f} MB: all-reduce {a['round_s']:.3f} s/round "
                        f"({a['bytes_per_s'] / 1e6:.0f} MB/s, {a['fraction_of_raw']:.2f} of raw), scatter-reduce "
                        f"{s['round_s']:.3f} s/round ({s['bytes_per_s'] / 1e6:.0f} MB/s, "
                        f"{s['fraction_of_raw']:.2f} of raw), ratio {case['ratio']:.2f}"
                    )
        finally:
            server.stop()
    last = details["cases"][-1]
    label = f"sync round (s), {SYNC_WORKERS[quick][-1]} workers, {size / 1e6:.0f} MB: scatter-reduce / all-reduce"
    return [_row("sync_8w", label, last["scatter_reduce"]["round_s"], last["allreduce"]["round_s"], details)]


# ---------------------------------------------------------------------------------------- figure 4


def _noop(quick: bool, verbose: bool) -> list[dict[str, Any]]:
    from mlspec.executors.base import Executor, Invocation, Limits
    from mlspec.executors.lithops_executor import LithopsExecutor
    from mlspec.executors.local import LocalProcessExecutor

    limits = Limits(memory_mb=1024, timeout_s=300)
    per_call: dict[str, float] = {}
    failures: dict[str, list[str]] = {}
    calls = NOOP_CALLS[quick]
    group_size = min(NOOP_GROUP, calls)
    with tempfile.TemporaryDirectory(prefix="bench-noop-") as tmp:
        executors: dict[str, Executor] = {
            "local": LocalProcessExecutor(Path(tmp)),
            "lithops": LithopsExecutor(Path(tmp) / "lithops"),
        }
        for name, executor in executors.items():
            # Only groups whose calls all succeeded count; a failed group is noted and run again (at most
            # NOOP_RETRIES times), so a flaky backend shows up in the details rather than in the figure.
            spent, failures[name] = 0.0, []
            for first in range(0, calls, group_size):
                group = [
                    Invocation(id=f"noop-{i}", stage="noop", function="noop", worker=None, event={"function": "noop"})
                    for i in range(first, min(first + group_size, calls))
                ]
                for _ in range(NOOP_RETRIES + 1):
                    started = time.perf_counter()
                    outcomes = executor.run_group(group, limits, lambda inv, progress: None)
                    elapsed = time.perf_counter() - started
                    cause = next((o.record for o in outcomes if o.record.status not in ("ok", "killed")), None)
                    cause = cause or next((o.record for o in outcomes if o.record.status != "ok"), None)
                    if cause is None:
                        spent += elapsed
                        break
                    failures[name].append(f"{cause.id} {cause.status}: {cause.error}")
                else:
                    raise RuntimeError(
                        f"{name}: a group of no-op calls failed {NOOP_RETRIES + 1} times: {failures[name][-1]}"
                    )
            per_call[name] = spent / calls
    if verbose:
        print(
            f"  no-op: local {per_call['local'] * 1e3:.0f} ms/call, lithops localhost {per_call['lithops'] * 1e3:.0f}"
            f" ms/call ({calls} calls in groups of {group_size})"
        )
        for name, problems in failures.items():
            if problems:
                print(f"  no-op: {name}: {len(problems)} failed group(s) run again, e.g. {problems[0][:160]}")
    details = {"calls": calls, "group": group_size, "failed_groups": failures}
    return [
        _row(
            "noop",
            f"no-op invocation (s), {calls} calls: local executor / Lithops localhost",
            per_call["local"],
            per_call["lithops"],
            details,
        )
    ]


# ------------------------------------------------------------------------------------------- report


def _row(key: str, label: str, ours: float, baseline: float, details: dict[str, Any]) -> dict[str, Any]:
    ratio = ours / baseline
    return {
        "figure": key,
        "label": label,
        "mlspec": ours,
        "baseline": baseline,
        "ratio": ratio,
        "target": TARGETS[key],
        "met": ratio <= TARGETS[key],
        "details": details,
    }


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    load_before = os.getloadavg()
    if verbose:
        print(
            f"engine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} at start "
            f"(other jobs on this machine skew every figure){' [quick]' if quick else ''}"
        )
    rows: list[dict[str, Any]] = []
    for figure in (_training, _sync, _noop):
        try:
            rows += figure(quick, verbose)
        except Exception as exc:  # one broken figure must not hide the others
            message = " ".join(f"{type(exc).__name__}: {exc}".split())[:400]
            rows.append(
                {
                    "figure": figure.__name__.strip("_"),
                    "label": f"{figure.__name__.strip('_')} (FAILED)",
                    "mlspec": None,
                    "baseline": None,
                    "ratio": None,
                    "target": None,
                    "met": None,
                    "error": message,
                }
            )
            if verbose:
                print(f"  {figure.__name__.strip('_')} failed: {message}")
    out = {
        "quick": quick,
        "cpus": os.cpu_count(),
        "load_average_start": load_before[0],
        "load_average_end": os.getloadavg()[0],
        "sizes": {
            "train_size": TRAIN_SIZE[quick],
            "epochs": EPOCHS[quick],
            "global_batch": 64,
            "sync_update_bytes": SYNC_FLOATS[quick] * 4,
            "noop_calls": NOOP_CALLS[quick],
        },
        "figures": rows,
        "seconds": time.perf_counter() - started,
    }
    if verbose:
        width = max(len(r["label"]) for r in rows)
        print(f"{'figure':{width}}  {'mlspec':>9}  {'baseline':>9}  {'ratio':>6}  {'target':>6}  met")
        for r in rows:
            if r["ratio"] is None:
                print(f"{r['label']:{width}}  {'-':>9}  {'-':>9}  {'-':>6}  {'-':>6}  n/a")
                continue
            print(
                f"{r['label']:{width}}  {r['mlspec']:9.4f}  {r['baseline']:9.4f}  {r['ratio']:6.3f}  "
                f"<= {r['target']:<4}  {'yes' if r['met'] else 'no'}"
            )
        print(f"engine: {out['seconds']:.0f} s, load average {out['load_average_end']:.1f} at end")
    return out
