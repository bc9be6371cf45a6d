"""The serve stage's function. Without `inputs` (during `mlspec run`): package the trained model into a
serving bundle and check it predicts held-out examples, sent raw as a client would, exactly as offline
evaluation does. With `inputs` (a platform shim's request): labels and probabilities for them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from mlspec.runtime.context import Context
from mlspec.serving.bundle import bundle_exists, load_bundle, package, save_bundle
from mlspec.serving.predictor import Predictor

CHECK_EXAMPLES = 200  # held-out examples predicted through the bundle while packaging
PROBABILITY_TOLERANCE = 1e-5

# Loaded predictors, kept across warm invocations of the same process.
_PREDICTORS: dict[str, Predictor] = {}


class BundleMismatch(RuntimeError):
    """The packaged model does not reproduce offline evaluation: serving it would give wrong answers."""


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    objects = context.object_store(event["object_store"])
    if "inputs" in event:
        key = json.dumps([event["object_store"], event["output"]], sort_keys=True)
        if key not in _PREDICTORS:
            if not bundle_exists(objects, event["output"]):
                raise FileNotFoundError(f"no serving bundle under {event['output']!r}: run the pipeline first")
            _PREDICTORS[key] = Predictor(load_bundle(objects, event["output"]))
        return _PREDICTORS[key].predict({"inputs": event["inputs"]})
    context.report(phase="packaging model")
    bundle, raw, test_x, test_y = package(objects, event)
    size = save_bundle(objects, event["output"], bundle)
    context.report(phase="checking bundle", examples=min(CHECK_EXAMPLES, len(test_y)))
    return {"metrics": {**check(Predictor(bundle), raw, test_x, test_y), "bundle_bytes": size}}


def check(predictor: Predictor, raw: Any, test_x: Any, test_y: np.ndarray) -> dict[str, float]:
    """Predict the first held-out examples from raw inputs (through JSON and request validation) and
    compare with the model on the stored test features; BundleMismatch when they differ."""
    n = min(CHECK_EXAMPLES, len(raw), predictor.input.max_batch)
    raw_batch = raw[:n].tolist() if isinstance(raw, np.ndarray) else list(raw[:n])
    served = predictor.predict(json.loads(json.dumps({"inputs": raw_batch})))
    offline = predictor.model.predict_proba(test_x[:n])
    served_proba = np.asarray(served["probabilities"])
    disagree = int((served_proba.argmax(1) != offline.argmax(1)).sum())
    diff = float(np.abs(served_proba - offline).max())
    if disagree or diff > PROBABILITY_TOLERANCE:
        raise BundleMismatch(
            f"the serving bundle disagrees with offline evaluation on {disagree} of {n} held-out "
            f"examples (largest probability difference {diff:.2g})"
        )
    return {
        "check_examples": float(n),
        "check_agreement": 1.0,
        "check_max_probability_diff": diff,
        "check_accuracy": float((served_proba.argmax(1) == test_y[:n]).mean()),
    }
