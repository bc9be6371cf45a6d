"""Model synchronisation through the parameter store: every worker publishes its flat float32
parameters for a round, waits for everyone's, and takes the mean (all-reduce through storage)."""

from __future__ import annotations

import numpy as np

from mlspec.storage import ParamStore


class ModelAverager:
    def __init__(self, store: ParamStore, namespace: str, worker: int, workers: int, timeout_s: float) -> None:
        self.store = store
        self.namespace = namespace
        self.worker = worker
        self.workers = workers
        self.timeout_s = timeout_s
        self.round = 0

    def _key(self, round_: int, worker: int) -> str:
        return f"{self.namespace}/r{round_}/w{worker}"

    def average(self, params: np.ndarray) -> np.ndarray:
        if self.workers == 1:
            return params
        self.store.put(self._key(self.round, self.worker), np.asarray(params, np.float32).tobytes())
        values = self.store.wait_all((self._key(self.round, w) for w in range(self.workers)), self.timeout_s)
        total = np.zeros(params.shape, dtype=np.float64)
        for data in values.values():
            total += np.frombuffer(data, dtype=np.float32)
        # Everyone has published round r, so nobody still reads round r-1.
        if self.worker == 0 and self.round > 0:
            self.store.delete_prefix(f"{self.namespace}/r{self.round - 1}")
        self.round += 1
        return (total / self.workers).astype(np.float32)


def agree_to_stop(averager: ModelAverager, want_stop: bool) -> bool:
    """All workers stop together if any of them must (e.g. it is near its time limit): each
    publishes its vote for this round and reads everyone's."""
    if averager.workers == 1:
        return want_stop
    key = f"{averager.namespace}/vote{averager.round}"
    averager.store.put(f"{key}/w{averager.worker}", b"1" if want_stop else b"0")
    votes = averager.store.wait_all((f"{key}/w{w}" for w in range(averager.workers)), averager.timeout_s)
    return any(v == b"1" for v in votes.values())
