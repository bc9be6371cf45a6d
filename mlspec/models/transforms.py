"""The few image transforms training needs (no torchvision on CPU here): random crop and flip."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def random_crop_flip(images: np.ndarray, rng: np.random.Generator, pad: int = 4) -> np.ndarray:
    """Pad by `pad` pixels (reflect), crop back at a random offset, flip half the images horizontally."""
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy = np.asarray(rng.integers(0, 2 * pad + 1, size=n))
    dx = np.asarray(rng.integers(0, 2 * pad + 1, size=n))
    out = np.empty_like(images)
    flips = np.asarray(rng.random(n)) < 0.5
    for i in range(n):
        top, left = int(dy[i]), int(dx[i])
        crop = padded[i, top : top + h, left : left + w]
        out[i] = crop[:, ::-1] if bool(flips[i]) else crop
    return out


def _identity(x: Any, rng: np.random.Generator) -> Any:
    return x


# Training-time augmentation per dataset format.
AUGMENTATIONS: dict[str, Callable[[Any, np.random.Generator], Any]] = {
    "cifar10": random_crop_flip,
    "imdb": _identity,
}
