"""The search space of `mlspec plan`: which (offering, memory, workers) a stage may be placed on.

Candidates come from the catalog (`mlspec.providers`), never from hard-coded numbers here:

- offerings: every offering that build, deploy and run can carry out (`Platform.deploys`; with
  ``priced_only`` also those mlspec can only price) of each cloud platform configured in the spec's
  `targets` (all clouds when only `local` is configured, or with ``all_platforms``); `local` only on request
  (it costs nothing, so it would win every cost objective without saying anything about the cloud); never a
  serverful platform (a VM cluster), which `planner.serverful` prices the chosen plan on instead;
- memory: the offering's allowed sizes, or ``memory_sizes`` sizes spread log-uniformly over its range
  and snapped to its step, never below the stage's measured peak memory (x `MEMORY_HEADROOM`); a
  stage's own ``memory_mb`` pins it;
- workers: ``min_workers``..``max_workers`` for train stages, within the offering's concurrency quota and
  the target's own cap (`max_concurrency` / `max_instances` / `max_workers`), which win over
  ``min_workers``; other stages run as one.

The spec's own target settings are checked against the catalog first, so a memory size outside a
platform's range or more workers than its quota is a clear `UsageError` (exit 2), not a traceback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mlspec.compile.graph import graph
from mlspec.errors import UsageError
from mlspec.planner.usage import StageUsage, scaled_peak_mb
from mlspec.providers.catalog import Fact, HostVcpu, Offering, ProviderLimitError, assumed
from mlspec.providers.registry import LOCAL, all_offerings, get_offering, get_platform, offering_selected_by
from mlspec.spec.models import Pipeline, TargetBase
from mlspec.spec.targets import worker_cap

MEMORY_HEADROOM: Fact[float] = assumed(
    1.2,
    "mlspec assumption",
    "2026-11-23",
    "a function gets at least 1.2 x the peak RSS measured locally, so it is not killed for memory",
)
DEFAULT_MEMORY_SIZES = 20
DEFAULT_MAX_WORKERS = 64


@dataclass(frozen=True)
class Candidate:
    """One point of a stage's grid."""

    offering: Offering
    memory_mb: int
    workers: int
    vcpu: float  # what the offering gives (catalog rule; a share of the host for `local`)
    requested_vcpu: float | None  # passed to the time model where the platform lets vCPU be chosen


@dataclass(frozen=True)
class StageSpace:
    stage: str
    kind: str
    usage: StageUsage
    offerings: tuple[Offering, ...]
    candidates: tuple[Candidate, ...]


def target_offering(name: str, target: TargetBase) -> Offering:
    return get_offering(name, offering_selected_by(name, target.model_dump()))


def check_targets(pipeline: Pipeline) -> None:
    """The spec's targets against the catalog: memory, vCPU, time limit, and train workers."""
    problems: list[str] = []
    scalable_workers = {n.stage: n.fan_out for n in graph(pipeline).nodes if n.workers_scalable}
    for name, target in pipeline.targets.configured().items():
        offering = target_offering(name, target)
        try:
            offering.vcpus_for(target.memory_mb, getattr(target, "vcpu", None))
            offering.check_timeout(target.timeout_s)
        except ProviderLimitError as exc:
            problems.append(f"targets.{name}: {exc}")
        for stage, workers in scalable_workers.items():
            try:
                offering.check_workers(workers)
            except ProviderLimitError as exc:
                problems.append(f"stages.{stage}.workers: {exc}")
                continue
            cap = worker_cap(target)
            if cap is not None and workers > cap:
                problems.append(f"stages.{stage}.workers: {workers} exceeds targets.{name}'s own cap of {cap}")
    if problems:
        raise UsageError("\n".join(problems))


def candidate_offerings(
    pipeline: Pipeline, all_platforms: bool = False, include_local: bool = False, priced_only: bool = False
) -> tuple[Offering, ...]:
    """The offerings a plan may place stages on: those build, deploy and run can carry out (with
    priced_only, also those mlspec can only price), of the spec's cloud targets or every cloud."""
    configured = pipeline.targets.configured()
    clouds = [name for name in configured if name != LOCAL]
    chosen = []
    skipped = []
    for o in all_offerings():
        if o.provider_key == LOCAL:
            if include_local:
                chosen.append(o)
        elif get_platform(o.provider_key).serverful:
            continue  # VMs billed while up: the plan is compared with them (planner/serverful.py), never placed there
        elif all_platforms or not clouds or o.provider_key in clouds:
            if priced_only or get_platform(o.provider_key).deploys(o.key):
                chosen.append(o)
            else:
                skipped.append(o.id)
    if not chosen:
        hint = f" (priced only: {', '.join(skipped)}; --priced-only plans on them anyway)" if skipped else ""
        raise UsageError(f"no platform to plan for: configure a cloud target or pass --all-platforms{hint}")
    return tuple(chosen)


