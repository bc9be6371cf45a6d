"""How many invocations run at once on this host: bounded by each stage's own memory (a stage planned or set
smaller than the target fits more of its workers), and by the CPUs."""

from __future__ import annotations

from dataclasses import replace

from mlspec import spec
from mlspec.compile import graph
from mlspec.executors.base import MAX_INVOCATIONS_PER_CPU, Limits, on_host, stage_limits

HOST = Limits(memory_mb=4096, timeout_s=600, host_memory_mb=20_000, host_cpus=2)


def test_memory_and_cpus_bound_what_runs_at_once() -> None:
    assert on_host(HOST).max_concurrency == 4  # 20,000 MB / 4,096
    small = on_host(replace(HOST, memory_mb=256))
    assert small.max_concurrency == MAX_INVOCATIONS_PER_CPU * 2  # the CPUs bound it before the memory does
    assert "20,000 MB available / memory_mb=256" in small.max_concurrency_source
    assert on_host(replace(HOST, max_concurrency=3)).max_concurrency == 3  # the target's own cap, when lower
    assert on_host(replace(HOST, host_memory_mb=None)).max_concurrency is None  # not on this host: unbounded


def test_a_stage_is_bounded_by_its_own_memory_not_the_targets() -> None:
    pipeline = spec.load_text("""\
name: wide
datasets: {d: {format: imdb, synthetic: {train_size: 200, test_size: 50}}}
stages:
  p: {kind: preprocess, dataset: d}
  t: {kind: train, data: p, model: logistic_regression, workers: 9, memory_mb: 1024}
""")
    nodes = {n.stage: n for n in graph(pipeline).nodes}
    big_target = replace(HOST, memory_mb=10_000)
    assert stage_limits(nodes["p"], big_target).max_concurrency == 2  # 20,000 / 10,000
    assert stage_limits(nodes["t"], big_target).max_concurrency == 16  # 9 workers of 1,024 MB fit
