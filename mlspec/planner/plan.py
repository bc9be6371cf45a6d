"""`planner.plan()`: FunctionGraph x provider catalog x objective -> a placement per stage, with why.

Model-only: given measured stage usage (see `mlspec.actions.plan`), nothing here runs anything.
Every figure in the result is labelled: times and costs are *modelled* (the time model over measured
local usage, priced with catalog constants); vCPU and prices are *assumed* catalog figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlspec.compile.graph import graph
from mlspec.planner.optimize import (
    BayesSettings,
    Choice,
    Combiner,
    OptimizeResult,
    OptimizerName,
    PipelinePlan,
    PlanObjective,
    PlanStage,
    optimize,
)
from mlspec.planner.serverful import ClusterPrice, cluster_offerings, price_on_cluster
from mlspec.planner.space import (
    DEFAULT_MAX_WORKERS,
    DEFAULT_MEMORY_SIZES,
    StageSpace,
    candidate_offerings,
    check_targets,
    stage_space,
)
from mlspec.planner.usage import StageUsage
from mlspec.providers.catalog import Offering
from mlspec.providers.registry import LOCAL, get_platform
from mlspec.spec.models import Pipeline
from mlspec.wording import plural

LABELS = {
    "memory_mb": "setting",
    "workers": "setting",
    "vcpu": "assumed (catalog)",
    "time_s": "modelled",
    "cost_usd": "modelled",
    "egress_usd": "modelled",
}


@dataclass(frozen=True)
class PlanOptions:
    optimizer: OptimizerName = "grid"
    all_platforms: bool = False
    include_local: bool = False
    priced_only: bool = False  # also place stages on offerings deploy cannot carry out (a comparison)
    memory_sizes: int = DEFAULT_MEMORY_SIZES
    max_workers: int = DEFAULT_MAX_WORKERS
    min_workers: int = 1  # with max_workers, pins a train stage's count (a re-plan mid-run may change it)
    pattern: str = "allreduce"
    free_tier: bool = False
    seed: int = 0
    bayes: BayesSettings | None = None


def objective_of(pipeline: Pipeline, usd_per_hour: float | None = None) -> PlanObjective:
    o = pipeline.objective
    if usd_per_hour is not None:
        return PlanObjective("mix", o.deadline, o.budget, usd_per_hour)
    return PlanObjective(o.minimize, o.deadline, o.budget)


@dataclass
class PlanResult:
    pipeline: Pipeline
    objective: PlanObjective
    result: OptimizeResult
    explanations: dict[str, str]
    usage_source: str
    options: PlanOptions
    clusters: tuple[ClusterPrice, ...] = ()  # the plan's stages on each serverful offering (priced only)

    @property
    def choice(self) -> Choice:
        return self.result.choice

    def why(self, ps: PlanStage, plan: PipelinePlan, choice: Choice) -> str:
        e = ps.estimate
        usage = self.explanations.get(ps.stage, "")
        if not choice.feasible:
            head = "nearest feasible placement (the objective cannot be met)"
        elif self.objective.minimize == "cost":
            head = "least pipeline cost" + (
                f" within the {self.objective.deadline_s:g} s deadline" if self.objective.deadline_s is not None else ""
            )
        elif self.objective.minimize == "time":
            head = "least pipeline time" + (
                f" within the ${self.objective.budget_usd:g} budget" if self.objective.budget_usd is not None else ""
            )
        else:
            head = f"least cost + ${self.objective.usd_per_hour:g}/h x time"
        parts = [
            head,
            f"{plural(e.workers, 'worker')} x {plural(e.chained + 1, 'invocation')}: compute {e.compute_s:.1f} s",
        ]
        if e.sync_s:
            parts[-1] += f" + sync {e.sync_s:.1f} s ({plural(e.sync_rounds, f'{e.pattern} round')})"
        parts[-1] += f" + cold starts {e.cold_start_s:.1f} s"
        if e.chained:
            parts.append(f"{plural(e.chained, 'extra chained invocation')} per worker forced by the time limit")
        if ps.egress_usd or ps.egress_gb:
            parts.append(f"egress {ps.egress_gb:.3f} GB from {ps.egress_from} ${ps.egress_usd:.4f}")
        if usage:
            parts.append(usage)
        return "; ".join(parts)

    def stage_dict(self, ps: PlanStage, plan: PipelinePlan, choice: Choice) -> dict[str, Any]:
        o = ps.candidate.offering
        return {
            "stage": ps.stage,
            "platform": o.id,
            "provider": o.provider_key,
            "offering": o.key,
            "memory_mb": ps.candidate.memory_mb,
            "vcpu": ps.estimate.vcpu,
            "workers": ps.estimate.workers,
            "time_s": ps.time_s,
            "cost_usd": ps.cost_usd,
            "egress_gb": ps.egress_gb,
            "egress_usd": ps.egress_usd,
            "labels": LABELS,
            "why": self.why(ps, plan, choice),
            "estimate": ps.estimate.to_dict(),
        }

    def plan_dict(self, choice: Choice) -> dict[str, Any]:
        plan = choice.plan
        return {
            "feasible": choice.feasible,
            "message": choice.message,
            "time_s": plan.time_s,
            "cost_usd": plan.cost_usd,
            "objective_value": self.objective_value(plan),
            "labels": {"time_s": "modelled", "cost_usd": "modelled"},
            "stages": [self.stage_dict(ps, plan, choice) for ps in plan.stages],
        }

    def objective_value(self, plan: PipelinePlan) -> float:
        return float(self.objective.value(plan.time_s, plan.cost_usd))

    def to_dict(self) -> dict[str, Any]:
        r = self.result
        return {
            "pipeline": self.pipeline.name,
            "optimizer": r.optimizer,
            "objective": self.objective.to_dict(),
            "usage_source": self.usage_source,
            "usage": self.explanations,
            "plan": self.plan_dict(r.choice),
            "alternatives": {
                oid: (
                    {"available": False, **_offering_kind(oid)}
                    if c is None
                    else {"available": True, **_offering_kind(oid), **self.plan_dict(c)}
                )
                for oid, c in r.alternatives.items()
            },
            "evaluations": {
                "total": r.total_evaluations,
                "per_stage": r.evaluations,
                "grid_size": r.grid_size,
                "grid_per_stage": r.grid_sizes,
                "fraction_of_grid": r.total_evaluations / max(r.grid_size, 1),
            },
            "serverful": [
                {**c.to_dict(), "feasible": c.problem is None and bool(self.objective.feasible(c.time_s, c.cost_usd))}
                for c in self.clusters
            ],
            "elapsed_s": r.elapsed_s,
            "options": {
                "all_platforms": self.options.all_platforms,
                "include_local": self.options.include_local,
                "priced_only": self.options.priced_only,
                "memory_sizes": self.options.memory_sizes,
                "max_workers": self.options.max_workers,
                "min_workers": self.options.min_workers,
                "pattern": self.options.pattern,
                "free_tier": self.options.free_tier,
                "seed": self.options.seed,
            },
        }


def _offering_kind(oid: str) -> dict[str, bool]:
    """Whether deploy cannot carry out offering `oid` (a comparison only), and whether it is a VM cluster."""
    provider, offering = oid.split(":", 1)
    platform = get_platform(provider)
    return {"priced_only": provider != LOCAL and not platform.deploys(offering), "serverful": platform.serverful}


def build_spaces(
    pipeline: Pipeline, usages: dict[str, StageUsage], offerings: tuple[Offering, ...], options: PlanOptions
) -> dict[str, StageSpace]:
    return {
        name: stage_space(
            pipeline, name, usages[name], offerings, options.memory_sizes, options.max_workers, options.min_workers
        )
        for name in pipeline.stage_order()
    }


def build_combiner(pipeline: Pipeline, usages: dict[str, StageUsage], offerings: tuple[Offering, ...]) -> Combiner:
    functions = graph(pipeline)
    producers = {n.stage: n.after for n in functions.nodes}
    read_gb = {name: usages[name].bytes_read / 1e9 for name in usages}
    egress = {o.provider_key: o.cloud.egress_per_gb_usd.value for o in offerings}
    return Combiner([n.stage for n in functions.nodes], producers, read_gb, lambda cloud: egress.get(cloud, 0.0))


def plan(
    pipeline: Pipeline,
    usages: dict[str, StageUsage],
    explanations: dict[str, str] | None = None,
    options: PlanOptions | None = None,
    objective: PlanObjective | None = None,
    usage_source: str = "given usage",
) -> PlanResult:
    """Place every stage of `pipeline` given its measured `usages` (already scaled to the spec)."""

    opts = options or PlanOptions()
    check_targets(pipeline)
    offerings = candidate_offerings(pipeline, opts.all_platforms, opts.include_local, opts.priced_only)
    spaces = build_spaces(pipeline, usages, offerings, opts)
    combiner = build_combiner(pipeline, usages, offerings)
    goal = objective or objective_of(pipeline)
    result = optimize(spaces, combiner, goal, opts.optimizer, opts.seed, opts.pattern, opts.free_tier, opts.bayes)
    clusters = tuple(
        price_on_cluster(result.choice.plan, usages, o, opts.pattern, opts.free_tier) for o in cluster_offerings()
    )
    return PlanResult(pipeline, goal, result, explanations or {}, usage_source, opts, clusters)
