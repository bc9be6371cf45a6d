"""Evaluate a trained model on the held-out test split of its data."""

from __future__ import annotations

import json
from typing import Any

from mlspec.models import build_model, evaluate
from mlspec.runtime.context import Context
from mlspec.storage.codec import unpack, unpack_xy


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    objects = context.object_store(event["object_store"])
    spec = json.loads(objects.get(f"{event['model_prefix']}/model.json"))
    meta = json.loads(objects.get(f"{spec['data']}/meta.json"))
    model = build_model(spec["model"], spec["options"], meta, seed=0)
    model.set_params(unpack(objects.get(f"{event['model_prefix']}/model.npz"))["params"])
    x, y = unpack_xy(objects.get(f"{spec['data']}/test.npz"))
    context.report(phase="scoring", examples=len(y))
    scores = evaluate(model, x, y)
    return {
        "metrics": {
            "test_accuracy": scores["accuracy"],
            "test_loss": scores["loss"],
            "test_examples": scores["examples"],
        }
    }
