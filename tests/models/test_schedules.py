"""Learning-rate schedules: the factors, the spec's refusal where the model has a schedule of its own, and a
torch model stepping by the scheduled rate."""

from __future__ import annotations

import numpy as np
import pytest

from mlspec import spec
from mlspec.errors import SpecError
from mlspec.models.schedules import one_cycle
from mlspec.models.small_cnn import build as small_cnn


def test_one_cycle_rises_to_the_rate_over_the_first_fifth_then_falls_to_zero() -> None:
    assert [one_cycle(done) for done in (0.0, 0.1, 0.2, 0.6, 1.0)] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])


def test_a_torch_model_steps_by_the_scheduled_rate() -> None:
    meta = {"classes": list("abcdefghij"), "offset": [0.5] * 3, "scale": [0.25] * 3}
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 8)
    moved = []
    for factor in (1.0, 0.5):
        model = small_cnn({"learning_rate": 0.02, "momentum": 0.0, "weight_decay": 0.0}, meta, seed=0)
        before = model.get_params()
        model.scale_learning_rate(factor)
        model.train_batch(x, y)
        moved.append(model.get_params() - before)
    assert np.allclose(moved[1], moved[0] * 0.5, atol=1e-7)


def test_the_spec_refuses_a_schedule_for_a_model_with_its_own() -> None:
    text = """\
name: s
datasets: {d: {format: imdb, synthetic: {train_size: 100, test_size: 20}}}
stages:
  p: {kind: preprocess, dataset: d}
  t: {kind: train, data: p, model: logistic_regression, lr_schedule: one_cycle}
"""
    with pytest.raises(SpecError, match="lr_schedule is for torch models"):
        spec.load_text(text)
