"""What every executor takes and gives: invocations in, measured InvocationRecords out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from mlspec.compile import FunctionNode
from mlspec.records import InvocationRecord
from mlspec.spec.targets import TargetBase, worker_cap


@dataclass(frozen=True)
class Invocation:
    id: str
    stage: str
    function: str
    worker: int | None
    event: dict[str, Any]
    attempt: int = 1
    link: int = 0


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    timeout_s: float
    max_concurrency: int | None = None
    max_concurrency_source: str = "max_workers"  # what sets max_concurrency, for the message that cites it
    vcpu: float | None = None  # per invocation, where the executor can give it (None: share the host's cores)
    # Where invocations share this machine (the local executors): its available memory and its CPUs, which
    # bound how many of a stage's invocations run at once, by that stage's own memory (on_host).
    host_memory_mb: int | None = None
    host_cpus: int | None = None


# Assumed: beyond this many invocations per CPU, workers that synchronise every round wait mostly for
# their turn on a CPU; a run like that would take far longer than on any platform, so it is refused.
MAX_INVOCATIONS_PER_CPU = 8


def on_host(limits: Limits) -> Limits:
    """`limits` (a stage's: its memory_mb) where invocations share this machine: at most as many at once as fit
    in its available memory, each at memory_mb, and MAX_INVOCATIONS_PER_CPU per CPU. Beyond that a stage whose
    workers synchronise is refused by the coordinator, and independent invocations (tune trials) are queued, as
    on a platform at its concurrency limit."""
    if limits.host_memory_mb is None or limits.host_cpus is None:
        return limits
    fit = max(1, min(limits.host_memory_mb // limits.memory_mb, MAX_INVOCATIONS_PER_CPU * limits.host_cpus))
    if limits.max_concurrency is not None and limits.max_concurrency <= fit:
        return limits
    source = (
        f"what this host runs at once: {limits.host_memory_mb:,} MB available / memory_mb={limits.memory_mb}, "
        f"at most {MAX_INVOCATIONS_PER_CPU} per CPU x {limits.host_cpus} CPUs"
    )
    return replace(limits, max_concurrency=fit, max_concurrency_source=source)


def stage_limits(node: FunctionNode, limits: Limits) -> Limits:
    """The target's limits with the stage's own overrides; on this host, as many at once as fit at its memory."""
    overridden = replace(
        limits,
        memory_mb=node.memory_mb or limits.memory_mb,
        timeout_s=node.timeout_s or limits.timeout_s,
        vcpu=node.vcpu or limits.vcpu,
    )
    return on_host(overridden)


def target_limits(target: TargetBase) -> Limits:
    """What `target`'s settings allow every invocation: memory, time limit, invocations at once."""
    return Limits(target.memory_mb, target.timeout_s, worker_cap(target), vcpu=getattr(target, "vcpu", None))


def identity(inv: Invocation) -> dict[str, Any]:
    """The fields of an InvocationRecord that say which invocation it is, for every executor's record."""
    return {
        "id": inv.id,
        "stage": inv.stage,
        "function": inv.function,
        "worker": inv.worker,
        "attempt": inv.attempt,
        "link": inv.link,
    }


# (invocation id, progress dict) from a running function
ProgressCallback = Callable[[str, dict[str, Any]], None]


@dataclass
class Outcome:
    record: InvocationRecord
    result: dict[str, Any] | None


class Executor(Protocol):
    name: str

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        """Run invocations that must all be alive at once (they may synchronise); if one fails the
        others are stopped. Returns one outcome per invocation, in order."""
        ...
