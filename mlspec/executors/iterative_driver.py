"""The driver of iterative stages. lock_based stages need nothing beyond the default driver. For
lock_free ones a merger thread in the coordinator sums each round's per-worker partials and publishes
the next shared state while `run_stage` runs (and retries) the workers; it stops with the stage,
whether the stage succeeded or failed."""

from __future__ import annotations

import threading
from typing import Any

from mlspec.algorithms import IterativeAlgorithm, Partial, State, advance, build, merge
from mlspec.algorithms.data import read_meta
from mlspec.algorithms.shared_state import decode_partial, failed_key, namespace_key, partial_key, publish
from mlspec.compile import FunctionNode
from mlspec.executors.coordinator import StageRun, run_stage
from mlspec.storage import ParamStore, open_object_store, open_param_store

MAX_POLL_S = 0.02


def run_iterative_stage(node: FunctionNode, run: StageRun) -> None:
    if node.config["shared_state"] != "lock_free":
        run_stage(node, run)
        return
    merger = Merger(node, run.stores, run.record.run_id)
    merger.start()
    try:
        run_stage(node, run)
    finally:
        merger.stop()
    if merger.errors:
        run.record.warnings.append(f"stage {node.stage!r}: the merger failed on a round: {merger.errors[-1]}")
        run.run_dir.save(run.record)


class Merger:
    """Follows the namespace the workers announce (a new one per retry); for each round waits for all
    workers' partials, sums them in worker order and publishes the next state. A round it cannot merge
    marks the namespace failed, so its workers stop waiting and the stage's retry logic takes over."""

    def __init__(self, node: FunctionNode, stores: dict[str, Any], run_id: str) -> None:
        self.config = node.config
        self.stores = stores
        self.announce_key = namespace_key(run_id, node.stage)
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"merger-{node.stage}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        store = open_param_store(self.stores["param_store"])
        algorithm: IterativeAlgorithm | None = None
        namespace: str | None = None
        state: State | None = None
        received: dict[int, Partial] = {}
        failed: set[str] = set()
        delay = store.poll_interval_s
        while not self._stop.wait(delay):
            delay = min(delay * 1.5, MAX_POLL_S)
            try:
                announced = store.get(self.announce_key)
                if announced is None or announced.decode() in failed:
                    continue
                if announced.decode() != namespace:
                    namespace, state, received = announced.decode(), None, {}
                if state is not None and state.done:
                    continue
                algorithm = algorithm or self._algorithm()
                round_ = 0 if state is None else state.round + 1
                self._collect(store, namespace, round_, received)
                if len(received) < self.config["workers"]:
                    continue
                merged = merge([received[w] for w in range(self.config["workers"])])
                state = advance(algorithm, state, merged, self.config["iterations"], self.config["tolerance"])
                publish(store, namespace, state)
                received, delay = {}, store.poll_interval_s
            except Exception as exc:
                self.errors.append(f"{type(exc).__name__}: {exc}")
                if namespace is not None:
                    failed.add(namespace)
                    self._report_failure(store, namespace, self.errors[-1])

    def _algorithm(self) -> IterativeAlgorithm:
        return build(self.config, read_meta(open_object_store(self.stores["object_store"]), self.config["data"]))

    def _collect(self, store: ParamStore, namespace: str, round_: int, received: dict[int, Partial]) -> None:
        for worker in range(self.config["workers"]):
            if worker not in received:
                data = store.get(partial_key(namespace, round_, worker))
                if data is not None:
                    received[worker] = decode_partial(data)

    @staticmethod
    def _report_failure(store: ParamStore, namespace: str, error: str) -> None:
        try:
            store.put(failed_key(namespace), f"the coordinator could not merge a round: {error}".encode())
        except Exception:  # the store itself is gone: the workers time out instead
            return