def memory_sizes(offering: Offering, at_least_mb: float, count: int = DEFAULT_MEMORY_SIZES) -> list[int]:
    """Sizes the offering allows, at least `at_least_mb`: its list, or `count` log-uniform sizes."""
    lo, hi = offering.memory_min_mb.value, offering.memory_max_mb.value
    if offering.allowed_memory_mb is not None:
        return [m for m in offering.allowed_memory_mb.value if m >= at_least_mb]
    step = offering.memory_step_mb.value
    start = max(float(lo), float(at_least_mb))
    if start > hi:
        return []
    sizes: set[int] = set()
    for i in range(count):
        raw = start * (hi / start) ** (i / max(count - 1, 1))
        snapped = lo + math.ceil((raw - lo) / step - 1e-9) * step
        sizes.add(int(min(snapped, hi)))
    return sorted(sizes)


def _workers_cap(offering: Offering, pipeline: Pipeline, max_workers: int) -> int:
    cap = max_workers
    limit = offering.concurrency_limit.value
    if limit is not None:
        cap = min(cap, int(limit))
    if isinstance(offering.vcpu_rule, HostVcpu):
        cap = min(cap, int(offering.vcpu_rule.host_vcpus.value))
    target = pipeline.targets.configured().get(offering.provider_key)
    own = worker_cap(target) if target is not None else None
    return min(cap, own) if own is not None else cap


def stage_space(
    pipeline: Pipeline,
    stage: str,
    usage: StageUsage,
    offerings: tuple[Offering, ...],
    memory_count: int = DEFAULT_MEMORY_SIZES,
    max_workers: int = DEFAULT_MAX_WORKERS,
    min_workers: int = 1,
) -> StageSpace:
    spec = pipeline.stages[stage]
    scalable = graph(pipeline).node(stage).workers_scalable
    pinned = spec.memory_mb
    candidates: list[Candidate] = []
    used: list[Offering] = []
    for o in offerings:
        sizes = [pinned] if pinned is not None else []
        if pinned is not None:
            try:
                o.check_memory(pinned)
            except ProviderLimitError:
                continue
        if scalable:
            cap = _workers_cap(o, pipeline, max_workers)
            worker_range = range(min(min_workers, cap), cap + 1)
        else:
            worker_range = range(usage.workers, usage.workers + 1)
        # Fewer workers hold more of the data each: each count's own need (a pinned memory is taken as is).
        need = {n: 0.0 if pinned is not None else _memory_need_mb(usage, n) for n in worker_range}
        if pinned is None:
            sizes = memory_sizes(o, need[worker_range[-1]], memory_count)
        before = len(candidates)
        for mem in sizes:
            for n in worker_range:
                if mem < need[n]:
                    continue
                requested: float | None = None
                if isinstance(o.vcpu_rule, HostVcpu):  # workers share this machine's CPUs
                    requested = max(1.0, float(o.vcpu_rule.host_vcpus.value) // n)
                try:
                    vcpu = o.vcpus_for(mem, requested)
                except ProviderLimitError:
                    break
                candidates.append(Candidate(o, mem, n, vcpu, requested))
        if len(candidates) > before:
            used.append(o)
    if not candidates:
        if pinned is not None:
            ranges = ", ".join(f"{o.id} {o.memory_min_mb.value}–{o.memory_max_mb.value}" for o in offerings)
            raise UsageError(
                f"stages.{stage}.memory_mb: {pinned} MB is outside every candidate platform's "
                f"memory range ({ranges} MB)"
            )
        raise UsageError(
            f"stage {stage!r} needs about {_memory_need_mb(usage, usage.workers):.0f} MB (measured peak "
            f"{usage.peak_rss_mb:.0f} MB x {MEMORY_HEADROOM.value:g} headroom), more than any candidate platform offers"
        )
    return StageSpace(stage, spec.kind, usage, tuple(used), tuple(candidates))


def _memory_need_mb(usage: StageUsage, workers: int) -> float:
    """Memory one of `workers` invocations needs, with headroom: each holds its share of the data, so the
    part of the measured peak above what the process held before its function ran scales with it."""
    return scaled_peak_mb(usage, usage.workers / workers) * MEMORY_HEADROOM.value
