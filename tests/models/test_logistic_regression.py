"""The logistic regression's own per-example SGD (mlspec avoids scikit-learn's 2 s import in every
training function) against `SGDClassifier(loss="log_loss").partial_fit` itself, unshuffled so that both
see the examples in the same order: the same weights, intercepts and step counter after several batches,
for sparse and dense inputs, two and three classes, both learning-rate schedules, and after the weights'
scale has been folded back (many steps with a large penalty)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy import sparse
from sklearn.linear_model import SGDClassifier

from mlspec.models.logistic_regression import SGDLogisticRegression


def _data(classes: int, dense: bool, rows: int = 300, features: int = 500) -> tuple[Any, np.ndarray]:
    rng = np.random.default_rng(classes)
    x = sparse.random(rows, features, density=0.05, format="csr", random_state=rng, dtype=np.float64)
    y = np.asarray(np.argmax(x @ rng.normal(size=(features, classes)), axis=1)).ravel()
    return (x.toarray() if dense else x), y


@pytest.mark.parametrize(
    ("classes", "dense", "options"),
    [
        (2, False, {"weight_decay": 1e-5}),
        (3, False, {"weight_decay": 1e-4}),
        (2, True, {"weight_decay": 1e-3}),
        (2, False, {"weight_decay": 1e-4, "constant_lr": True, "learning_rate": 0.1}),
        (2, False, {"weight_decay": 0.5}),  # the scale falls below 1e-9 and is folded into the weights
    ],
)
def test_training_equals_scikit_learn_partial_fit(classes: int, dense: bool, options: dict[str, Any]) -> None:
    x, y = _data(classes, dense)
    model = SGDLogisticRegression(options, {"classes": list(range(classes)), "features": x.shape[1]}, seed=0)
    reference = SGDClassifier(
        loss="log_loss",
        alpha=options["weight_decay"],
        learning_rate="constant" if options.get("constant_lr") else "optimal",
        eta0=options.get("learning_rate", 0.01),
        shuffle=False,
        random_state=0,
    )
    for _epoch in range(3):
        for start in range(0, len(y), 32):
            batch = slice(start, start + 32)
            model.train_batch(x[batch], y[batch])
            reference.partial_fit(x[batch], y[batch], classes=np.arange(classes))
    expected = np.concatenate([reference.coef_.ravel(), reference.intercept_])
    np.testing.assert_allclose(model.get_params(), expected, rtol=1e-5, atol=1e-6)
    assert model.optimizer_state()[0] == reference.t_
    np.testing.assert_array_equal(model.predict_proba(x).argmax(axis=1), reference.predict(x))
    if classes == 2:  # beyond two, scikit-learn normalises one-vs-rest sigmoids where mlspec takes a softmax
        np.testing.assert_allclose(model.predict_proba(x), reference.predict_proba(x), rtol=1e-5, atol=1e-6)


def test_loss_and_accuracy_are_of_each_example_before_its_step() -> None:
    x, y = _data(2, dense=False, rows=64)
    meta = {"classes": [0, 1], "features": x.shape[1]}
    # The first example is scored by the zero model: probability 0.5 (log loss ln 2), predicted class 0.
    loss, correct = SGDLogisticRegression({}, meta, seed=0).train_batch(x[:1], y[:1])
    assert loss == pytest.approx(np.log(2)) and correct == int(y[0] == 0)
    # Over a batch: the mean of the scores each example had before its own step, recomputed one by one.
    model, stepwise = SGDLogisticRegression({}, meta, seed=0), SGDLogisticRegression({}, meta, seed=0)
    losses = []
    for i in range(len(y)):
        p = stepwise.predict_proba(x[i : i + 1])[0, y[i]]
        losses.append(-np.log(max(p, 1e-12)))  # as the model clips a hopeless example's loss
        stepwise.train_batch(x[i : i + 1], y[i : i + 1])
    assert model.train_batch(x, y)[0] == pytest.approx(float(np.mean(losses)))


def test_parameters_and_step_counter_round_trip_into_a_fresh_model() -> None:
    x, y = _data(3, dense=False)
    meta = {"classes": [0, 1, 2], "features": x.shape[1]}
    model = SGDLogisticRegression({}, meta, seed=0)
    model.train_batch(x[:100], y[:100])
    copy = SGDLogisticRegression({}, meta, seed=0)
    copy.set_params(model.get_params())
    copy.load_optimizer_state(model.optimizer_state())
    model.set_params(model.get_params())  # parameters travel as float32: both continue from the same ones
    model.train_batch(x[100:], y[100:])
    copy.train_batch(x[100:], y[100:])
    np.testing.assert_array_equal(copy.get_params(), model.get_params())
