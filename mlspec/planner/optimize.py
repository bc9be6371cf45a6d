"""Optimisers over (platform, memory, workers) per stage, under the spec's objective.

How the pipeline is optimised (exactly, not stage by stage with a split deadline):

1. Every stage has its own space (`mlspec.planner.space`). An optimiser decides which of its points
   are *evaluated* with the time model (`estimate_stage`): the grid evaluates all of them (the ground
   truth); Bayesian optimisation evaluates a few, chosen by a Gaussian process with expected
   improvement.
2. The evaluated points of all stages are combined exactly: stages run in sequence, so the pipeline's
   time and cost are sums, plus egress when a stage reads data produced on another cloud. Every
   objective here (least cost under a deadline, least time under a budget, or cost + a price on time)
   is monotone in (time, cost), so the optimum lies on the Pareto front of the sums. Fronts are built
   stage by stage, keyed by the clouds of the earlier stages whose output is still to be read (the
   only thing egress depends on), and pruned to their Pareto points at each step. This is exact over
   the evaluated points, whatever the deadline or budget, and takes milliseconds.

So the grid's answer is the true optimum of the model, and Bayesian optimisation differs from it only
by the points it did not evaluate. Inside BO each stage is steered by its share of the deadline or
budget (proportional to its measured CPU seconds); the exact combination then uses every point BO
evaluated, so a share that was too tight or too loose costs little.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mlspec.errors import UsageError
from mlspec.planner.space import Candidate, StageSpace
from mlspec.planner.timemodel import StageEstimate, estimate_stage
from mlspec.providers.catalog import Offering

Minimize = Literal["cost", "time", "mix"]
OptimizerName = Literal["grid", "bayes"]


# ---------------------------------------------------------------- objective


@dataclass(frozen=True)
class PlanObjective:
    """`minimize: cost` (with an optional deadline), `minimize: time` (with an optional budget), or
    `mix`: cost + `usd_per_hour` x time. Deadline and budget are constraints whatever is minimised."""

    minimize: Minimize = "cost"
    deadline_s: float | None = None
    budget_usd: float | None = None
    usd_per_hour: float = 0.0

    def value(self, time_s: Any, cost_usd: Any) -> Any:
        if self.minimize == "cost":
            return cost_usd
        if self.minimize == "time":
            return time_s
        return cost_usd + self.usd_per_hour * time_s / 3600.0

    def feasible(self, time_s: Any, cost_usd: Any) -> Any:
        ok = np.ones_like(np.asarray(time_s, dtype=float), dtype=bool)
        if self.deadline_s is not None:
            ok &= np.asarray(time_s) <= self.deadline_s * (1 + 1e-12)
        if self.budget_usd is not None:
            ok &= np.asarray(cost_usd) <= self.budget_usd * (1 + 1e-12)
        return ok

    def violation(self, time_s: Any, cost_usd: Any) -> Any:
        """How far over its constraints a plan is (0 when feasible): the larger relative excess."""
        worst = np.zeros_like(np.asarray(time_s, dtype=float))
        if self.deadline_s is not None:
            worst = np.maximum(worst, np.asarray(time_s) / self.deadline_s - 1)
        if self.budget_usd is not None:
            worst = np.maximum(worst, np.asarray(cost_usd) / self.budget_usd - 1)
        return worst

    def describe(self) -> str:
        what = {
            "cost": "minimise cost",
            "time": "minimise time",
            "mix": f"minimise cost + ${self.usd_per_hour:g}/h x time",
        }[self.minimize]
        limits = []
        if self.deadline_s is not None:
            limits.append(f"deadline {self.deadline_s:g} s")
        if self.budget_usd is not None:
            limits.append(f"budget ${self.budget_usd:g}")
        return what + (f" subject to {' and '.join(limits)}" if limits else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "minimize": self.minimize,
            "deadline_s": self.deadline_s,
            "budget_usd": self.budget_usd,
            "usd_per_hour": self.usd_per_hour,
            "description": self.describe(),
        }


# ---------------------------------------------------------------- evaluating points


class StageEvaluator:
    """Evaluates points of one stage's space with the time model; counts and caches evaluations."""

    def __init__(self, space: StageSpace, pattern: str = "allreduce", free_tier: bool = False) -> None:
        self.space = space
        self.pattern = pattern
        self.free_tier = free_tier
        self.results: dict[int, StageEstimate] = {}

    @property
    def evaluations(self) -> int:
        return len(self.results)

    def __call__(self, index: int) -> StageEstimate:
        found = self.results.get(index)
        if found is None:
            c = self.space.candidates[index]
            found = estimate_stage(
                self.space.usage,
                c.offering,
                c.memory_mb,
                c.workers,
                c.requested_vcpu,
                self.pattern,
                0.0,
                self.free_tier,
            )
            self.results[index] = found
        return found


