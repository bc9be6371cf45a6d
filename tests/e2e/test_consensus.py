"""Model averaging, gradient averaging and ADMM: the math each worker does, checked against what it
must equal, with real workers (threads here, processes end to end) exchanging through real stores."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from mlspec import spec
from mlspec.errors import SpecError
from mlspec.executors.base import Limits
from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
from mlspec.executors.local import LocalProcessExecutor
from mlspec.models import Model, build_model
from mlspec.models.logistic_regression import SPARSE_INTERCEPT_DECAY
from mlspec.runtime.consensus import ModelAveraging, algorithm
from mlspec.runtime.sync import synchronizer
from mlspec.storage.local import LocalParamStore

FEATURES = 40


def _text_data(n: int, seed: int = 0) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Two classes separated along a few features, as sparse TF-IDF-like rows."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.random((n, FEATURES)).astype(np.float32) * (rng.random((n, FEATURES)) < 0.3)
    x[:, :4] += (y[:, None] * 2 - 1) * 0.5
    return sparse.csr_matrix(x), y.astype(np.int64)


def _images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)


def _model(name: str) -> Model:
    options = {"learning_rate": 0.5, "momentum": 0.9, "weight_decay": 1e-3, "admm_rho": 0.5}
    meta = (
        {"classes": ["neg", "pos"], "features": FEATURES}
        if name == "logistic_regression"
        else {"classes": [str(i) for i in range(10)], "offset": [0.5] * 3, "scale": [0.25] * 3}
    )
    if name == "small_cnn":
        options["learning_rate"] = 0.01
    return build_model(name, options, meta, seed=3)


def _run_workers(
    n: int, tmp_path: Path, body: Callable[[int, ModelAveraging], None], name: str, algo: str
) -> list[ModelAveraging]:
    """n workers in threads, each with its own model and synchronizer over one local parameter store."""
    store = LocalParamStore(tmp_path / "params")
    trainers = [
        algorithm(algo, _model(name), synchronizer(store, "t", w, n, 60.0), {"admm_rho": 0.5, "learning_rate": 0.5})
        for w in range(n)
    ]
    errors: list[BaseException] = []

    def work(w: int) -> None:
        try:
            body(w, trainers[w])
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    return trainers


@pytest.mark.parametrize("name", ["logistic_regression", "small_cnn"])
def test_gradient_averaging_equals_one_worker_on_the_whole_batch(tmp_path: Path, name: str) -> None:
    """The mean of two half-batch gradients is the whole batch's gradient, so two workers stepping
    with the average follow exactly the path of one worker on the concatenated batches."""
    x, y = _text_data(160) if name == "logistic_regression" else _images(32)
    half, steps = len(y) // 2 // 4, 4  # 4 steps of a global batch of 2 * half

    def batch(w: int, step: int) -> slice:
        start = w * len(y) // 2 + step * half
        return slice(start, start + half)

    def body(w: int, trainer: ModelAveraging) -> None:
        for step in range(steps):
            trainer.step(x[batch(w, step)], y[batch(w, step)], epoch_end=step == steps - 1)

    workers = _run_workers(2, tmp_path, body, name, "gradient_averaging")
    single = _model(name)
    for step in range(steps):
        rows = np.r_[np.arange(len(y))[batch(0, step)], np.arange(len(y))[batch(1, step)]]
        grad, _, _ = single.gradient(x[rows], y[rows])
        single.apply_gradient(grad)
    a, b = (t.model.get_params() for t in workers)
    np.testing.assert_array_equal(a, b)  # every worker took the same step
    np.testing.assert_allclose(a, single.get_params(), rtol=1e-4, atol=1e-5)
    assert not np.allclose(a, _model(name).get_params())  # and it did move


def test_logistic_regression_gradient_matches_finite_differences() -> None:
    model = _model("logistic_regression")
    x, y = _text_data(50)
    model.set_params(np.random.default_rng(1).normal(0, 0.1, FEATURES + 1).astype(np.float32))
    grad, _, _ = model.gradient(x, y)
    params = model.get_params().astype(np.float64)

    def objective(p: np.ndarray) -> float:
        model.set_params(p.astype(np.float32))
        proba = model.predict_proba(x)
        loss = -np.log(proba[np.arange(len(y)), y]).mean()
        return float(loss + 0.5 * 1e-3 * np.sum(p[:FEATURES] ** 2))

    for i in (0, 3, 10, FEATURES):  # weights with signal, without, and the intercept
        step = np.zeros_like(params)
        step[i] = 1e-3
        numeric = (objective(params + step) - objective(params - step)) / 2e-3
        scale = SPARSE_INTERCEPT_DECAY if i == FEATURES else 1.0  # the intercept's step is scaled down
        assert grad[i] == pytest.approx(numeric * scale, rel=0.02, abs=1e-5)


def test_admm_reaches_consensus_with_duals_summing_to_zero(tmp_path: Path) -> None:
    x, y = _text_data(400)
    rounds, local_steps, shard = 15, 5, 200

    def body(w: int, trainer: ModelAveraging) -> None:
        xs, ys = x[w * shard : (w + 1) * shard], y[w * shard : (w + 1) * shard]
        for r in range(rounds):
            for _ in range(local_steps):
                trainer.step(xs, ys, epoch_end=False)
            trainer.synchronize(epoch_end=r == rounds - 1)

    workers = _run_workers(2, tmp_path, body, "logistic_regression", "admm")
    a, b = (t.model.get_params() for t in workers)
    np.testing.assert_array_equal(a, b)  # everyone holds the consensus z
    duals = [t.state()["dual"] for t in workers]
    np.testing.assert_allclose(duals[0] + duals[1], 0.0, atol=1e-5)  # sum_i u_i = 0 after every z-update
    accuracy = (workers[0].model.predict_proba(x).argmax(1) == y).mean()
    centralised = _model("logistic_regression")
    for _ in range(rounds * local_steps):
        grad, _, _ = centralised.gradient(x, y)
        centralised.apply_gradient(grad)
    reference = (centralised.predict_proba(x).argmax(1) == y).mean()
    assert accuracy > 0.9
    assert accuracy >= reference - 0.02


SPEC = """\
name: consensus
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 1200, test_size: 400, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 4000}}
  train:
    kind: train
    data: prep
    model: logistic_regression
    workers: 2
    epochs: 3
    batch_size: 64
    learning_rate: {lr}
    weight_decay: 0.0001
    algorithm: {algorithm}
    admm_rho: {rho}
    sync_every_steps: {every}
  eval: {{kind: evaluate, model: train}}
