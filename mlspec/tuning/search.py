"""Search strategies: each proposes configurations one at a time (`ask`) and may learn from the
scores of finished trials (`tell`), so trials can run in parallel as slots free up. One module-level
class per strategy, chosen by name from `SEARCHES`."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from mlspec.spec.models import INTEGER_HYPERPARAMETERS

Config = dict[str, float]
Space = dict[str, dict[str, Any]]  # name -> SearchRange as a dict (values | low, high, log)


class Search(Protocol):
    def ask(self) -> Config | None:
        """The next configuration to try, or None when the search has nothing more to propose."""
        ...

    def tell(self, config: Config, score: float | None) -> None:
        """A finished trial's score (higher is better); None when it failed."""
        ...


def _typed(name: str, value: float) -> float:
    return float(round(value)) if name in INTEGER_HYPERPARAMETERS else float(value)


class GridSearch:
    """Every combination of the listed values, in order, up to `trials`."""

    def __init__(self, space: Space, trials: int, seed: int) -> None:
        names = list(space)
        combos = itertools.product(*(space[n]["values"] for n in names))
        self._configs: Iterator[tuple[float, ...]] = itertools.islice(combos, trials)
        self._names = names

    def ask(self) -> Config | None:
        combo = next(self._configs, None)
        return None if combo is None else {n: _typed(n, v) for n, v in zip(self._names, combo, strict=True)}

    def tell(self, config: Config, score: float | None) -> None:
        return None


class RandomSearch:
    """Independent samples: uniform over `values`, uniform (or log-uniform) over low..high."""

    def __init__(self, space: Space, trials: int, seed: int) -> None:
        self.space = space
        self.left = trials
        self.rng = np.random.default_rng([seed, 11])

    def ask(self) -> Config | None:
        if self.left == 0:
            return None
        self.left -= 1
        return {name: _typed(name, self._sample(r)) for name, r in self.space.items()}

    def _sample(self, r: dict[str, Any]) -> float:
        if r["values"] is not None:
            return float(self.rng.choice(r["values"]))
        if r["log"]:
            return float(math.exp(self.rng.uniform(math.log(r["low"]), math.log(r["high"]))))
        return float(self.rng.uniform(r["low"], r["high"]))

    def tell(self, config: Config, score: float | None) -> None:
        return None


class BayesSearch:
    """Optuna's TPE sampler through its ask/tell interface: later trials go where earlier ones scored."""

    def __init__(self, space: Space, trials: int, seed: int) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
        self.distributions = {name: self._distribution(name, r) for name, r in space.items()}
        self.left = trials
        self.pending: dict[tuple[tuple[str, float], ...], Any] = {}
        self.lock = threading.Lock()  # tells arrive from the threads running trials

    def _distribution(self, name: str, r: dict[str, Any]) -> Any:
        d = self.optuna.distributions
        if r["values"] is not None:
            return d.CategoricalDistribution([float(v) for v in r["values"]])
        if name in INTEGER_HYPERPARAMETERS:
            return d.IntDistribution(math.ceil(r["low"]), math.floor(r["high"]), log=r["log"])
        return d.FloatDistribution(r["low"], r["high"], log=r["log"])

    def ask(self) -> Config | None:
        with self.lock:
            if self.left == 0:
                return None
            self.left -= 1
            trial = self.study.ask(self.distributions)
            config = {name: _typed(name, trial.params[name]) for name in self.distributions}
            self.pending[tuple(sorted(config.items()))] = trial
            return config

    def tell(self, config: Config, score: float | None) -> None:
        with self.lock:
            trial = self.pending.pop(tuple(sorted(config.items())), None)
            if trial is None:  # not one of ours (the default configuration)
                return
            if score is None:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, score)


SEARCHES: dict[str, type[GridSearch] | type[RandomSearch] | type[BayesSearch]] = {
    "grid": GridSearch,
    "random": RandomSearch,
    "bayes": BayesSearch,
}


def make_search(name: str, space: Space, trials: int, seed: int) -> Search:
    search: Search = SEARCHES[name](space, trials, seed)
    return search
