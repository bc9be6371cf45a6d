"""A vCPU count per invocation on the local executor, as a platform gives each function: its math-library
threads and the cores it may run on (CPU affinity), each invocation on cores of its own while there are
enough; the record holds the vCPU asked and the cores the process reported it could run on."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

from mlspec.executors.base import Invocation, Limits, target_limits
from mlspec.executors.local import LocalProcessExecutor
from mlspec.spec.targets import LocalTarget

CORES = sorted(os.sched_getaffinity(0))


def noops(count: int) -> list[Invocation]:
    return [Invocation(f"s.noop#{i}", "s", "noop", i, {"function": "noop"}) for i in range(count)]


@pytest.mark.skipif(len(CORES) < 2, reason="needs 2 cores to give two invocations one each")
def test_each_invocation_gets_cores_of_its_own(tmp_path: Path) -> None:
    executor = LocalProcessExecutor(tmp_path)
    outcomes = executor.run_group(noops(2), Limits(512, 120, vcpu=1), lambda i, p: None)
    assert [o.record.status for o in outcomes] == ["ok", "ok"]
    first, second = (o.record.cores for o in outcomes)
    assert first is not None and second is not None
    assert len(first) == len(second) == 1 and set(first).isdisjoint(second)
    assert all(o.record.vcpu == 1 for o in outcomes)


def test_more_invocations_than_cores_share_them_evenly(tmp_path: Path) -> None:
    executor = LocalProcessExecutor(tmp_path)
    count = len(CORES) + 1
    outcomes = executor.run_group(noops(count), Limits(512, 120, vcpu=1), lambda i, p: None)
    given = Counter(core for o in outcomes for core in o.record.cores or [])
    assert sum(given.values()) == count and set(given) == set(CORES)
    assert max(given.values()) - min(given.values()) <= 1


def test_without_a_vcpu_an_invocation_may_run_on_every_core(tmp_path: Path) -> None:
    [outcome] = LocalProcessExecutor(tmp_path).run_group(noops(1), Limits(512, 120), lambda i, p: None)
    assert outcome.record.cores == CORES and outcome.record.vcpu is None


def test_the_local_target_gives_its_vcpu_to_the_limits() -> None:
    assert target_limits(LocalTarget(vcpu=1)).vcpu == 1
    assert target_limits(LocalTarget()).vcpu is None