# ---------------------------------------------------------------- exact combination of stages


@dataclass
class _Front:
    time: np.ndarray
    cost: np.ndarray
    picks: list[tuple[int, ...]]  # per plan, the chosen point index of every stage so far


def _pareto(times: np.ndarray, costs: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both time and cost (ties: first kept)."""
    order = np.lexsort((costs, times))
    c = costs[order]
    best_before = np.minimum.accumulate(np.concatenate(([np.inf], c[:-1])))
    return order[c < best_before - 1e-15]


_Part = tuple[dict[str, str], np.ndarray, np.ndarray, list[tuple[int, ...]]]


@dataclass(frozen=True)
class PlanStage:
    stage: str
    index: int
    candidate: Candidate
    estimate: StageEstimate
    egress_gb: float
    egress_usd: float
    egress_from: str | None

    @property
    def time_s(self) -> float:
        return self.estimate.time_s

    @property
    def cost_usd(self) -> float:
        return self.estimate.cost_usd + self.egress_usd


@dataclass(frozen=True)
class PipelinePlan:
    stages: tuple[PlanStage, ...]

    @property
    def time_s(self) -> float:
        return sum(s.time_s for s in self.stages)

    @property
    def cost_usd(self) -> float:
        return sum(s.cost_usd for s in self.stages)


class Combiner:
    """Exact pipeline combination of evaluated stage points (see the module docstring)."""

    def __init__(
        self,
        stages: Sequence[str],
        producers: dict[str, tuple[str, ...]],
        read_gb: dict[str, float],
        egress_price: Callable[[str], float],
    ) -> None:
        self.stages = list(stages)
        self.producers = producers
        self.read_gb = read_gb
        self.egress_price = egress_price
        # after stage k, the earlier stages some later stage still reads from
        self.live: list[tuple[str, ...]] = []
        for k in range(len(self.stages)):
            later = {p for s in self.stages[k + 1 :] for p in producers.get(s, ())}
            self.live.append(tuple(s for s in self.stages[: k + 1] if s in later))

    def egress(self, stage: str, cloud: str, clouds: dict[str, str]) -> tuple[float, float, str | None]:
        """(GB, USD, producer cloud) charged when `stage` on `cloud` reads what other clouds produced."""
        away = [clouds[p] for p in self.producers.get(stage, ()) if p in clouds and clouds[p] != cloud]
        if not away:
            return 0.0, 0.0, None
        gb = self.read_gb.get(stage, 0.0)
        return gb, gb * self.egress_price(away[0]), away[0]

    def fronts(
        self, points: dict[str, dict[int, StageEstimate]], spaces: dict[str, StageSpace], only: str | None = None
    ) -> list[tuple[dict[str, str], _Front]]:
        """Pareto fronts of whole-pipeline plans over `points`, one per state of live clouds."""
        states: dict[tuple[str, ...], tuple[dict[str, str], _Front]] = {
            (): ({}, _Front(np.zeros(1), np.zeros(1), [()]))
        }
        for k, stage in enumerate(self.stages):
            space = spaces[stage]
            by_cloud: dict[str, list[int]] = {}
            for i in points[stage]:
                o = space.candidates[i].offering
                if only is None or o.id == only:
                    by_cloud.setdefault(o.provider_key, []).append(i)
            if not by_cloud:
                return []
            stage_fronts = {}
            for cloud, idx in by_cloud.items():
                arr = np.array(idx)
                t = np.array([points[stage][i].time_s for i in idx])
                c = np.array([points[stage][i].cost_usd for i in idx])
                keep = _pareto(t, c)
                stage_fronts[cloud] = (arr[keep], t[keep], c[keep])
            merged: dict[tuple[str, ...], list[_Part]] = {}
            for clouds, front in states.values():
                for cloud, (idx_arr, t, c) in stage_fronts.items():
                    _, usd, _ = self.egress(stage, cloud, clouds)
                    tt = (front.time[:, None] + t[None, :]).ravel()
                    cc = (front.cost[:, None] + c[None, :] + usd).ravel()
                    keep = _pareto(tt, cc)
                    picks = [front.picks[j // len(idx_arr)] + (int(idx_arr[j % len(idx_arr)]),) for j in keep]
                    new_clouds = {**clouds, stage: cloud}
                    live = {s: new_clouds[s] for s in self.live[k]}
                    key = tuple(live[s] for s in self.live[k])
                    merged.setdefault(key, []).append((live, tt[keep], cc[keep], picks))
            states = {}
            for key, parts in merged.items():
                tt = np.concatenate([p[1] for p in parts])
                cc = np.concatenate([p[2] for p in parts])
                picks = [pk for p in parts for pk in p[3]]
                keep = _pareto(tt, cc)
                states[key] = (parts[0][0], _Front(tt[keep], cc[keep], [picks[j] for j in keep]))
        return list(states.values())

    def plan(
        self, picks: tuple[int, ...], points: dict[str, dict[int, StageEstimate]], spaces: dict[str, StageSpace]
    ) -> PipelinePlan:
        clouds: dict[str, str] = {}
        out = []
        for stage, i in zip(self.stages, picks, strict=True):
            cand = spaces[stage].candidates[i]
            gb, usd, source = self.egress(stage, cand.offering.provider_key, clouds)
            clouds[stage] = cand.offering.provider_key
            out.append(PlanStage(stage, i, cand, points[stage][i], gb, usd, source))
        return PipelinePlan(tuple(out))


@dataclass(frozen=True)
class Choice:
    plan: PipelinePlan
    feasible: bool
    message: str | None


def choose(
    objective: PlanObjective,
    fronts: list[tuple[dict[str, str], _Front]],
    combiner: Combiner,
    points: dict[str, dict[int, StageEstimate]],
    spaces: dict[str, StageSpace],
) -> Choice | None:
    """The best plan on the fronts; when none meets the constraints, the nearest feasible one."""
    if not fronts:
        return None
    t = np.concatenate([f.time for _, f in fronts])
    c = np.concatenate([f.cost for _, f in fronts])
    picks = [p for _, f in fronts for p in f.picks]
    ok = objective.feasible(t, c)
    if ok.any():
        value = np.where(ok, objective.value(t, c), np.inf)
        best = int(np.lexsort((c, t, value))[0])
        return Choice(combiner.plan(picks[best], points, spaces), True, None)
    # nearest feasible: the plan that needs the least relaxation of the constraints
    v = objective.violation(t, c)
    best = int(np.lexsort((objective.value(t, c), v))[0])
    plan = combiner.plan(picks[best], points, spaces)
    parts, needs = [], []
    if objective.deadline_s is not None:
        needs.append(f"a deadline of {plan.time_s:.1f} s")
        if t.min() > objective.deadline_s:
            parts.append(
                f"the deadline of {objective.deadline_s:g} s cannot be met: the fastest plan takes "
                f"{t.min():.1f} s (modelled)"
            )
        elif plan.time_s > objective.deadline_s:
            parts.append(f"the deadline of {objective.deadline_s:g} s cannot be met within the budget")
    if objective.budget_usd is not None:
        needs.append(f"a budget of ${plan.cost_usd:.4g}")
        if c.min() > objective.budget_usd:
            parts.append(
                f"the budget of ${objective.budget_usd:g} is below the cheapest plan's ${c.min():.4g} (modelled)"
            )
        elif plan.cost_usd > objective.budget_usd:
            parts.append(f"the budget of ${objective.budget_usd:g} is not enough within the deadline")
    message = "; ".join(parts) + f". Nearest feasible plan shown (it needs {' and '.join(needs)})"
    return Choice(plan, False, message)


# ---------------------------------------------------------------- the optimisers


def grid_search(
    evaluator: StageEvaluator, share: tuple[float | None, float | None], objective: PlanObjective, seed: int = 0
) -> None:
    """Evaluate every point of the stage's space (the ground truth)."""
    for i in range(len(evaluator.space.candidates)):
        evaluator(i)


@dataclass(frozen=True)
class BayesSettings:
    fraction: float = 0.015  # share of the stage's grid BO may evaluate
    min_evals: int = 24
    max_evals: int = 200
    batch: int = 6  # points chosen per GP fit
    refit_every: int = 4  # hyperparameters re-optimised every N fits, reused in between
    xi: float = 0.01


def features(space: StageSpace) -> np.ndarray:
    """Numeric encoding of a stage's points: one-hot offering, then log memory, log workers and log vCPU
    (catalog figures, known without evaluating the model), each scaled to [0, 1]."""
    offering_index = {o.id: k for k, o in enumerate(space.offerings)}
    n = len(space.candidates)
    onehot = np.zeros((n, len(space.offerings)))
    logs = np.zeros((n, 3))
    for i, c in enumerate(space.candidates):
        onehot[i, offering_index[c.offering.id]] = 1.0
        logs[i] = (math.log2(c.memory_mb), math.log2(c.workers), math.log2(max(c.vcpu, 1e-3)))
    span = logs.max(axis=0) - logs.min(axis=0)
    logs = (logs - logs.min(axis=0)) / np.where(span > 0, span, 1.0)
    return np.hstack([onehot, logs])


def _stage_score(objective: PlanObjective, share: tuple[float | None, float | None], est: StageEstimate) -> float:
    """What BO minimises for one stage: log of the objective, plus a smooth penalty beyond the stage's
    share of the deadline or budget (the infeasible region stays informative for the GP)."""
    t, c = est.time_s, est.cost_usd
    base = math.log(max(float(objective.value(t, c)), 1e-12))
    penalty = 0.0
    deadline, budget = share
    if deadline is not None and t > deadline:
        penalty += 4.0 * math.log(t / deadline) + 1.0
    if budget is not None and c > budget:
        penalty += 4.0 * math.log(c / budget) + 1.0
    return base + penalty


def bayes_search(
    evaluator: StageEvaluator,
    share: tuple[float | None, float | None],
    objective: PlanObjective,
    seed: int = 0,
    settings: BayesSettings | None = None,
) -> None:
    """Gaussian process (scikit-learn) + expected improvement over the stage's finite set of points."""
    from threadpoolctl import threadpool_limits

    # The GP's matrices are small (at most a few hundred points): threads cost more than they save.
    with threadpool_limits(1):
        _bayes_search(evaluator, share, objective, seed, settings)


def _bayes_search(
    evaluator: StageEvaluator,
    share: tuple[float | None, float | None],
    objective: PlanObjective,
    seed: int,
    settings: BayesSettings | None,
) -> None:
    import warnings

    from scipy.stats import norm
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    s = settings or BayesSettings()
    space = evaluator.space
    n = len(space.candidates)
    budget = min(n, max(s.min_evals, min(s.max_evals, math.ceil(s.fraction * n))))
    if budget >= n:
        grid_search(evaluator, share, objective)
        return
    rng = np.random.default_rng(seed)
    x_all = features(space)
    # initial design: stratified by offering, then random
    by_offering: dict[str, list[int]] = {}
    for i, c in enumerate(space.candidates):
        by_offering.setdefault(c.offering.id, []).append(i)
    n_init = min(budget // 2, max(8, 2 * len(by_offering)))
    chosen: list[int] = []
    for members in by_offering.values():
        chosen.extend(int(i) for i in rng.choice(members, size=min(2, len(members)), replace=False))
    rest = np.setdiff1d(np.arange(n), np.array(chosen))
    if len(chosen) < n_init:
        chosen.extend(int(i) for i in rng.choice(rest, size=n_init - len(chosen), replace=False))
    chosen = chosen[:budget]
    y: list[float] = [_stage_score(objective, share, evaluator(i)) for i in chosen]
    evaluated = np.zeros(n, dtype=bool)
    evaluated[chosen] = True
    dims = x_all.shape[1]
    kernel: Any = ConstantKernel(1.0, (1e-3, 1e3)) * Matern(np.ones(dims), (1e-2, 1e2), nu=2.5) + WhiteKernel(
        1e-4, (1e-8, 1e-1)
    )
    fits = 0
    while len(chosen) < budget:
        optimise = fits % s.refit_every == 0
        gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, random_state=seed, optimizer="fmin_l_bfgs_b" if optimise else None
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gp.fit(x_all[chosen], np.array(y))
        kernel = gp.kernel_
        fits += 1
        open_idx = np.flatnonzero(~evaluated)
        mu, sigma = gp.predict(x_all[open_idx], return_std=True)
        best = min(y)
        sigma = np.maximum(sigma, 1e-9)
        improve = best - mu - s.xi
        z = improve / sigma
        ei = improve * norm.cdf(z) + sigma * norm.pdf(z)
        take = open_idx[np.argsort(-ei, kind="stable")[: min(s.batch, budget - len(chosen))]]
        for i in take:
            chosen.append(int(i))
            evaluated[i] = True
            y.append(_stage_score(objective, share, evaluator(int(i))))


OPTIMIZERS: dict[str, Callable[..., None]] = {"grid": grid_search, "bayes": bayes_search}


# ---------------------------------------------------------------- the whole pipeline


@dataclass
class OptimizeResult:
    optimizer: str
    choice: Choice
    points: dict[str, dict[int, StageEstimate]]
    evaluations: dict[str, int]
    grid_sizes: dict[str, int]
    alternatives: dict[str, Choice | None]
    elapsed_s: float
    shares: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)

    @property
    def total_evaluations(self) -> int:
        return sum(self.evaluations.values())

    @property
    def grid_size(self) -> int:
        return sum(self.grid_sizes.values())


def optimize(
    spaces: dict[str, StageSpace],
    combiner: Combiner,
    objective: PlanObjective,
    optimizer: OptimizerName = "grid",
    seed: int = 0,
    pattern: str = "allreduce",
    free_tier: bool = False,
    bayes: BayesSettings | None = None,
) -> OptimizeResult:
    if optimizer not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {optimizer!r}; choose grid or bayes")
    started = time.perf_counter()
    total_cpu = sum(max(s.usage.cpu_s, 1e-6) for s in spaces.values())
    points: dict[str, dict[int, StageEstimate]] = {}
    evaluations: dict[str, int] = {}
    shares: dict[str, tuple[float | None, float | None]] = {}
    for k, stage in enumerate(combiner.stages):
        space = spaces[stage]
        weight = max(space.usage.cpu_s, 1e-6) / total_cpu
        share = (
            objective.deadline_s * weight if objective.deadline_s is not None else None,
            objective.budget_usd * weight if objective.budget_usd is not None else None,
        )
        shares[stage] = share
        evaluator = StageEvaluator(space, pattern, free_tier)
        if optimizer == "bayes":
            bayes_search(evaluator, share, objective, seed + k, bayes)
        else:
            grid_search(evaluator, share, objective, seed + k)
        points[stage] = evaluator.results
        evaluations[stage] = evaluator.evaluations
    fronts = combiner.fronts(points, spaces)
    choice = choose(objective, fronts, combiner, points, spaces)
    if choice is None:
        raise UsageError("no platform can run every stage of this pipeline")
    offerings: dict[str, Offering] = {}
    for space in spaces.values():
        for o in space.offerings:
            offerings.setdefault(o.id, o)
    alternatives = {
        oid: choose(objective, combiner.fronts(points, spaces, only=oid), combiner, points, spaces) for oid in offerings
    }
    return OptimizeResult(
        optimizer=optimizer,
        choice=choice,
        points=points,
        evaluations=evaluations,
        grid_sizes={s: len(spaces[s].candidates) for s in combiner.stages},
        alternatives=alternatives,
        elapsed_s=time.perf_counter() - started,
        shares=shares,
    )
