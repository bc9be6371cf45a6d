"""Logistic regression on TF-IDF features, trained by scikit-learn's SGD with log loss.

`gradient`/`apply_gradient` (gradient averaging, ADMM) compute the same L2-penalised log loss in
numpy and step with the constant `learning_rate`, since scikit-learn cannot take an outside gradient."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sklearn.linear_model import SGDClassifier

SPARSE_INTERCEPT_DECAY = 0.01


class SGDLogisticRegression:
    def __init__(self, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> None:
        self.classes = np.arange(len(data_meta["classes"]))
        self.features = int(data_meta["features"])
        self._sgd_options = {
            "loss": "log_loss",
            "alpha": options.get("weight_decay", 1e-5),
            "learning_rate": "constant" if options.get("constant_lr") else "optimal",
            "eta0": options.get("learning_rate", 0.05),
            "random_state": seed,
        }
        # Made by the first training batch: scoring (evaluate, serve) needs numpy only, and importing
        # scikit-learn costs such a function most of its time.
        self.clf: SGDClassifier | None = None
        rows = 1 if len(self.classes) == 2 else len(self.classes)
        # Identical zero start on every worker; scikit-learn allocates its own state on the first
        # partial_fit, after which these parameters are loaded into it.
        self._pending = np.zeros(rows * self.features + rows, dtype=np.float32)
        self._pending_t = 1.0
        self.alpha = float(options.get("weight_decay", 1e-5))
        self.step_size = float(options.get("learning_rate", 0.05))

    def get_params(self) -> np.ndarray:
        if self.clf is None:
            return self._pending.copy()
        return np.concatenate([self.clf.coef_.ravel(), self.clf.intercept_]).astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        if self.clf is None:
            self._pending = np.asarray(flat, dtype=np.float32).copy()
            return
        rows = self.clf.coef_.shape[0]
        flat = np.asarray(flat, dtype=self.clf.coef_.dtype)  # scikit-learn keeps the dtype of the data
        self.clf.coef_ = flat[: rows * self.features].reshape(rows, self.features).copy()
        self.clf.intercept_ = flat[rows * self.features :].copy()

    def optimizer_state(self) -> np.ndarray:
        """The step counter of the `optimal` learning-rate schedule."""
        return np.array([self._pending_t if self.clf is None else self.clf.t_], dtype=np.float64)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        if self.clf is not None:
            self.clf.t_ = float(state[0])
        else:
            self._pending_t = float(state[0])

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        if self.clf is None:
            from sklearn.linear_model import SGDClassifier

            clf = SGDClassifier(**self._sgd_options)
            clf.partial_fit(x, y, classes=self.classes)
            self.clf = clf
            self.set_params(self._pending)
            clf.t_ = self._pending_t
        proba = self.predict_proba(x)
        loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
        correct = int((proba.argmax(axis=1) == y).sum())
        self.clf.partial_fit(x, y)
        return loss, correct

    def gradient(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        flat = self.get_params()
        rows = len(flat) // (self.features + 1)
        coef = flat[: rows * self.features].reshape(rows, self.features)
        proba = self.predict_proba(x)
        loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
        correct = int((proba.argmax(axis=1) == y).sum())
        if rows == 1:  # binary: one weight row for the positive class
            residual = (proba[:, 1] - y)[:, None]
        else:
            residual = proba.copy()
            residual[np.arange(len(y)), y] -= 1.0
        residual = residual.astype(np.float32) / len(y)
        grad_coef = np.asarray(x.T @ residual).T + self.alpha * coef
        # As scikit-learn does for sparse inputs: the intercept's gradient is O(1) while each weight's is
        # O(tf-idf value), so one step size suits both only with the intercept's scaled down.
        grad_intercept = residual.sum(axis=0) * (SPARSE_INTERCEPT_DECAY if hasattr(x, "indptr") else 1.0)
        return np.concatenate([grad_coef.ravel(), grad_intercept]).astype(np.float32), loss, correct

    def apply_gradient(self, grad: np.ndarray) -> None:
        self.set_params(self.get_params() - self.step_size * np.asarray(grad, np.float32))

    def predict_proba(self, x: Any) -> np.ndarray:
        if self.clf is not None:
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
