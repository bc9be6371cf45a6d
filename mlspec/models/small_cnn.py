"""A small CNN for 32x32 RGB images (torch). No batch norm: every parameter is averaged, no buffers."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn


def _network(classes: int) -> nn.Sequential:
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


class SmallCNN:
    """Inputs are uint8 NHWC batches; normalisation uses the training split's channel mean and std."""

    def __init__(self, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> None:
        torch.manual_seed(seed)
        self.net = _network(len(data_meta["classes"]))
        self.mean = torch.tensor(data_meta["mean"], dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(data_meta["std"], dtype=torch.float32).view(1, 3, 1, 1)
        self.learning_rate = float(options.get("learning_rate", 0.05))
        self.momentum = float(options.get("momentum", 0.9))
        self.weight_decay = float(options.get("weight_decay", 5e-4))
        # SGD with momentum and weight decay, as torch.optim.SGD computes it (dampening 0, no Nesterov;
        # a zero buffer's first update equals its first-step copy of the gradient). Not torch.optim itself:
        # a process's first optimizer imports torch._dynamo, about 2 s of every function's cold start.
        self.momentum_buffers = [torch.zeros_like(p) for p in self.net.parameters()]
        self.loss = nn.CrossEntropyLoss()

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(255.0)
        return (t - self.mean) / self.std

    def get_params(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().numpy().astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        torch.nn.utils.vector_to_parameters(torch.from_numpy(np.asarray(flat, np.float32)), self.net.parameters())

    def optimizer_state(self) -> np.ndarray:
        return torch.cat([b.reshape(-1) for b in self.momentum_buffers]).numpy().astype(np.float32)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        flat = torch.from_numpy(np.asarray(state, np.float32))
        offset = 0
        for buffer in self.momentum_buffers:
            buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
            offset += buffer.numel()

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        loss, correct = self._backward(x, y)
        self._step()
        return loss, correct

    def gradient(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        loss, correct = self._backward(x, y)
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel()) for p in self.net.parameters()]
        return torch.cat(grads).numpy().astype(np.float32), loss, correct

    def apply_gradient(self, grad: np.ndarray) -> None:
        """One optimiser step (momentum, weight decay) with `grad` in place of the local gradient."""
        flat = torch.from_numpy(np.asarray(grad, np.float32))
        offset = 0
        for param in self.net.parameters():
            n = param.numel()
            param.grad = flat[offset : offset + n].view_as(param).clone()
            offset += n
        self._step()

    def _step(self) -> None:
        with torch.no_grad():
            for param, buffer in zip(self.net.parameters(), self.momentum_buffers, strict=True):
                if param.grad is None:
                    continue
                buffer.mul_(self.momentum).add_(param.grad.add(param, alpha=self.weight_decay))
                param.add_(buffer, alpha=-self.learning_rate)

    def _backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        self.net.train()
        logits = self.net(self._tensor(x))
        target = torch.from_numpy(y.astype(np.int64))
        loss = self.loss(logits, target)
        for param in self.net.parameters():
            param.grad = None
        loss.backward()
        return float(loss.item()), int((logits.argmax(1) == target).sum().item())

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            out: np.ndarray = torch.softmax(self.net(self._tensor(x)), dim=1).numpy()
        return out