"""


@pytest.mark.parametrize(("algo", "every"), [("gradient_averaging", 1), ("admm", 3)])
def test_algorithms_train_end_to_end(tmp_path: Path, algo: str, every: int) -> None:
    pipeline = spec.load_text(SPEC.format(algorithm=algo, lr=50.0, rho=0.01, every=every))
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    record = run_pipeline(
        pipeline, "consensus.yaml", [], LocalProcessExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 300)
    )
    assert record.status == "succeeded"
    assert record.stages["eval"].metrics["test_accuracy"] > 0.7  # chance: 0.5
    train = record.stages["train"].metrics
    steps = int(train["steps_per_epoch"])
    # Gradient averaging exchanges every minibatch; ADMM at every sync point.
    assert train["sync_rounds"] == 3 * -(-steps // every)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("model: small_cnn\n    algorithm: admm", "admm is for the linear model"),
        (
            "model: logistic_regression\n    algorithm: gradient_averaging\n    sync_every_steps: 4",
            "gradient_averaging exchanges gradients every minibatch",
        ),
    ],
)
def test_spec_rejects_algorithms_that_do_not_fit(fields: str, message: str) -> None:
    text = f"""\
name: bad
datasets: {{d: {{format: imdb}}}}
stages:
  prep: {{kind: preprocess, dataset: d}}
  train:
    kind: train
    data: prep
    {fields}
"""
    with pytest.raises(SpecError, match=message):
        spec.load_text(text)
