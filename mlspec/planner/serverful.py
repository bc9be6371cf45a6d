"""The chosen plan's stages priced on a VM cluster: a serverful offering (priced only, never placed on).

Each stage keeps the plan's worker count; each worker takes the smallest share of a VM that holds the
memory the plan gave it, and is timed and priced by the shared model (`estimate_stage`) at the catalog's
prices, so the figures are *modelled* and the prices *assumed*. What the offering's catalog module says it
leaves out (idle VMs, a cluster kept up for a whole run) is left out here too: this is the least a cluster
sized to the work would cost, which is what says whether functions are worth it (LambdaML's question).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlspec.planner.optimize import PipelinePlan
from mlspec.planner.space import memory_sizes
from mlspec.planner.timemodel import StageEstimate, estimate_stage
from mlspec.planner.usage import StageUsage
from mlspec.providers.catalog import Offering
from mlspec.providers.registry import all_offerings, get_platform


@dataclass(frozen=True)
class ClusterPrice:
    """The plan's stages on one serverful offering, or why it cannot hold them."""

    offering: str  # provider:offering
    stages: tuple[StageEstimate, ...]
    problem: str | None = None

    @property
    def time_s(self) -> float:
        return sum(e.time_s for e in self.stages)

    @property
    def cost_usd(self) -> float:
        return sum(e.cost_usd for e in self.stages)

    def to_dict(self) -> dict[str, Any]:
        return {
            "offering": self.offering,
            "available": self.problem is None,
            "problem": self.problem,
            "time_s": self.time_s,
            "cost_usd": self.cost_usd,
            "labels": {"time_s": "modelled", "cost_usd": "modelled", "prices": "assumed (catalog)"},
            "stages": [
                {
                    "stage": e.stage,
                    "memory_mb": e.memory_mb,
                    "vcpu": e.vcpu,
                    "workers": e.workers,
                    "time_s": e.time_s,
                    "cost_usd": e.cost_usd,
                }
                for e in self.stages
            ],
        }


def cluster_offerings() -> tuple[Offering, ...]:
    """Every offering of a serverful platform in the catalog."""
    return tuple(o for o in all_offerings() if get_platform(o.provider_key).serverful)


def price_on_cluster(
    plan: PipelinePlan,
    usages: Mapping[str, StageUsage],
    offering: Offering,
    pattern: str = "allreduce",
    free_tier: bool = False,
) -> ClusterPrice:
    """`plan`'s stages with their workers, each worker on the smallest share of `offering` that holds the
    memory the plan gave it."""
    estimates = []
    for ps in plan.stages:
        shares = memory_sizes(offering, ps.candidate.memory_mb)
        if not shares:
            return ClusterPrice(
                offering.id,
                (),
                f"{ps.stage} is planned with {ps.candidate.memory_mb} MB per worker, more than the largest share "
                f"of a VM holds ({offering.memory_max_mb.value} MB)",
            )
        estimates.append(
            estimate_stage(usages[ps.stage], offering, min(shares), ps.estimate.workers, None, pattern, 0.0, free_tier)
        )
    return ClusterPrice(offering.id, tuple(estimates))
