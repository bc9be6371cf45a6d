"""A small CNN for 32x32 RGB images (torch). No batch norm: every parameter is averaged, no buffers."""

from __future__ import annotations

import functools
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
        self._sgd = {
            "lr": options.get("learning_rate", 0.05),
            "momentum": options.get("momentum", 0.9),
            "weight_decay": options.get("weight_decay", 5e-4),
        }
        self.loss = nn.CrossEntropyLoss()

    @functools.cached_property
    def optimizer(self) -> torch.optim.SGD:
        """Made when training first needs it: the first torch.optim optimizer of a process imports
        torch._dynamo (about 2 s here), which scoring (evaluate, serve) never needs."""
        return torch.optim.SGD(self.net.parameters(), **self._sgd)

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(255.0)
        return (t - self.mean) / self.std

    def get_params(self) -> np.ndarray:
        return torch.nn.utils.parameters_to_vector(self.net.parameters()).detach().numpy().astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        torch.nn.utils.vector_to_parameters(torch.from_numpy(np.asarray(flat, np.float32)), self.net.parameters())

    def optimizer_state(self) -> np.ndarray:
        buffers = []
        for param in self.net.parameters():
            buffer = self.optimizer.state.get(param, {}).get("momentum_buffer")
            buffers.append((buffer if buffer is not None else torch.zeros_like(param)).detach().reshape(-1))
        return torch.cat(buffers).numpy().astype(np.float32)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        flat = torch.from_numpy(np.asarray(state, np.float32))
        offset = 0
        for param in self.net.parameters():
            n = param.numel()
            self.optimizer.state[param]["momentum_buffer"] = flat[offset : offset + n].view_as(param).clone()
            offset += n

    def train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        loss, correct = self._backward(x, y)
        self.optimizer.step()
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
        self.optimizer.step()

    def _backward(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        self.net.train()
        logits = self.net(self._tensor(x))
        target = torch.from_numpy(y.astype(np.int64))
        loss = self.loss(logits, target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        return float(loss.item()), int((logits.argmax(1) == target).sum().item())

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            out: np.ndarray = torch.softmax(self.net(self._tensor(x)), dim=1).numpy()
        return out
