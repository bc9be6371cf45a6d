"""The shared state in the parameter store: key layout and encoding, common to the workers (both
designs) and the coordinator's lock-free merger. Everything is flat arrays, packed raw (codec.pack_raw).

Under a round of invocations' `sync_namespace` NS:
  NS/s{r}/state       the state after round r (round 0: the initial state)
  NS/p{r}/w{i}        lock-free: worker i's partial for round r
  NS/p{r}/acc         lock-based: the running sum of round r's partials (and how many are in it)
  NS/lock             lock-based: the lock around read-modify-write of the running sum
  NS/failed           why the merger gave up on this namespace (workers stop waiting)
Once state r is published nobody reads round r's partials or state r-1 any more, so they are deleted.
"""

from __future__ import annotations

import time

import numpy as np

from mlspec.algorithms.base import Partial, State
from mlspec.storage import ParamStore, StoreTimeout
from mlspec.storage.codec import pack_raw, unpack_raw

CONTRIBUTORS = "contributors"  # in a lock-based running sum: how many partials it holds
_SUMMARY = "summary:"


class SharedStateFailed(RuntimeError):
    pass


def state_key(namespace: str, round_: int) -> str:
    return f"{namespace}/s{round_}/state"


def partials_prefix(namespace: str, round_: int) -> str:
    return f"{namespace}/p{round_}/"


def partial_key(namespace: str, round_: int, worker: int) -> str:
    return f"{partials_prefix(namespace, round_)}w{worker}"


def running_sum_key(namespace: str, round_: int) -> str:
    return f"{partials_prefix(namespace, round_)}acc"


def lock_name(namespace: str) -> str:
    return f"{namespace}/lock"


def failed_key(namespace: str) -> str:
    return f"{namespace}/failed"


def namespace_key(run_id: str, stage: str) -> str:
    """Where lock-free workers announce their namespace to the coordinator's merger (it changes per retry)."""
    return f"{run_id}/{stage}/namespace"


def encode_partial(partial: Partial) -> bytes:
    return pack_raw(**partial)


def decode_partial(data: bytes) -> Partial:
    return unpack_raw(data)


def encode_state(state: State) -> bytes:
    summary = {f"{_SUMMARY}{k}": np.array([v]) for k, v in state.summary.items()}
    return pack_raw(
        round=np.array([state.round]),
        params=state.params,
        done=np.array([state.done]),
        movement=np.array([state.movement]),
        **summary,
    )


def decode_state(data: bytes) -> State:
    arrays = unpack_raw(data)
    summary = {k.removeprefix(_SUMMARY): float(v[0]) for k, v in arrays.items() if k.startswith(_SUMMARY)}
    return State(
        int(arrays["round"][0]), arrays["params"], bool(arrays["done"][0]), float(arrays["movement"][0]), summary
    )


def publish(store: ParamStore, namespace: str, state: State) -> None:
    """Write state r, then drop what only served to compute it."""
    store.put(state_key(namespace, state.round), encode_state(state))
    store.delete_prefix(partials_prefix(namespace, state.round))
    if state.round > 0:
        store.delete_prefix(f"{namespace}/s{state.round - 1}/")


def wait_state(store: ParamStore, namespace: str, round_: int, timeout_s: float) -> State:
    """Block until state `round_` is published. Raises SharedStateFailed when the merger gave up on this
    namespace, StoreTimeout after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    delay = store.poll_interval_s
    while True:
        data = store.get(state_key(namespace, round_))
        if data is not None:
            return decode_state(data)
        failure = store.get(failed_key(namespace))
        if failure is not None:
            raise SharedStateFailed(failure.decode())
        if time.monotonic() > deadline:
            raise StoreTimeout(f"timed out after {timeout_s:.0f}s waiting for the shared state of round {round_}")
        time.sleep(delay)
        delay = min(delay * 1.5, store.max_poll_interval_s)
