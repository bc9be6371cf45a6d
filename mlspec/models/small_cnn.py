"""A small CNN for 32x32 RGB images (torch). No batch norm: every parameter is averaged, no buffers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from mlspec.models.torch_classifier import TorchClassifier


def small_cnn(classes: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(128 * 4 * 4, 256),
        nn.ReLU(),
        nn.Linear(256, classes),
    )


def build(options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> TorchClassifier:
    """Inputs are uint8 NHWC batches; normalisation uses the training split's channel mean and std."""
    torch.manual_seed(seed)
    return TorchClassifier(small_cnn(len(data_meta["classes"])), options, data_meta)
