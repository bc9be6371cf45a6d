"""What every executor takes and gives: invocations in, measured InvocationRecords out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

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


def target_limits(target: TargetBase) -> Limits:
    """What `target`'s settings allow every invocation: memory, time limit, invocations at once."""
    return Limits(target.memory_mb, target.timeout_s, worker_cap(target), vcpu=getattr(target, "vcpu", None))


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
