"""Logistic regression on TF-IDF features (one-vs-rest beyond two classes), trained by per-example SGD on
the L2-penalised log loss with scikit-learn's `optimal` (or a constant) learning rate.

It is the algorithm of `SGDClassifier(loss="log_loss").partial_fit`, step for step, in numpy (tested equal
to it): in a function, importing scikit-learn alone took 2 s of every training worker's cold start here,
and each `partial_fit` call about 1.5 ms of argument checks, as much as the arithmetic of a 64-example
minibatch. `gradient`/`apply_gradient` (gradient averaging, ADMM) compute the same loss on a minibatch
and step with the constant `learning_rate`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# As scikit-learn's SGD for sparse inputs: the intercept's gradient is O(1) while each weight's is
# O(tf-idf value), so one step size suits both only with the intercept's steps scaled down.
SPARSE_INTERCEPT_DECAY = 0.01
# Weights are kept as `weights * scale` so the L2 shrink of each step is one multiplication; below this
# the scale is folded back into the weights before precision is lost (scikit-learn's threshold).
MIN_SCALE = 1e-9
# Below this the exp(-p) of the stable gradient overflows; the gradient is then exp(p) - y.
_EXP_CUTOFF = -37.0


def _log_loss_gradient(label: float, score: float) -> float:
    """d(log loss)/d(score) = sigmoid(score) - label, computed as scikit-learn does."""
    if score > _EXP_CUTOFF:
        e = math.exp(-score)
        return ((1.0 - label) - label * e) / (1.0 + e)
    return math.exp(score) - label


def _sgd_pass(
    weights: np.ndarray,
    intercept: float,
    scale: float,
    csr: tuple[np.ndarray, np.ndarray, np.ndarray],
    labels: np.ndarray,
    etas: list[float],
    shrinks: list[float],
    decay: float,
) -> tuple[float, float, np.ndarray]:
    """One binary problem's steps over the examples, in order: `weights` (times `scale`) updated in place;
    returns the intercept, the scale and each example's score before its step."""
    indptr, indices, values = csr
    scores = np.empty(len(labels))
    for i, label in enumerate(labels.tolist()):
        cols = indices[indptr[i] : indptr[i + 1]]
        row = values[indptr[i] : indptr[i + 1]]
        block = weights.take(cols)
        score = row.dot(block) * scale + intercept
        scores[i] = score
        update = -etas[i] * _log_loss_gradient(label, score)
        scale *= shrinks[i]
        if scale < MIN_SCALE:
            weights *= scale
            block *= scale
            scale = 1.0
        weights.put(cols, block + (update / scale) * row)
        intercept += update * decay
    return intercept, scale, scores


