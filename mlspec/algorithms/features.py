"""Shards as the preprocess stage wrote them -> the feature matrices the algorithms work on."""

from __future__ import annotations

from typing import Any

import numpy as np

CIFAR_FEATURES = 32 * 32 * 3


def feature_count(meta: dict[str, Any]) -> int:
    return CIFAR_FEATURES if meta["format"] == "cifar10" else int(meta["features"])


def features(x: Any, meta: dict[str, Any]) -> Any:
    """IMDb: the TF-IDF rows as they are (sparse, unit L2 norm). CIFAR-10: pixels scaled per channel as the
    preprocess stage chose (standardised, or min-max) and by 1/sqrt(3072), so a row's norm is about 1 as
    for text and one learning rate suits both."""
    if meta["format"] != "cifar10":
        return x
    offset = np.asarray(meta["offset"], np.float32)
    scale = np.asarray(meta["scale"], np.float32)
    pixels = (np.asarray(x, np.float32) / 255.0 - offset) / (scale * np.sqrt(CIFAR_FEATURES, dtype=np.float32))
    return pixels.reshape(len(pixels), -1)
