"""Logistic regression on TF-IDF features, trained by scikit-learn's SGD with log loss."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import SGDClassifier


class SGDLogisticRegression:
    def __init__(self, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> None:
        self.classes = np.arange(len(data_meta["classes"]))
        self.features = int(data_meta["features"])
        self.clf = SGDClassifier(
            loss="log_loss",
            alpha=options.get("weight_decay", 1e-5),
            learning_rate="constant" if options.get("constant_lr") else "optimal",
            eta0=options.get("learning_rate", 0.05),
            random_state=seed,
        )
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        # Identical zero start on every worker; scikit-learn allocates its own state on the first
        # partial_fit, after which these parameters are loaded into it.
        self._pending = np.zeros(rows * self.features + rows, dtype=np.float32)
        self._started = False
        self._pending_t = 1.0

    def get_params(self) -> np.ndarray:
        if not self._started:
            return self._pending.copy()
        return np.concatenate([self.clf.coef_.ravel(), self.clf.intercept_]).astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        if not self._started:
            self._pending = np.asarray(flat, dtype=np.float32).copy()
            return
        rows = self.clf.coef_.shape[0]
        flat = np.asarray(flat, dtype=self.clf.coef_.dtype)  # scikit-learn keeps the dtype of the data
        self.clf.coef_ = flat[: rows * self.features].reshape(rows, self.features).copy()
        self.clf.intercept_ = flat[rows * self.features :].copy()

    def optimizer_state(self) -> np.ndarray:
        """The step counter of the `optimal` learning-rate schedule."""
        return np.array([getattr(self.clf, "t_", 1.0) if self._started else self._pending_t], dtype=np.float64)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        if self._started:
            self.clf.t_ = float(state[0])
        else:
            self._pending_t = float(state[0])

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        if not self._started:
            self.clf.partial_fit(x, y, classes=self.classes)
            self._started = True
            self.set_params(self._pending)
            self.clf.t_ = self._pending_t
        proba = self.predict_proba(x)
        loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
        correct = int((proba.argmax(axis=1) == y).sum())
        self.clf.partial_fit(x, y)
        return loss, correct

    def predict_proba(self, x: Any) -> np.ndarray:
        if self._started:
            coef, intercept = self.clf.coef_, self.clf.intercept_
        else:
            rows = len(self._pending) // (self.features + 1)
            coef = self._pending[: rows * self.features].reshape(rows, self.features)
            intercept = self._pending[rows * self.features :]
        scores = np.asarray(x @ coef.T + intercept)
        if scores.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.stack([1 - p, p], axis=1)
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out