class SGDLogisticRegression:
    def __init__(self, options: dict[str, Any], data_meta: dict[str, Any], seed: int) -> None:
        self.classes = np.arange(len(data_meta["classes"]))
        self.features = int(data_meta["features"])
        rows = 1 if len(self.classes) == 2 else len(self.classes)  # binary: one row, for class 1
        self.weights = np.zeros((rows, self.features))
        self.scale = 1.0
        self.intercept = np.zeros(rows)
        self.alpha = float(options.get("weight_decay", 1e-5))
        self.step_size = float(options.get("learning_rate", 0.05))
        self.constant_lr = bool(options.get("constant_lr"))
        # scikit-learn's `optimal` schedule: eta_t = 1 / (alpha (t0 + t - 1)), t0 chosen so that the first
        # step is sqrt(1/sqrt(alpha)) (its "typical weight").
        typical_weight = math.sqrt(1.0 / math.sqrt(self.alpha))
        first_step = typical_weight / max(1.0, _log_loss_gradient(1.0, -typical_weight))
        self.optimal_init = 1.0 / (first_step * self.alpha)
        self.t = 1.0  # examples stepped on so far, plus one (scikit-learn's `t_`)

    def get_params(self) -> np.ndarray:
        coef = (self.weights * self.scale).ravel()
        return np.concatenate([coef, self.intercept]).astype(np.float32)

    def set_params(self, flat: np.ndarray) -> None:
        rows = self.intercept.shape[0]
        flat = np.asarray(flat, dtype=np.float64)
        self.weights = flat[: rows * self.features].reshape(rows, self.features).copy()
        self.intercept = flat[rows * self.features :].copy()
        self.scale = 1.0

    def optimizer_state(self) -> np.ndarray:
        """The step counter of the `optimal` learning-rate schedule."""
        return np.array([self.t], dtype=np.float64)

    def load_optimizer_state(self, state: np.ndarray) -> None:
        self.t = float(state[0])

    def scale_learning_rate(self, factor: float) -> None:
        """Its steps follow scikit-learn's `optimal` schedule (or the constant step); the spec allows no other."""
        assert factor == 1.0, "lr_schedule is for torch models (the spec refuses it for logistic_regression)"

    def train_batch(self, x: Any, y: np.ndarray) -> tuple[float, int]:
        """One SGD step per example, in order. Loss and accuracy are of each example's score before its
        own step (progressive validation), so they cost no second pass."""
        decay = SPARSE_INTERCEPT_DECAY if _is_sparse(x) else 1.0
        x = _csr(x)
        # One-vs-rest labels: 1 where the example is the row's class (class 1 for the binary row).
        row_classes = self.classes[1:] if self.intercept.shape[0] == 1 else self.classes
        labels = (np.asarray(y)[:, None] == row_classes[None, :]).astype(np.float64)
        scores = np.empty_like(labels)
        n = len(labels)
        steps = self.t + np.arange(n)
        etas = (
            np.full(n, self.step_size) if self.constant_lr else 1.0 / (self.alpha * (self.optimal_init + steps - 1.0))
        )
        shrinks = np.maximum(0.0, 1.0 - etas * self.alpha)  # the L2 penalty's step
        values = x.data.astype(np.float64)
        scale = self.scale
        for r in range(labels.shape[1]):  # one-vs-rest: each row is its own binary problem (scikit-learn's too)
            self.intercept[r], scale, scores[:, r] = _sgd_pass(
                self.weights[r],
                float(self.intercept[r]),
                self.scale,
                (x.indptr, x.indices, values),
                labels[:, r],
                etas.tolist(),
                shrinks.tolist(),
                decay,
            )
        self.scale = scale
        self.t += n
        return _loss_and_correct(_probabilities(scores), y)

    def gradient(self, x: Any, y: np.ndarray) -> tuple[np.ndarray, float, int]:
        rows = self.intercept.shape[0]
        proba = self.predict_proba(x)
        loss, correct = _loss_and_correct(proba, y)
        if rows == 1:  # binary: one weight row for the positive class
            residual = (proba[:, 1] - y)[:, None]
        else:
            residual = proba.copy()
            residual[np.arange(len(y)), y] -= 1.0
        residual = residual / len(y)
        grad_coef = np.asarray(x.T @ residual).T + self.alpha * self.weights * self.scale
        grad_intercept = residual.sum(axis=0) * (SPARSE_INTERCEPT_DECAY if _is_sparse(x) else 1.0)
        return np.concatenate([grad_coef.ravel(), grad_intercept]).astype(np.float32), loss, correct

    def apply_gradient(self, grad: np.ndarray) -> None:
        self.set_params(self.get_params() - self.step_size * np.asarray(grad, np.float32))

    def predict_proba(self, x: Any) -> np.ndarray:
        return _probabilities(np.asarray(x @ self.weights.T) * self.scale + self.intercept)


def _probabilities(scores: np.ndarray) -> np.ndarray:
    """Sigmoid of the one binary score; softmax over the classes' scores otherwise."""
    if scores.shape[1] == 1:
        p = 1.0 / (1.0 + np.exp(-scores[:, 0]))
        return np.stack([1 - p, p], axis=1)
    scores = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(scores)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def _loss_and_correct(proba: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    loss = float(-np.log(np.clip(proba[np.arange(len(y)), y], 1e-12, None)).mean())
    return loss, int((proba.argmax(axis=1) == y).sum())


def _is_sparse(x: Any) -> bool:
    return hasattr(x, "indptr")


def _csr(x: Any) -> Any:
    if _is_sparse(x):
        return x
    from scipy import sparse  # dense features (not TF-IDF) are rare here; import only for them

    return sparse.csr_matrix(np.asarray(x))
