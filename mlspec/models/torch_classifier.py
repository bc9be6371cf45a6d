"""Any torch module as an mlspec model: its parameters flat for every sync pattern and algorithm, SGD with
momentum and weight decay from the stage, momentum buffers as the optimiser state for checkpoints.

Inputs: image batches (uint8 NHWC) become float NCHW normalised with the training split's channel mean and
std; text batches (TF-IDF rows, sparse) become dense float rows. The loss is the module's own
`loss(logits, target)` when it defines one (e.g. with label smoothing), else cross-entropy.

A module's floating-point buffers (batch-norm running statistics) are part of its flat parameters after the
trainable ones: averaged with them, checkpointed, and saved with the model, so evaluation and serving use the
statistics training gathered. Gradients leave them alone (zeros in their place)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from mlspec.errors import UserCodeError
from mlspec.user_code import user_error


class TorchClassifier:
    def __init__(
        self, net: nn.Module, options: dict[str, Any], data_meta: dict[str, Any], origin: str | None = None
    ) -> None:
        self.net = net
        self.classes = len(data_meta["classes"])
        self.origin = origin  # the user's file or module, for a model users brought: its errors name it
        self.images = "offset" in data_meta  # pixel scaling: the preprocess stage of an image dataset
        if self.images:
            self.offset = torch.tensor(data_meta["offset"], dtype=torch.float32).view(1, 3, 1, 1)
            self.scale = torch.tensor(data_meta["scale"], dtype=torch.float32).view(1, 3, 1, 1)
        self.params = [p for p in net.parameters() if p.requires_grad]
        self.buffers = [b for b in net.buffers() if b.is_floating_point()]
        self.base_learning_rate = self.learning_rate = float(options.get("learning_rate", 0.05))
        self.momentum = float(options.get("momentum", 0.9))
        self.weight_decay = float(options.get("weight_decay", 5e-4))
        # SGD with momentum and weight decay, as torch.optim.SGD computes it (dampening 0, no Nesterov;
        # a zero buffer's first update equals its first-step copy of the gradient). Not torch.optim itself:
        # a process's first optimizer imports torch._dynamo, about 2 s of every function's cold start.
        self.momentum_buffers = [torch.zeros_like(p) for p in self.params]
        self.loss = getattr(net, "loss", None) or nn.CrossEntropyLoss()

    def _tensor(self, x: Any) -> torch.Tensor:
        if self.images:
            t = torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2).float().div_(255.0)
            return (t - self.offset) / self.scale
        dense = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
        return torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))

    def get_params(self) -> np.ndarray:
        state = [t.detach().reshape(-1) for t in (*self.params, *self.buffers)]
        return torch.cat(state).numpy().astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        values = torch.from_numpy(np.asarray(flat, np.float32))
        offset = 0
        with torch.no_grad():
            for tensor in (*self.params, *self.buffers):
                tensor.copy_(values[offset : offset + tensor.numel()].view_as(tensor))
                offset += tensor.numel()

    def optimizer_state(self) -> np.ndarray:
        return torch.cat([b.reshape(-1) for b in self.momentum_buffers]).numpy().astype(np.float32)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        flat = torch.from_numpy(np.asarray(state, np.float32))
        offset = 0
        for buffer in self.momentum_buffers:
            buffer.copy_(flat[offset : offset + buffer.numel()].view_as(buffer))
            offset += buffer.numel()

    def scale_learning_rate(self, factor: float) -> None:
        self.learning_rate = self.base_learning_rate * factor

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        loss, correct = self._backward(x, y)
        self._step()
        return loss, correct

    def gradient(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        loss, correct = self._backward(x, y)
        grads = [p.grad.reshape(-1) if p.grad is not None else torch.zeros(p.numel()) for p in self.params]
        grads += [torch.zeros(b.numel()) for b in self.buffers]
        return torch.cat(grads).numpy().astype(np.float32), loss, correct

    def apply_gradient(self, grad: np.ndarray) -> None:
        """One optimiser step (momentum, weight decay) with `grad` in place of the local gradient."""
        flat = torch.from_numpy(np.asarray(grad, np.float32))
        offset = 0
        for param in self.params:
            n = param.numel()
            param.grad = flat[offset : offset + n].view_as(param).clone()
            offset += n
        self._step()

    def _step(self) -> None:
        with torch.no_grad():
            for param, buffer in zip(self.params, self.momentum_buffers, strict=True):
                if param.grad is None:
                    continue
                buffer.mul_(self.momentum).add_(param.grad.add(param, alpha=self.weight_decay))
                param.add_(buffer, alpha=-self.learning_rate)

    def _forward(self, x: Any) -> torch.Tensor:
        try:
            logits: torch.Tensor = self.net(self._tensor(x))
        except Exception as exc:
            if self.origin is None:
                raise
            raise user_error(exc, self.origin) or exc from None
        if self.origin is not None and (logits.ndim != 2 or logits.shape[1] != self.classes):
            raise UserCodeError(
                f"{self.origin}: the module returned shape {tuple(logits.shape)} for a batch of {len(logits)}: "
                f"expected ({len(logits)}, {self.classes}), a score per class"
            )
        return logits

    def _backward(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        self.net.train()
        logits = self._forward(x)
        target = torch.from_numpy(y.astype(np.int64))
        loss = self.loss(logits, target)
        for param in self.params:
            param.grad = None
        loss.backward()
        return float(loss.item()), int((logits.argmax(1) == target).sum().item())

    def predict_proba(self, x: Any) -> np.ndarray:
        self.net.eval()
        with torch.no_grad():
            out: np.ndarray = torch.softmax(self._forward(x), dim=1).numpy()
        return out
