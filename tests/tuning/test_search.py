"""Search strategies and the median stopping rule, as plain objects."""

from __future__ import annotations

import math

import pytest

from mlspec import spec
from mlspec.errors import SpecError
from mlspec.tuning.early_stopping import MedianStopping
from mlspec.tuning.search import make_search

SPACE = {
    "learning_rate": {"values": None, "low": 1e-4, "high": 1e-1, "log": True},
    "batch_size": {"values": [16.0, 64.0, 256.0], "low": None, "high": None, "log": False},
    "epochs": {"values": None, "low": 2, "high": 6, "log": False},
}


def _drain(name: str, space: dict, trials: int) -> list[dict[str, float]]:
    search = make_search(name, space, trials, seed=0)
    out = []
    while (config := search.ask()) is not None:
        out.append(config)
        search.tell(config, -abs(math.log10(config.get("learning_rate", 0.01)) + 2))  # best near 1e-2
    return out


def test_grid_enumerates_every_combination_up_to_the_cap() -> None:
    space = {
        "batch_size": SPACE["batch_size"],
        "momentum": {"values": [0.0, 0.9], "low": None, "high": None, "log": False},
    }
    configs = _drain("grid", space, 100)
    assert len(configs) == 6
    assert {(c["batch_size"], c["momentum"]) for c in configs} == {(b, m) for b in (16, 64, 256) for m in (0, 0.9)}
    assert len(_drain("grid", space, 4)) == 4


@pytest.mark.parametrize("name", ["random", "bayes"])
def test_samples_stay_in_range_with_integers_rounded(name: str) -> None:
    configs = _drain(name, SPACE, 20)
    assert len(configs) == 20
    for c in configs:
        assert 1e-4 <= c["learning_rate"] <= 1e-1
        assert c["batch_size"] in (16, 64, 256)
        assert 2 <= c["epochs"] <= 6 and c["epochs"] == int(c["epochs"])
    assert len({c["learning_rate"] for c in configs}) > 15  # really sampled


def test_random_search_is_seeded() -> None:
    assert _drain("random", SPACE, 5) == _drain("random", SPACE, 5)


def test_bayes_moves_towards_good_scores() -> None:
    """TPE after 10 random start-up trials proposes near the optimum (1e-2) more often than chance."""
    configs = _drain("bayes", {"learning_rate": SPACE["learning_rate"]}, 40)
    late = [abs(math.log10(c["learning_rate"]) + 2) for c in configs[20:]]
    early = [abs(math.log10(c["learning_rate"]) + 2) for c in configs[:10]]
    assert sum(late) / len(late) < sum(early) / len(early)


def test_median_rule_stops_only_below_the_median_of_at_least_two_peers_after_grace() -> None:
    rule = MedianStopping(grace_epochs=2)
    assert not rule.observe(0, 1, 0.9)
    assert not rule.observe(1, 1, 0.1)  # epoch 1 is within the grace epochs
    assert not rule.observe(0, 2, 0.9)
    assert not rule.observe(1, 2, 0.1)  # one peer only
    assert not rule.observe(2, 2, 0.95)
    assert rule.observe(3, 2, 0.5)  # peers 0.9, 0.1, 0.95: median 0.9
    assert not rule.observe(4, 2, 0.92)


TUNE = """\
name: t
datasets: {{d: {{format: imdb}}}}
stages:
  prep: {{kind: preprocess, dataset: d}}
  search:
    kind: tune
    data: {data}
    search: {search}
    space: {space}
  train: {{kind: train, data: prep, model: logistic_regression{uses}}}
  other: {{kind: preprocess, dataset: d}}
"""


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"uses": ""}, "must be named by exactly one train stage"),
        ({"data": "other"}, "tunes 'train', which trains on 'prep', but its own data is 'other'"),
        ({"search": "grid"}, "search grid needs values"),
        ({"space": "{weight_decay: {low: 0.1, high: 0.01}}"}, "must be below high"),
        ({"space": "{weight_decay: {low: 0, high: 1, log: true}}"}, "log: true needs low > 0"),
        ({"space": "{dropout: {values: [0.1]}}"}, "dropout"),
        ({"space": "{admm_rho: {values: [0.1]}}"}, "does not use algorithm admm"),
    ],
)
def test_tune_spec_problems_are_reported(fields: dict[str, str], message: str) -> None:
    values = {
        "data": "prep",
        "search": "random",
        "space": "{weight_decay: {low: 0.00001, high: 0.01, log: true}}",
        "uses": ", hyperparameters: search",
        **fields,
    }
    with pytest.raises(SpecError, match=message):
        spec.load_text(TUNE.format(**values))
