"""One data-parallel training worker: trains on its shard and averages the model with the other
workers through the parameter store every `sync_every_steps` minibatches or once per epoch.

After every epoch each worker scores its part of the test split (the parts add up at the epoch's
barrier, so scoring is divided like the steps) and worker 0 writes a checkpoint to the object store. An
invocation that would run past its time limit stops at an epoch boundary (all workers agree through the
parameter store) and returns `completed: false`; the coordinator then chains a new invocation that resumes
from the checkpoint, as a 15-minute Lambda must. A worker that dies is restarted the same way."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from mlspec.algorithms.data import read_shard, shard_sizes
from mlspec.datasets import part_bounds
from mlspec.errors import UserCodeError
from mlspec.layout import checkpoint_key, pause_key
from mlspec.models import MODELS, build_model, score_sums, scores
from mlspec.models.schedules import SCHEDULES
from mlspec.models.transforms import AUGMENTATIONS
from mlspec.runtime.consensus import ModelAveraging, algorithm
from mlspec.runtime.context import Context
from mlspec.runtime.hyperparameters import with_hyperparameters
from mlspec.runtime.sync import agree_at_epoch_end, differing_starts, synchronizer
from mlspec.storage import ObjectStore, ParamStore
from mlspec.storage.codec import pack, unpack, unpack_xy

# Stop early when less than this many epoch-durations (plus the fixed margin) remain.
EPOCH_SAFETY_FACTOR = 1.5
STOP_MARGIN_S = 2.0
# A tune trial looks for its stop key this often within an epoch (and at every epoch end), so a
# trial judged hopeless frees its slot within a fraction of a second, not at the end of a long epoch.
STOP_POLL_S = 0.2
# A time limit counted in epochs instead of seconds: each invocation stops as if near its time limit
# after this many epochs. For tests of chaining, which must not depend on how fast the machine is.
EPOCHS_PER_INVOCATION_ENV = "MLSPEC_EPOCHS_PER_INVOCATION"
# A slowed worker, for tests of re-planning, whose epoch times must come from the test and not from how busy
# the machine is: seconds slept per training example, and per synchronisation round.
SLOW_EXAMPLE_ENV = "MLSPEC_SLOW_S_PER_EXAMPLE"
SLOW_SYNC_ENV = "MLSPEC_SLOW_S_PER_SYNC"


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    objects = context.object_store(event["object_store"])
    params = context.param_store(event["param_store"])
    if event.get("hyperparameters"):  # a tune stage's best configuration
        event = with_hyperparameters(event, json.loads(objects.get(event["hyperparameters"]))["values"])
    worker, workers = event["worker"], event["workers"]
    data = event["data"]
    meta = json.loads(objects.get(f"{data}/meta.json"))
    x, y = read_shard(objects, data, meta, workers, worker)
    shard_rows = min(shard_sizes(meta, workers))
    if event.get("validation_fraction"):  # a tune trial (one worker): scored on part of the training split
        x, y, scored = _hold_out(x, y, event["validation_fraction"], event["seed"])
        shard_rows, prefix = len(y), "validation"
    else:  # each worker scores its part of the test split after each epoch; the parts add up at the barrier
        test_x, test_y = unpack_xy(objects.get(f"{data}/test.npz"))
        a, b = part_bounds(len(test_y), workers)[worker]
        scored, prefix = (test_x[a:b], test_y[a:b]), "test"
        del test_x, test_y
    # Every worker takes the same number of steps so that synchronisation rounds line up.
    batch = event["batch_size"]
    steps = math.ceil(shard_rows / batch)
    model = build_model(event["model"], event["options"], meta, event["seed"])
    sync = synchronizer(params, event["sync_namespace"], worker, workers, _wait_s(context), **event["sync"])
    trainer = algorithm(event.get("algorithm", "model_averaging"), model, sync, event["options"])
    history = _resume(objects, event["output"], trainer, worker, workers)
    if not history and event["model"] not in MODELS and (differ := differing_starts(sync, model.get_params())):
        # A model brought by import path whose initialisation is not seeded by torch's generator (numpy, random).
        who = ("worker " if len(differ) == 1 else "workers ") + ", ".join(map(str, differ))
        raise UserCodeError(
            f"{event['model']}: the initial parameters of {who} differ from worker 0's: seed the "
            "initialisation with torch's generator (mlspec seeds it per stage), not numpy's or random's"
        )
    paused = pause_key(event["sync_namespace"]) if event.get("pausable") else None
    model_bytes = model.get_params().nbytes
    first_epoch = len(history) + 1
    augment = AUGMENTATIONS[meta["format"]]
    schedule = SCHEDULES[event.get("lr_schedule", "constant")]
    sync_every = 0 if trainer.exchanges_every_step else event.get("sync_every_steps") or 0
    sync_s, longest_epoch_s = 0.0, 0.0
    epochs_per_invocation = int(os.environ.get(EPOCHS_PER_INVOCATION_ENV) or 0)
    slow_example_s = float(os.environ.get(SLOW_EXAMPLE_ENV) or 0)
    slow_sync_s = float(os.environ.get(SLOW_SYNC_ENV) or 0)
    completed, stopped_early = True, False
    stop_requested = _stop_flag(params, event.get("stop_key"))
    epochs_run = float(len(history))
    cpu_before_epochs, scoring_cpu_s, first_epoch_cpu_s = time.process_time(), 0.0, 0.0
    for epoch in range(first_epoch, event["epochs"] + 1):
        started, sync_before, rounds_before = time.monotonic(), sync_s, sync.round
        # Seeded per epoch, so a resumed worker sees exactly the batches it would have seen.
        rng = np.random.default_rng([event["seed"], worker, epoch])
        order = rng.permutation(len(y))
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps):
            if stop_requested():  # a trial is one worker: leaving mid-epoch breaks no synchronisation
                stopped_early, epochs_run = True, epoch - 1 + step / steps
                break
            rows = order[step * batch : (step + 1) * batch]
            model.scale_learning_rate(schedule((epoch - 1 + step / steps) / event["epochs"]))
            loss, right = trainer.step(augment(x[rows], rng), y[rows], epoch_end=step + 1 == steps)
            if slow_example_s:
                time.sleep(slow_example_s * len(rows))
            loss_sum += loss * len(rows)
            correct += right
            seen += len(rows)
            if sync_every and (step + 1) % sync_every == 0:
                sync_s += _sync(trainer, step + 1 == steps, slow_sync_s)
        if stopped_early:  # the unfinished epoch is not recorded: the checkpoint stays at the last whole one
            break
        epochs_run = float(epoch)
        if not trainer.exchanges_every_step and (not sync_every or steps % sync_every):
            sync_s += _sync(trainer, True, slow_sync_s)
        if epoch == event["epochs"]:
            trainer.finish()
        scoring_started = time.process_time()
        part_scores = score_sums(model, *scored)
        scoring_cpu_s += time.process_time() - scoring_started
        # Each worker saves its own optimiser state; once all have (the vote is a barrier), worker 0
        # moves the checkpoint pointer to this epoch.
        objects.put(
            f"{_epoch_dir(event['output'], epoch)}/opt-w{worker}.npz",
            pack(state=model.optimizer_state(), **trainer.state()),
        )
        longest_epoch_s = max(longest_epoch_s, time.monotonic() - started)
        remaining = context.remaining_s()
        want_stop = remaining is not None and remaining < EPOCH_SAFETY_FACTOR * longest_epoch_s + STOP_MARGIN_S
        want_stop = want_stop or 0 < epochs_per_invocation <= epoch - first_epoch + 1
        want_stop = want_stop or (paused is not None and params.get(paused) is not None)
        stop, all_scores = agree_at_epoch_end(sync, want_stop, part_scores)
        held_out = scores(all_scores)
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen,
            f"{prefix}_loss": held_out["loss"],
            f"{prefix}_accuracy": held_out["accuracy"],
        }
        history.append(record)
        # The epoch's own figures go with the report, for a coordinator that re-plans from them.
        timing = {
            "epoch_s": time.monotonic() - started,
            "epoch_sync_s": sync_s - sync_before,
            "epoch_sync_rounds": sync.round - rounds_before,
            "model_bytes": model_bytes,
        }
        context.report(worker=worker, workers=workers, epochs=event["epochs"], **record, **timing)
        if worker == 0:
            _save(objects, event, model, history)
        if epoch == first_epoch:
            first_epoch_cpu_s = time.process_time() - cpu_before_epochs - scoring_cpu_s
        if stop_requested(poll_now=True):
            stopped_early = epoch < event["epochs"]  # the tune driver judged this trial hopeless
            break
        if stop and epoch < event["epochs"]:
            completed = False
            break
    metrics = {k: v for k, v in history[-1].items() if k != "epoch"} if history else {}
    steps_cpu_s = time.process_time() - cpu_before_epochs - scoring_cpu_s
    metrics.update(
        sync_rounds=sync.round,
        sync_s=sync_s,
        steps_per_epoch=steps,
        first_epoch=first_epoch,
        # What the planner scales with epochs: the steps (x training examples) less what the first epoch cost
        # above the others, the scoring (x test examples).
        steps_cpu_s=steps_cpu_s,
        scoring_cpu_s=scoring_cpu_s,
        first_epoch_extra_cpu_s=first_epoch_extra(steps_cpu_s, first_epoch_cpu_s, int(epochs_run) - first_epoch + 1),
        # What one sync moves per worker: a 1-worker run exchanges nothing, yet the planner scales from it.
        model_bytes=model_bytes,
        **sync.stats(),
    )
    return {
        "history": history,
        "metrics": metrics,
        "completed": completed,
        "stopped_early": stopped_early,
        "epochs_run": epochs_run,
    }


def first_epoch_extra(steps_cpu_s: float, first_epoch_cpu_s: float, epochs: int) -> float:
    """What this invocation's first epoch cost above the mean of its later ones (0 with one epoch): a cost each
    invocation pays once (the first steps run slower), which the planner must not multiply by the epochs."""
    if epochs < 2:
        return 0.0
    return max(0.0, first_epoch_cpu_s - (steps_cpu_s - first_epoch_cpu_s) / (epochs - 1))


def _stop_flag(params: ParamStore, key: str | None) -> Callable[..., bool]:
    """Whether the tune driver has judged this trial hopeless (its stop key is set); between epoch
    ends the key is read at most every STOP_POLL_S."""
    next_poll = 0.0

    def requested(poll_now: bool = False) -> bool:
        nonlocal next_poll
        if key is None or (not poll_now and time.monotonic() < next_poll):
            return False
        next_poll = time.monotonic() + STOP_POLL_S
        return params.get(key) is not None

    return requested


def _hold_out(x: Any, y: np.ndarray, fraction: float, seed: int) -> tuple[Any, np.ndarray, tuple[Any, np.ndarray]]:
    """A seeded split of the training rows: the same for every trial, so trials compare fairly."""
    order = np.random.default_rng([seed, 7]).permutation(len(y))
    cut = max(1, round(len(y) * fraction))
    train, held = np.sort(order[cut:]), np.sort(order[:cut])
    return x[train], y[train], (x[held], y[held])


def _wait_s(context: Context) -> float:
    remaining = context.remaining_s()
    return remaining if remaining is not None else 3600.0


def _epoch_dir(output: str, epoch: int) -> str:
    return f"{output}/checkpoint/epoch-{epoch}"


def _resume(
    objects: ObjectStore, output: str, trainer: ModelAveraging, worker: int, workers: int
) -> list[dict[str, float]]:
    """Load the latest checkpoint if there is one; returns the history of the epochs it covers. After a
    change of worker count (a re-plan), worker i takes the optimiser state of worker i mod the old count,
    and the algorithm's own per-worker state (ADMM's duals, tied to the old shards) starts afresh."""
    key = checkpoint_key(output)
    if not objects.exists(key):
        return []
    pointer = json.loads(objects.get(key))
    trainer.model.set_params(unpack(objects.get(pointer["params"]))["params"])
    saved_by = int(pointer.get("workers", workers))
    state = unpack(objects.get(f"{_epoch_dir(output, pointer['epoch'])}/opt-w{worker % saved_by}.npz"))
    trainer.model.load_optimizer_state(state.pop("state"))
    trainer.load_state(state if saved_by == workers else {})
    history: list[dict[str, float]] = pointer["history"]
    return history


def _save(objects: ObjectStore, event: dict[str, Any], model: Any, history: list[dict[str, float]]) -> None:
    """The parameters first, then the pointer to them: a reader never sees a pointer to nothing."""
    output = event["output"]
    epoch = len(history)
    params_key = f"{_epoch_dir(output, epoch)}/params.npz"
    objects.put(params_key, pack(params=model.get_params()))
    pointer = {"epoch": epoch, "params": params_key, "history": history, "workers": event["workers"]}
    objects.put(checkpoint_key(output), json.dumps(pointer).encode())
    if epoch > 1:
        objects.delete_prefix(_epoch_dir(output, epoch - 1))
    if epoch == event["epochs"]:
        objects.put(f"{output}/model.npz", pack(params=model.get_params()))
        objects.put(
            f"{output}/model.json",
            json.dumps({"model": event["model"], "options": event["options"], "data": event["data"]}).encode(),
        )


def _sync(trainer: ModelAveraging, epoch_end: bool, slow_s: float) -> float:
    start = time.perf_counter()
    trainer.synchronize(epoch_end)
    if slow_s:
        time.sleep(slow_s)
    return time.perf_counter() - start
