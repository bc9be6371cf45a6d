"""A small residual network for 32x32 images in the spirit of the fast CIFAR-10 training scripts (ResNet-9:
conv-batchnorm-ReLU blocks, two residual blocks, max pooling, a scaled linear head, label smoothing).
`mlspec run pipeline.yaml` ships this file to every function; nothing else is needed."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def conv_bn(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(inplace=True),
    )


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResNet9(nn.Module):
    def __init__(self, num_classes: int, width: int = 16, label_smoothing: float = 0.2) -> None:
        super().__init__()
        w = width
        self.layers = nn.Sequential(
            conv_bn(3, w),
            conv_bn(w, 2 * w),
            nn.MaxPool2d(2),
            Residual(2 * w),
            conv_bn(2 * w, 4 * w),
            nn.MaxPool2d(2),
            conv_bn(4 * w, 8 * w),
            nn.MaxPool2d(2),
            Residual(8 * w),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            nn.Linear(8 * w, num_classes, bias=False),
        )
        self.label_smoothing = label_smoothing

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x) * 0.125  # a scaled head keeps the early logits small

    def loss(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """mlspec uses a module's own loss when it has one."""
        return functional.cross_entropy(logits, target, label_smoothing=self.label_smoothing)
