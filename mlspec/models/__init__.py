"""The model zoo named by the spec. Every model exposes its parameters as one flat float32 array,
so synchronisation through the stores does not depend on the framework."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mlspec.references import load

# model name -> "module:class"; imported lazily so only the framework a function needs is loaded.
MODELS = {
    "small_cnn": "mlspec.models.small_cnn:build",
    "logistic_regression": "mlspec.models.logistic_regression:SGDLogisticRegression",
}


class Model(Protocol):
    def get_params(self) -> np.ndarray:
        """All trainable parameters, concatenated, float32."""
        ...

    def set_params(self, flat: np.ndarray) -> None: ...

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        """One optimisation step; returns (mean loss, number correct) on the batch."""
        ...

    def gradient(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        """The minibatch gradient, flat like the parameters, without stepping; with (loss, correct)."""
        ...

    def apply_gradient(self, grad: np.ndarray) -> None:
        """One optimisation step with `grad` (e.g. the workers' average) as the gradient."""
        ...

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities, shape (n, classes)."""
        ...

    def optimizer_state(self) -> np.ndarray:
        """The optimiser's own state (momentum, step counters), flat, for checkpoints."""
        ...

    def load_optimizer_state(self, state: np.ndarray) -> None: ...

    def scale_learning_rate(self, factor: float) -> None:
        """The learning rate for the next steps is the stage's times `factor` (a schedule, models/schedules.py);
        a model with a schedule of its own refuses any factor but 1."""
        ...


# What builds a model named by import path ("nets.py:ResNet9", "sklearn.linear_model:SGDClassifier").
IMPORTED = "mlspec.models.imported:build_imported"


def build_model(name: str, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> Model:
    """A freshly initialised model; the same seed gives the same initial parameters on every worker. `name` is
    a built-in model or an import path; `options` the stage's (a brought file's source in options["code"]["model"])."""
    if name in MODELS:
        model: Model = load(MODELS[name])(options, data_meta, seed)
    else:
        model = load(IMPORTED)(name, options, data_meta, seed)
    return model


def score_sums(model: Model, x: Any, y: np.ndarray, batch_size: int = 1024) -> dict[str, float]:
    """Correct predictions, summed log loss and examples on (x, y): what the parts of a split add up to."""
    correct = 0
    loss = 0.0
    for start in range(0, len(y), batch_size):
        proba = model.predict_proba(x[start : start + batch_size])
        labels = y[start : start + batch_size]
        correct += int((proba.argmax(axis=1) == labels).sum())
        loss += float(-np.log(np.clip(proba[np.arange(len(labels)), labels], 1e-12, None)).sum())
    return {"correct": float(correct), "loss_sum": loss, "examples": float(len(y))}


def scores(sums: dict[str, float]) -> dict[str, float]:
    """Accuracy and mean log loss from summed scores (score_sums, or several added up)."""
    n = sums["examples"]
    return {"accuracy": sums["correct"] / n, "loss": sums["loss_sum"] / n, "examples": n}


def evaluate(model: Model, x: Any, y: np.ndarray, batch_size: int = 1024) -> dict[str, float]:
    """Accuracy and mean log loss on (x, y)."""
    return scores(score_sums(model, x, y, batch_size))
