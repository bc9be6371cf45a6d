"""The time and cost model shared by `mlspec plan` and the comparison tables.

A stage's measured work (CPU seconds from a local run) is scaled to a platform's vCPU envelope, then
communication per synchronisation, cold starts and the extra invocations forced by the platform's
time limit are added; cost prices the resulting invocations with `mlspec.providers.pricing`.
Everything this returns is *modelled*; the constants below are *assumed* and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlspec.planner.usage import StageUsage
from mlspec.providers.catalog import Fact, Offering, assumed
from mlspec.providers.pricing import CostBreakdown, price
from mlspec.runtime.sync import PATTERNS

_WHY = "mlspec assumption, not measured on the platform"
STORE_LATENCY_S: Fact[float] = assumed(0.001, _WHY, "2026-11-23", "in-memory store (Redis) round trip in-region")
STORE_BANDWIDTH_BPS: Fact[float] = assumed(
    100e6, _WHY, "2026-11-23", "per-function throughput to an in-region store, ~100 MB/s"
)
REINIT_FRACTION: Fact[float] = assumed(
    0.05, _WHY, "2026-11-23", "share of each chained invocation spent reloading data and checkpoint"
)
# One vCPU of a cloud function is taken to do the work of one local core.
CORE_EQUIVALENCE: Fact[float] = assumed(1.0, _WHY, "2026-11-23", "cloud vCPU vs local core speed ratio")


def sync_time_s(model_bytes: int, workers: int, rounds: int, pattern: str = "allreduce") -> float:
    """Time one worker spends synchronising through the store over `rounds` rounds: each round moves the
    bytes and makes the requests its pattern says (`runtime.sync.PATTERNS`)."""
    if workers <= 1 or rounds == 0:
        return 0.0
    volume, requests = PATTERNS[pattern].traffic(model_bytes, workers)
    per_round = requests * STORE_LATENCY_S.value + volume / STORE_BANDWIDTH_BPS.value
    return rounds * per_round


def sync_here_s(usage: StageUsage, workers: int, rounds: int, pattern: str = "allreduce") -> float | None:
    """Time one worker spends synchronising over `rounds` rounds through the store the usage was measured with
    (its measured seconds per round, scaled by the bytes a round moves at `workers`): what a run emulated on that
    host should spend; None where the usage had nothing exchanged to measure."""
    if workers <= 1 or rounds == 0:
        return 0.0
    if usage.sync_s_per_round is None:
        return None
    traffic = PATTERNS[pattern].traffic
    scale = traffic(usage.model_bytes, workers)[0] / max(traffic(usage.model_bytes, usage.workers)[0], 1)
    return rounds * usage.sync_s_per_round * scale


def sync_rounds_for(usage: StageUsage, workers: int) -> int:
    """Synchronisation rounds per worker with `workers` workers. Rounds once per epoch do not depend on
    the worker count; rounds every N minibatches shrink with each worker's shard (measured x measured
    workers / workers)."""
    if usage.sync_rounds == 0 or not usage.rounds_scale_with_workers or workers == usage.workers:
        return usage.sync_rounds
    return max(1, math.ceil(usage.sync_rounds * usage.workers / max(workers, 1)))


@dataclass(frozen=True)
class StageEstimate:
    """A stage placed on one offering: modelled time and cost, and why."""

    stage: str
    offering: str  # provider:offering
    memory_mb: int
    vcpu: float
    workers: int
    time_s: float  # wall-clock time of the stage
    compute_s: float
    sync_s: float
    cold_start_s: float
    invocations: int  # including chained ones
    chained: int  # extra invocations forced by the time limit, per worker
    seconds_per_invocation: float
    cost: CostBreakdown
    label: str = "modelled"
    sync_rounds: int = 0
    pattern: str = "allreduce"
    # What the compute time was divided by (vCPU-equivalents), and the most the stage's code can use
    # (the parallelism it showed where measured): another envelope's compute is compute_s x speed / its speed.
    speed: float = 1.0
    parallelism: float = 1.0
    init_s: float = 0.0  # of cold_start_s: starting the function's process and imports (measured)
    # sync_s through the store the usage was measured with, at its measured speed (None: nothing measured)
    sync_here_s: float | None = None

    @property
    def cost_usd(self) -> float:
        return self.cost.total_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "offering": self.offering,
            "memory_mb": self.memory_mb,
            "vcpu": self.vcpu,
            "workers": self.workers,
            "time_s": self.time_s,
            "compute_s": self.compute_s,
            "sync_s": self.sync_s,
            "cold_start_s": self.cold_start_s,
            "invocations": self.invocations,
            "chained": self.chained,
            "seconds_per_invocation": self.seconds_per_invocation,
            "cost_usd": self.cost_usd,
            "cost": self.cost.to_dict(),
            "label": self.label,
            "sync_rounds": self.sync_rounds,
            "pattern": self.pattern,
            "speed": self.speed,
            "parallelism": self.parallelism,
            "init_s": self.init_s,
            "sync_here_s": self.sync_here_s,
        }


def estimate_stage(
    usage: StageUsage,
    offering: Offering,
    memory_mb: int,
    workers: int | None = None,
    vcpu: float | None = None,
    pattern: str = "allreduce",
    egress_gb: float = 0.0,
    free_tier: bool = False,
) -> StageEstimate:
    """Model `usage` (measured elsewhere) on `offering` with `workers` parallel functions.

    Work is divided evenly between workers (data-parallel stages), except what every invocation repeats and the
    steps that run once (`StageUsage.cpu_s_per_worker`), and runs at the function's vCPU share, no faster than
    the parallelism the code showed where it was measured. Each invocation on the stage's path starts cold."""
    n = workers if workers is not None else usage.workers
    cpus = offering.vcpus_for(memory_mb, vcpu)
    measured_parallelism = max(1.0, usage.cpu_s / max(usage.invocations * usage.wall_s_per_invocation, 1e-9))
    parallelism = min(measured_parallelism, usage.host_vcpus_per_invocation * 4)
    speed = min(cpus, parallelism) * CORE_EQUIVALENCE.value
    compute = usage.cpu_s_per_worker(n) / max(speed, 1e-6)
    rounds = sync_rounds_for(usage, n)
    sync = sync_time_s(usage.model_bytes, n, rounds, pattern)
    cold = offering.cold_start_s.value + usage.init_s_per_invocation
    busy = compute + sync
    limit = offering.timeout_max_s.value
    links = 1
    if limit is not None and busy + cold > limit:
        usable = limit * (1 - REINIT_FRACTION.value) - cold
        links = math.ceil(busy / max(usable, 1e-6))
    starts = links + usage.serial_invocations  # cold starts one after another on the stage's path
    serial = usage.serial_cpu_s / max(speed, 1e-6)
    invocations = n * links + usage.serial_invocations
    billed = n * (busy - serial + links * cold) + serial + usage.serial_invocations * cold
    per_invocation = billed / invocations
    requests = max(0, usage.object_requests) * (n / max(usage.workers, 1)) * links
    cost = price(
        offering,
        memory_mb,
        per_invocation,
        invocations,
        vcpu=vcpu,
        storage_requests={"get": int(requests)},
        egress_gb=egress_gb,
        free_tier=free_tier,
        check_limits=False,
    )
    return StageEstimate(
        stage=usage.stage,
        offering=offering.id,
        memory_mb=memory_mb,
        vcpu=cpus,
        workers=n,
        time_s=busy + starts * cold,
        compute_s=compute,
        sync_s=sync,
        cold_start_s=starts * cold,
        invocations=invocations,
        chained=links - 1,
        seconds_per_invocation=per_invocation,
        cost=cost,
        sync_rounds=rounds,
        pattern=pattern,
        speed=speed,
        parallelism=parallelism,
        init_s=starts * usage.init_s_per_invocation,
        sync_here_s=sync_here_s(usage, n, rounds, pattern),
    )
