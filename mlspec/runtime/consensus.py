"""How data-parallel workers reach one model (LambdaML's three algorithms), over any sync pattern
and protocol:

- model averaging: each worker steps on its own minibatches and the models are averaged at every
  sync point (every `sync_every_steps` minibatches or once per epoch);
- gradient averaging: every minibatch the workers' gradients are averaged and every worker takes
  the same step with the average, so (under BSP) the models never drift apart;
- ADMM (consensus form, for the linear models): each worker minimises its shard's loss plus
  rho/2 ||w - z + u||^2 with local proximal-gradient steps; at every sync point the consensus z is the average of
  w + u over workers, and each worker's dual u grows by w - z. Local solves restart from z.

An algorithm owns the model's training step and its sync points; the train worker owns the loop.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlspec.models import Model
from mlspec.runtime.sync import Synchronizer


class ModelAveraging:
    exchanges_every_step = False

    def __init__(self, model: Model, sync: Synchronizer, options: dict[str, Any]) -> None:
        self.model = model
        self.sync = sync

    def step(self, x: Any, y: np.ndarray, epoch_end: bool) -> tuple[float, int]:
        return self.model.train_batch(x, y)

    def synchronize(self, epoch_end: bool) -> None:
        self.model.set_params(self.sync.average(self.model.get_params(), epoch_end))

    def finish(self) -> None:
        """Before the final model is saved: one synchronous round where the protocol left workers apart."""
        self.model.set_params(self.sync.consolidate(self.model.get_params()))

    def state(self) -> dict[str, np.ndarray]:
        """Per-worker state beyond the model and optimiser, for checkpoints."""
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        return None


class GradientAveraging(ModelAveraging):
    exchanges_every_step = True

    def step(self, x: Any, y: np.ndarray, epoch_end: bool) -> tuple[float, int]:
        grad, loss, correct = self.model.gradient(x, y)
        self.model.apply_gradient(self.sync.average(grad, epoch_end))
        return loss, correct

    def synchronize(self, epoch_end: bool) -> None:
        return None  # every step already exchanged


class Admm(ModelAveraging):
    def __init__(self, model: Model, sync: Synchronizer, options: dict[str, Any]) -> None:
        super().__init__(model, sync, options)
        self.rho = float(options["admm_rho"])
        self.step_size = float(options["learning_rate"])
        self.consensus = model.get_params()
        self.dual = np.zeros_like(self.consensus)

    def step(self, x: Any, y: np.ndarray, epoch_end: bool) -> tuple[float, int]:
        """A proximal-gradient step: a gradient step on the shard's loss, then the penalty's proximal
        map in closed form, which is stable whatever learning_rate x rho is (a plain gradient step on
        the penalty diverges once that product exceeds 2)."""
        grad, loss, correct = self.model.gradient(x, y)
        self.model.apply_gradient(grad)
        pull = self.step_size * self.rho
        target = self.consensus - self.dual
        self.model.set_params((self.model.get_params() + pull * target) / (1.0 + pull))
        return loss, correct

    def synchronize(self, epoch_end: bool) -> None:
        local = self.model.get_params()
        self.consensus = self.sync.average(local + self.dual, epoch_end)
        self.dual += local - self.consensus
        self.model.set_params(self.consensus)

    def state(self) -> dict[str, np.ndarray]:
        return {"dual": self.dual}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        if "dual" in state:
            self.dual = np.asarray(state["dual"], np.float32).copy()
        self.consensus = self.model.get_params()


ALGORITHMS: dict[str, type[ModelAveraging]] = {
    "model_averaging": ModelAveraging,
    "gradient_averaging": GradientAveraging,
    "admm": Admm,
}


def algorithm(name: str, model: Model, sync: Synchronizer, options: dict[str, Any]) -> ModelAveraging:
    return ALGORITHMS[name](model, sync, options)
