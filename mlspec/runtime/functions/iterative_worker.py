"""One worker of an iterative stage (k-means, logistic regression): every round it computes its shard's
partial result for the current shared state and contributes it, then waits for the next state.

lock_based: the worker adds its partial into one running sum in the parameter store under a lock
(read-modify-write); the last of the round to add computes and publishes the next state.
lock_free: the worker writes its own partial key; the coordinator's merger (mlspec/executors/
iterative_driver.py) sums the round's partials and publishes the next state.

The run starts from scratch on a retry: the state is cheap to recompute and deterministic from the seed."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from mlspec.algorithms import IterativeAlgorithm, Partial, State, advance, build, merge
from mlspec.algorithms.data import load_shard, load_test_set, read_meta
from mlspec.algorithms.sequential import history_entry
from mlspec.algorithms.shared_state import (
    CONTRIBUTORS,
    decode_partial,
    encode_partial,
    lock_name,
    namespace_key,
    partial_key,
    publish,
    running_sum_key,
    wait_state,
)
from mlspec.runtime.allocator import keep_freed_memory
from mlspec.runtime.context import Context
from mlspec.storage import ParamStore
from mlspec.storage.codec import pack


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    keep_freed_memory()  # every round allocates the same large partials again
    objects = context.object_store(event["object_store"])
    store = context.param_store(event["param_store"])
    worker, workers, namespace = event["worker"], event["workers"], event["sync_namespace"]
    meta = read_meta(objects, event["data"])
    shard = load_shard(objects, event["data"], meta, workers, worker, event["seed"])
    algorithm = build(event, meta)
    lock_based = event["shared_state"] == "lock_based"
    if not lock_based:  # tell the coordinator's merger which namespace this round of invocations uses
        store.put(namespace_key(event["run_id"], event["stage"]), namespace.encode())
    timeout_s = _wait_s(context)

    state: State | None = None
    history: list[dict[str, float]] = []
    compute_s = exchange_s = 0.0
    iterate_started = time.perf_counter()
    while state is None or not state.done:
        started = time.perf_counter()
        partial = (
            algorithm.init_partial(shard.x, shard.y, shard.rows)
            if state is None
            else algorithm.partial(state.params, shard.x, shard.y)
        )
        computed = time.perf_counter()
        round_ = 0 if state is None else state.round + 1
        if lock_based:
            published = _add_under_lock(store, namespace, round_, workers, partial, algorithm, state, event, timeout_s)
        else:
            store.put(partial_key(namespace, round_, worker), encode_partial(partial))
            published = None
        state = published if published is not None else wait_state(store, namespace, round_, timeout_s)
        if round_ == 0:  # the initial round is set-up, not an iteration
            iterate_started = time.perf_counter()
            continue
        compute_s += computed - started
        exchange_s += time.perf_counter() - computed
        history.append(history_entry(state))
        if worker == 0:
            context.report(
                phase=f"iteration {state.round}",
                done=state.round,
                total=event["iterations"],
                worker=worker,
                **history[-1],
            )
    iterate_s = time.perf_counter() - iterate_started

    metrics: dict[str, float] = {
        "iterations": state.round,
        "movement": state.movement,
        **state.summary,
        "compute_s": compute_s,
        "exchange_s": exchange_s,
        "iterate_s": iterate_s,
        "seconds_per_iteration": iterate_s / max(state.round, 1),
    }
    if worker == 0:
        metrics.update(algorithm.evaluate(state.params, *load_test_set(objects, event["data"], meta)))
        objects.put(f"{event['output']}/model.npz", pack(params=state.params))
        objects.put(
            f"{event['output']}/model.json",
            json.dumps(
                {
                    "algorithm": event["algorithm"],
                    "clusters": event["clusters"],
                    "data": event["data"],
                    "iterations": state.round,
                }
            ).encode(),
        )
    return {"history": history, "metrics": metrics, "completed": True}


def _add_under_lock(
    store: ParamStore,
    namespace: str,
    round_: int,
    workers: int,
    partial: Partial,
    algorithm: IterativeAlgorithm,
    state: State | None,
    event: dict[str, Any],
    timeout_s: float,
) -> State | None:
    """Read-modify-write of the round's running sum; whoever completes it publishes the next state, and keeps
    it (returned) instead of reading it back."""
    with store.lock(lock_name(namespace), timeout_s):
        data = store.get(running_sum_key(namespace, round_))
        total = decode_partial(data) if data is not None else {}
        contributors = int(total.pop(CONTRIBUTORS, np.zeros(1))[0]) + 1
        total = merge([total, partial]) if total else partial
        if contributors == workers:
            following = advance(algorithm, state, total, event["iterations"], event["tolerance"])
            publish(store, namespace, following)
            return following
        store.put(
            running_sum_key(namespace, round_),
            encode_partial({**total, CONTRIBUTORS: np.array([float(contributors)])}),
        )
        return None


def _wait_s(context: Context) -> float:
    remaining = context.remaining_s()
    return remaining if remaining is not None else 3600.0
