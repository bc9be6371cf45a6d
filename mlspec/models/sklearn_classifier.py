"""A scikit-learn estimator with `partial_fit` (SGDClassifier, Perceptron, PassiveAggressiveClassifier, ...)
as an mlspec model: its linear parameters (`coef_`, `intercept_`) flat for model averaging, its step counter
`t_` as the optimiser state. Every worker starts from zeros: one `partial_fit` on a single all-zero example
allocates them (an all-zero example moves no weight), then the intercept and step counter are reset.

Inputs: text batches (TF-IDF rows) as they are; image batches as flat pixels scaled per channel as the
preprocess stage chose (its `offset` and `scale`). The
estimators learn with their own rule: gradient averaging and ADMM need a gradient they do not expose."""

from __future__ import annotations

from typing import Any

import numpy as np

from mlspec.errors import UserCodeError, exception_line


class SklearnClassifier:
    def __init__(self, estimator: Any, data_meta: dict[str, Any], name: str) -> None:
        self.estimator = estimator
        self.name = name
        self.classes = np.arange(len(data_meta["classes"]))
        self.offset = np.asarray(data_meta.get("offset", 0.0), np.float32)
        self.scale = np.asarray(data_meta.get("scale", 1.0), np.float32)
        width = int(data_meta["features"] if "features" in data_meta else np.prod(data_meta["shape"]))
        try:  # the estimator's own checks of its options run here, on the first call
            self.estimator.partial_fit(np.zeros((1, width), np.float32), self.classes[:1], self.classes)
        except Exception as exc:
            raise UserCodeError(f"{name}: {exception_line(exc)}") from None
        if not hasattr(self.estimator, "coef_"):
            raise UserCodeError(f"{name}: not a linear model (no coef_ after partial_fit): mlspec averages coef_")
        self.estimator.intercept_ = np.zeros_like(np.atleast_1d(self.estimator.intercept_))
        if hasattr(self.estimator, "t_"):
            self.estimator.t_ = 1.0  # as before any step

    def _features(self, x: Any) -> Any:
        if hasattr(x, "toarray"):  # sparse TF-IDF rows
            return x
        x = np.asarray(x)
        if x.dtype != np.uint8:
            return x
        pixels = (x.astype(np.float32) / np.float32(255.0) - self.offset) / self.scale  # channels last
        return pixels.reshape(len(x), -1)

    def get_params(self) -> np.ndarray:
        coef, intercept = self.estimator.coef_, np.atleast_1d(self.estimator.intercept_)
        return np.concatenate([coef.ravel(), intercept.ravel()]).astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        coef = self.estimator.coef_
        self.estimator.coef_ = np.asarray(flat[: coef.size], coef.dtype).reshape(coef.shape).copy()
        intercept = np.atleast_1d(self.estimator.intercept_)
        self.estimator.intercept_ = np.asarray(flat[coef.size :], intercept.dtype).reshape(intercept.shape).copy()

    def optimizer_state(self) -> np.ndarray:
        return np.asarray([getattr(self.estimator, "t_", 0.0)], np.float32)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        if hasattr(self.estimator, "t_"):
            self.estimator.t_ = float(state[0])

    def scale_learning_rate(self, factor: float) -> None:
        if factor != 1.0:
            raise UserCodeError(f"{self.name} follows its own learning-rate schedule: remove lr_schedule")

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        features = self._features(x)
        proba = self.predict_proba(features)
        self.estimator.partial_fit(features, y, self.classes)
        picked = np.clip(proba[np.arange(len(y)), y], 1e-12, None)
        return float(-np.log(picked).mean()), int((proba.argmax(axis=1) == y).sum())

    def gradient(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        raise UserCodeError(f"{self.name} learns by partial_fit and exposes no gradient: use algorithm model_averaging")

    def apply_gradient(self, grad: np.ndarray) -> None:
        raise UserCodeError(f"{self.name} learns by partial_fit and exposes no gradient: use algorithm model_averaging")

    def predict_proba(self, x: Any) -> np.ndarray:
        features = self._features(x)
        if hasattr(self.estimator, "predict_proba"):
            try:
                return np.asarray(self.estimator.predict_proba(features))
            except AttributeError:  # SGDClassifier has the method only for the log and modified-Huber losses
                pass
        scores = np.asarray(self.estimator.decision_function(features), np.float64)
        if scores.ndim == 1:  # binary: the score of class 1
            scores = np.stack([-scores, scores], axis=1) / 2.0
        scores -= scores.max(axis=1, keepdims=True)
        e = np.exp(scores)
        out: np.ndarray = e / e.sum(axis=1, keepdims=True)
        return out
