"""Hyperparameters as a train event carries them, so that a tune trial and a train stage using the
tuned values change exactly the same fields."""

from __future__ import annotations

import math
from typing import Any

# Event fields that live in the model's options; the others are top-level in the event.
MODEL_OPTIONS = ("learning_rate", "weight_decay", "momentum", "admm_rho")


def with_hyperparameters(event: dict[str, Any], values: dict[str, float]) -> dict[str, Any]:
    """A copy of a train event with `values` applied; `batch_size` is global, split between workers."""
    out = {**event, "options": {**event["options"]}}
    for name, value in values.items():
        if name in MODEL_OPTIONS:
            out["options"][name] = float(value)
        elif name == "epochs":
            out["epochs"] = int(value)
        elif name == "batch_size":
            out["batch_size"] = math.ceil(int(value) / event["workers"])
        else:
            raise ValueError(f"not a tunable hyperparameter: {name!r}")
    return out
