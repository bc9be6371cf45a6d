"""Realistic stage usage for the examples, built by hand, and a run store holding it as a record."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from benchmarks.bench_plan import USAGE  # the representative usage the planner benchmark measures
from mlspec.planner.usage import StageUsage
from mlspec.records import InvocationRecord, RunDir, RunRecord, StageRecord


def cifar10_usage() -> dict[str, StageUsage]:
    return dict(USAGE["cifar10"])


def imdb_usage() -> dict[str, StageUsage]:
    return dict(USAGE["imdb"])


def write_run(root: Path, spec_name: str, usages: dict[str, StageUsage], spec: dict[str, object]) -> str:
    """A succeeded run record whose invocations add up to `usages` (as `mlspec run` would write it)."""
    run_id = f"20261123-000000-{spec_name}-0001"
    run = RunDir(root, run_id)
    run.create()
    invocations = []
    for name, u in usages.items():
        for w in range(u.workers):
            invocations.append(
                InvocationRecord(
                    id=f"{name}#{w}",
                    stage=name,
                    function=name,
                    worker=w,
                    target="local",
                    started_at=time.time(),
                    wall_s=u.wall_s_per_invocation,
                    cpu_s=u.cpu_s / u.workers,
                    peak_rss_mb=u.peak_rss_mb,
                    init_s=u.init_s_per_invocation,
                    cold_start=True,
                    status="ok",
                    memory_limit_mb=4096,
                    time_limit_s=3600,
                    io={
                        "object_bytes_read": u.bytes_read // u.workers,
                        "object_bytes_written": u.bytes_written // u.workers,
                        "param_bytes_written": u.model_bytes * u.sync_rounds,
                        "object_requests": 20,
                    },
                    metrics={"sync_rounds": float(u.sync_rounds)},
                )
            )
    stages = {
        n: StageRecord(
            name=n,
            kind=u.kind,
            status="succeeded",
            workers=u.workers,
            metrics={"train_examples": 50_000.0} if u.kind == "preprocess" else {},
        )
        for n, u in usages.items()
    }
    run.save(
        RunRecord(
            run_id=run_id,
            name=spec_name,
            spec_file=f"{spec_name}.yaml",
            spec=spec,
            target="local",
            executor="local",
            status="succeeded",
            started_at=time.time(),
            mlspec_version="0.1.0",
            host={"cpus": 2},
            stages=stages,
            invocations=invocations,
        )
    )
    return run_id


@pytest.fixture
def runs_with_examples(tmp_path: Path, repo: Path) -> Path:
    from mlspec import spec

    root = tmp_path / "runs"
    for name, usages in (("cifar10", cifar10_usage()), ("imdb", imdb_usage())):
        pipeline = spec.load(repo / "examples" / f"{name}.yaml")
        write_run(root, name, usages, pipeline.model_dump(mode="json", by_alias=True))
    return root
