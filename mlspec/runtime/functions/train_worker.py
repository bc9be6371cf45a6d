"""One data-parallel training worker: trains on its shard and averages the model with the other
workers through the parameter store every `sync_every_steps` minibatches or once per epoch."""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from mlspec.models import build_model, evaluate
from mlspec.models.transforms import AUGMENTATIONS
from mlspec.runtime.arrays import pack, unpack_xy
from mlspec.runtime.context import Context
from mlspec.runtime.sync import ModelAverager


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    objects = context.object_store(event["object_store"])
    params = context.param_store(event["param_store"])
    worker, workers = event["worker"], event["workers"]
    data = event["data"]
    meta = json.loads(objects.get(f"{data}/meta.json"))
    x, y = unpack_xy(objects.get(f"{data}/shards-{workers}/{worker}.npz"))
    # Every worker takes the same number of steps so that synchronisation rounds line up.
    batch = event["batch_size"]
    steps = math.ceil(min(meta["shards"][str(workers)]) / batch)
    model = build_model(event["model"], event["options"], meta, event["seed"])
    augment = AUGMENTATIONS[meta["format"]]
    rng = np.random.default_rng([event["seed"], worker])
    averager = ModelAverager(
        params, event["sync_namespace"], worker, workers, timeout_s=context.remaining_s() or 3600.0
    )
    sync_every = event.get("sync_every_steps") or 0
    test = unpack_xy(objects.get(f"{data}/test.npz")) if worker == 0 else None
    history: list[dict[str, float]] = []
    sync_s = 0.0
    for epoch in range(1, event["epochs"] + 1):
        order = rng.permutation(len(y))
        loss_sum, correct, seen = 0.0, 0, 0
        for step in range(steps):
            rows = order[step * batch : (step + 1) * batch]
            loss, right = model.train_batch(augment(x[rows], rng), y[rows])
            loss_sum += loss * len(rows)
            correct += right
            seen += len(rows)
            if sync_every and (step + 1) % sync_every == 0:
                sync_s += _sync(model, averager)
        if not sync_every or steps % sync_every:
            sync_s += _sync(model, averager)
        record = {"epoch": epoch, "train_loss": loss_sum / seen, "train_accuracy": correct / seen}
        if test is not None:
            scores = evaluate(model, *test)
            record.update(test_loss=scores["loss"], test_accuracy=scores["accuracy"])
        history.append(record)
        context.report(worker=worker, epochs=event["epochs"], **record)
    if worker == 0:
        objects.put(f"{event['output']}/model.npz", pack(params=model.get_params()))
        objects.put(
            f"{event['output']}/model.json",
            json.dumps({"model": event["model"], "options": event["options"], "data": data}).encode(),
        )
    metrics = {k: v for k, v in history[-1].items() if k != "epoch"}
    metrics.update(sync_rounds=averager.round, sync_s=sync_s, steps_per_epoch=steps)
    return {"history": history, "metrics": metrics}


def _sync(model: Any, averager: ModelAverager) -> float:
    start = time.perf_counter()
    model.set_params(averager.average(model.get_params()))
    return time.perf_counter() - start
