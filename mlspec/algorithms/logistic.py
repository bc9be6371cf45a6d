"""Multinomial logistic regression by full-batch gradient descent, as additive partials: the gradient
sum, loss sum, correct predictions and example count of a shard. Two classes (IMDb) is the binary case."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlspec.algorithms.base import IterativeAlgorithm, Partial


class SoftmaxRegression(IterativeAlgorithm):
    def __init__(self, n_features: int, classes: int, learning_rate: float) -> None:
        self.n_features, self.classes, self.learning_rate = n_features, classes, learning_rate

    def init_partial(self, x: Any, y: np.ndarray, rows: np.ndarray) -> Partial:
        return {"count": np.array([float(len(y))])}

    def initial_params(self, merged: Partial) -> np.ndarray:
        # weights (features x classes), then biases (classes)
        return np.zeros((self.n_features + 1) * self.classes)

    def _probabilities(self, params: np.ndarray, x: Any) -> np.ndarray:
        split = self.n_features * self.classes
        # Products in the features' precision (float32): several times faster; sums stay float64.
        weights = params[:split].reshape(self.n_features, self.classes).astype(x.dtype)
        logits = np.asarray(x @ weights, np.float64) + params[split:]
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def partial(self, params: np.ndarray, x: Any, y: np.ndarray) -> Partial:
        probabilities = self._probabilities(params, x)
        rows = np.arange(len(y))
        loss = -np.log(np.maximum(probabilities[rows, y], 1e-12)).sum()
        correct = (probabilities.argmax(axis=1) == y).sum()
        residual = probabilities
        residual[rows, y] -= 1
        weight_gradient = np.asarray(x.T @ residual.astype(x.dtype), np.float64)
        gradient = np.concatenate([weight_gradient.ravel(), residual.sum(axis=0)])
        return {
            "gradient": gradient,
            "loss": np.array([loss]),
            "correct": np.array([float(correct)]),
            "count": np.array([float(len(y))]),
        }

    def update(self, params: np.ndarray, merged: Partial) -> np.ndarray:
        return params - self.learning_rate * merged["gradient"] / max(merged["count"][0], 1.0)

    def summary(self, merged: Partial) -> dict[str, float]:
        count = max(merged["count"][0], 1.0)
        return {"train_loss": float(merged["loss"][0] / count), "train_accuracy": float(merged["correct"][0] / count)}

    def evaluate(self, params: np.ndarray, x: Any, y: np.ndarray) -> dict[str, float]:
        probabilities = self._probabilities(params, x)
        loss = -np.log(np.maximum(probabilities[np.arange(len(y)), y], 1e-12)).mean()
        return {"test_accuracy": float((probabilities.argmax(axis=1) == y).mean()), "test_loss": float(loss)}
