"""A vCPU count per invocation on the local executor, as a platform gives each function: its math-library
threads and the cores it may run on (CPU affinity), each invocation on cores of its own while there are
enough; the record holds the vCPU asked and the cores the process reported it could run on."""

from __future__ import annotations

import os
import sys
import threading
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


@pytest.mark.skipif(len(CORES) != 2, reason="counts cores on a 2-core host")
def test_a_vcpu_count_above_the_cores_left_gets_the_share_of_the_cores(tmp_path: Path) -> None:
    """1.5 vCPU is two cores for one invocation alone; two of them running at once get a core each (two
    threads each on two cores ran several times slower, taking turns at every synchronisation)."""
    executor = LocalProcessExecutor(tmp_path)
    [alone] = executor.run_group(noops(1), Limits(512, 120, vcpu=1.5), lambda i, p: None)
    assert alone.record.cores == CORES
    pair = executor.run_group(noops(2), Limits(512, 120, vcpu=1.5), lambda i, p: None)
    first, second = (o.record.cores for o in pair)
    assert first is not None and second is not None
    assert len(first) == len(second) == 1 and set(first).isdisjoint(second)
    assert all(o.record.vcpu == 1.5 for o in pair)  # what was asked stays in the record


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


def test_a_fraction_of_a_vcpu_holds_the_function_to_that_share_of_a_core(tmp_path: Path) -> None:
    """Lambda gives 0.07 vCPU at 128 MB: the process is held to the share of CPU time (SIGSTOP/SIGCONT on its CPU
    clock) once its function starts, so 0.5 CPU-seconds at 0.25 vCPU take about 2 s (more on a busy machine)."""
    spin = Invocation("s.noop", "s", "noop", None, {"function": "noop", "spin_cpu_s": 0.5})
    [outcome] = LocalProcessExecutor(tmp_path).run_group([spin], Limits(512, 120, vcpu=0.25), lambda i, p: None)
    record = outcome.record
    assert record.status == "ok" and record.vcpu == 0.25 and record.init_s is not None
    assert record.wall_s - record.init_s >= 0.9 * 0.5 / 0.25
    assert record.cpu_s is not None and record.cpu_s >= 0.5


def test_the_share_holds_when_the_executor_is_late_to_stop_the_process(tmp_path: Path) -> None:
    """The thread that stops the process waits for the GIL behind a busy thread of the executor's process (a
    long switch interval makes every wait 20 ms): the CPU it ran past its quota is taken from the next period,
    so it still gets no more than its share (a duty cycle on the wall clock gave it 0.32 to 0.48 here)."""
    spin = Invocation("s.noop", "s", "noop", None, {"function": "noop", "spin_cpu_s": 1.0})
    done = threading.Event()

    def busy() -> None:
        while not done.is_set():
            sum(range(1000))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.02)
    hog = threading.Thread(target=busy, daemon=True)
    hog.start()
    try:
        [outcome] = LocalProcessExecutor(tmp_path).run_group([spin], Limits(512, 120, vcpu=0.25), lambda i, p: None)
    finally:
        done.set()
        hog.join()
        sys.setswitchinterval(interval)
    record = outcome.record
    assert record.status == "ok" and record.init_s is not None, record.error
    # 4 s at the share; the margin is the time before the throttle starts, when the process runs at full speed
    assert record.wall_s - record.init_s >= 0.85 * 1.0 / 0.25
