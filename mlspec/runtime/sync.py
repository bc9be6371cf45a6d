"""Model synchronisation through the parameter store, framework-agnostic (flat float32 arrays).

Patterns (how one synchronous round moves the bytes):
- all-reduce through storage: every worker publishes its whole model and reads all n models;
- hierarchical scatter-reduce (SMLT, LambdaML): every worker splits its model into n shards,
  worker i averages shard i from everyone and publishes it, everyone reads the n averaged shards:
  about 3 model-sizes moved per worker whatever n, instead of n.
A worker never reads back what it wrote: its own model or shard comes from memory.
Protocols (when workers wait for each other):
- bsp: a barrier every round;
- asp: no barrier; each worker averages with the latest models the others have published;
- ssp: as asp, but a worker waits while any other is more than `staleness` rounds behind;
- hsp: asp within an epoch, a bsp round at each epoch's end (Siren's hybrid).
Keys are namespaced per run, stage and attempt; each round's keys are deleted once nobody needs them.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.storage import ParamStore

_ROUND = struct.Struct("<q")


class Synchronizer:
    """One worker's side of the exchange. `average` is called every sync point; `epoch_end` marks
    the last one of an epoch."""

    def __init__(
        self,
        store: ParamStore,
        namespace: str,
        worker: int,
        workers: int,
        timeout_s: float,
        pattern: str = "allreduce",
        staleness: int = 0,
    ) -> None:
        self.store = store
        self.namespace = namespace
        self.worker = worker
        self.workers = workers
        self.timeout_s = timeout_s
        self.round = 0
        self.exchange = PATTERNS[pattern].exchange
        self.staleness_bound = staleness
        self.observed_staleness: list[int] = []

    def average(self, params: np.ndarray, epoch_end: bool) -> np.ndarray:
        if self.workers == 1:
            self.round += 1
            return params
        out = self._average(np.asarray(params, np.float32), epoch_end)
        self.round += 1
        return out

    def _average(self, params: np.ndarray, epoch_end: bool) -> np.ndarray:
        return self._synchronous(params)

    def consolidate(self, params: np.ndarray) -> np.ndarray:
        """Before the final model is saved: one synchronous round where the protocol left workers apart."""
        return params

    def _synchronous(self, params: np.ndarray) -> np.ndarray:
        out = self.exchange(self, params)
        self.observed_staleness.append(0)
        # Everyone has published round r, so nobody still reads round r-1.
        if self.worker == 0 and self.round > 0:
            self.store.delete_prefix(f"{self.namespace}/r{self.round - 1}/")
        return out

    def _asynchronous(self, params: np.ndarray, max_lag: int | None) -> np.ndarray:
        """Publish this worker's model with its round; average with the latest of the others. With
        `max_lag`, first wait until no other worker is more than that many rounds behind."""
        self.store.put(self._latest(self.worker), _ROUND.pack(self.round) + params.tobytes())
        others = [w for w in range(self.workers) if w != self.worker]
        latest: dict[int, tuple[int, np.ndarray]] = {}
        while True:
            for w in others:
                data = self.store.get(self._latest(w))
                if data is not None:
                    latest[w] = (_ROUND.unpack_from(data)[0], np.frombuffer(data, np.float32, offset=_ROUND.size))
            lag = max((self.round - latest.get(w, (-1, None))[0] for w in others), default=0)
            if max_lag is None or lag <= max_lag:
                break
            self.store.wait_all([self._latest_at(w, self.round - max_lag) for w in others], self.timeout_s)
        self.observed_staleness.append(max(0, lag) if latest else 0)
        models = [params] + [m for _, m in latest.values()]
        return np.mean(np.stack(models), axis=0).astype(np.float32)

    def _latest(self, worker: int) -> str:
        return f"{self.namespace}/latest/w{worker}"

    def _latest_at(self, worker: int, round_: int) -> str:
        return f"{self.namespace}/progress/w{worker}/r{max(round_, 0)}"

    def stats(self) -> dict[str, float]:
        seen = self.observed_staleness or [0]
        return {"staleness_max": float(max(seen)), "staleness_mean": float(np.mean(seen))}


class BSP(Synchronizer):
    pass


class ASP(Synchronizer):
    def _average(self, params: np.ndarray, epoch_end: bool) -> np.ndarray:
        return self._asynchronous(params, max_lag=None)

    def consolidate(self, params: np.ndarray) -> np.ndarray:
        if self.workers == 1:
            return params
        out = self._synchronous(np.asarray(params, np.float32))
        self.round += 1
        return out


class SSP(ASP):
    def _average(self, params: np.ndarray, epoch_end: bool) -> np.ndarray:
        # Progress markers let slower peers be waited for without polling the models themselves.
        self.store.put(self._latest_at(self.worker, self.round), b"")
        return self._asynchronous(params, max_lag=self.staleness_bound)


class HSP(Synchronizer):
    def _average(self, params: np.ndarray, epoch_end: bool) -> np.ndarray:
        return self._synchronous(params) if epoch_end else self._asynchronous(params, max_lag=None)


def _allreduce(sync: Synchronizer, params: np.ndarray) -> np.ndarray:
    base = f"{sync.namespace}/r{sync.round}"
    sync.store.put(f"{base}/w{sync.worker}", params.tobytes())
    others = sync.store.wait_all((f"{base}/w{w}" for w in range(sync.workers) if w != sync.worker), sync.timeout_s)
    models = [
        params if w == sync.worker else np.frombuffer(others[f"{base}/w{w}"], np.float32) for w in range(sync.workers)
    ]
    return _mean_in_worker_order(models)


def _allreduce_traffic(model_bytes: int, workers: int) -> tuple[int, int]:
    # one put of the whole model, then a read of each other worker's
    return workers * model_bytes, workers


def _scatter_reduce(sync: Synchronizer, params: np.ndarray) -> np.ndarray:
    n, me = sync.workers, sync.worker
    base = f"{sync.namespace}/r{sync.round}"
    shards = np.array_split(params, n)
    for j, shard in enumerate(shards):
        if j != me:
            sync.store.put(f"{base}/s{j}/w{me}", shard.tobytes())
    received = sync.store.wait_all((f"{base}/s{me}/w{w}" for w in range(n) if w != me), sync.timeout_s)
    reduced = _mean_in_worker_order(
        [shards[me] if w == me else np.frombuffer(received[f"{base}/s{me}/w{w}"], np.float32) for w in range(n)]
    )
    sync.store.put(f"{base}/avg{me}", reduced.tobytes())
    averaged = sync.store.wait_all((f"{base}/avg{j}" for j in range(n) if j != me), sync.timeout_s)
    return np.concatenate(
        [reduced if j == me else np.frombuffer(averaged[f"{base}/avg{j}"], np.float32) for j in range(n)]
    )


def _scatter_reduce_traffic(model_bytes: int, workers: int) -> tuple[int, int]:
    # puts: n - 1 shards and one averaged shard; reads: n - 1 shards and n - 1 averaged shards. About 3 model-sizes
    # whatever n
    shard = model_bytes / workers
    return round((workers + 2 * (workers - 1)) * shard), 3 * workers - 1


def _mean_in_worker_order(models: list[np.ndarray]) -> np.ndarray:
    """The float32 mean, summed in float64 in worker order: every worker computes the same bits (its own model
    comes from memory, the others' from the store)."""
    total = np.zeros(models[0].shape, dtype=np.float64)
    for model in models:
        total += model
    return (total / len(models)).astype(np.float32)


@dataclass(frozen=True)
class SyncPattern:
    """How one synchronous round moves the model: the exchange itself, and what it costs one worker
    (bytes moved, store requests) for a model of `model_bytes` among `workers` workers, which the
    planner's time model reads."""

    exchange: Callable[[Synchronizer, np.ndarray], np.ndarray]
    traffic: Callable[[int, int], tuple[int, int]]


PATTERNS: dict[str, SyncPattern] = {
    "allreduce": SyncPattern(_allreduce, _allreduce_traffic),
    "scatter_reduce": SyncPattern(_scatter_reduce, _scatter_reduce_traffic),
}
PROTOCOLS: dict[str, type[Synchronizer]] = {"bsp": BSP, "asp": ASP, "ssp": SSP, "hsp": HSP}


def synchronizer(
    store: ParamStore,
    namespace: str,
    worker: int,
    workers: int,
    timeout_s: float,
    protocol: str = "bsp",
    pattern: str = "allreduce",
    staleness: int = 0,
) -> Synchronizer:
    return PROTOCOLS[protocol](store, namespace, worker, workers, timeout_s, pattern, staleness)


def agree_at_epoch_end(sync: Synchronizer, want_stop: bool, sums: dict[str, float]) -> tuple[bool, dict[str, float]]:
    """All workers stop together if any of them must (e.g. it is near its time limit), and add up the scores
    each made on its part of the held-out split: each publishes its vote and its sums for this round and reads
    everyone's (added in worker order, so every worker gets the same figures). It is also the barrier after
    which every worker's optimiser state for the epoch is saved."""
    if sync.workers == 1:
        return want_stop, sums
    key = f"{sync.namespace}/vote{sync.round}"
    sync.store.put(f"{key}/w{sync.worker}", json.dumps({"stop": want_stop, "sums": sums}).encode())
    votes = sync.store.wait_all([f"{key}/w{w}" for w in range(sync.workers)], sync.timeout_s)
    ballots = [json.loads(votes[f"{key}/w{w}"]) for w in range(sync.workers)]
    return any(b["stop"] for b in ballots), {k: sum(b["sums"][k] for b in ballots) for k in sums}


def differing_starts(sync: Synchronizer, params: np.ndarray) -> list[int]:
    """The workers whose initial parameters differ from worker 0's: each publishes a digest of its own and
    reads everyone's. Averaging models that did not start equal averages unrelated networks."""
    if sync.workers == 1:
        return []
    key = f"{sync.namespace}/start"
    sync.store.put(f"{key}/w{sync.worker}", hashlib.sha256(np.asarray(params, np.float32).tobytes()).digest())
    digests = sync.store.wait_all([f"{key}/w{w}" for w in range(sync.workers)], sync.timeout_s)
    first = digests[f"{key}/w0"]
    return [w for w in range(sync.workers) if digests[f"{key}/w{w}"] != first]


__all__: list[Any] = ["PATTERNS", "PROTOCOLS", "Synchronizer", "agree_at_epoch_end", "differing_starts", "synchronizer"]
