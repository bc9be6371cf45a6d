"""The scaling benchmark's modelled curve (benchmarks/bench_scaling.py, part 3) from real run records of a tiny
synthetic pipeline: the planner's own figures, the platforms' limits, and the error at the measured points."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from benchmarks.bench_scaling import CURVE_WORKERS, curve_offerings, model_error_pct, modelled_curve
from benchmarks.pipeline_runs import mlspec_run
from mlspec.planner.space import candidate_offerings
from mlspec.planner.timemodel import estimate_stage
from mlspec.planner.usage import usage_from_record
from mlspec.providers.registry import LOCAL, get_offering
from mlspec.records import RunRecord
from mlspec.spec.models import Pipeline

TRAIN_EXAMPLES = 300  # fewer than 512: the largest counts leave shards empty
TINY = [
    "targets.local.vcpu=1",
    f"datasets.cifar10.synthetic.train_size={TRAIN_EXAMPLES}",
    "datasets.cifar10.synthetic.test_size=100",
    "stages.train.epochs=1",
]


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, Any]]:
    """Real runs of examples/cifar10.yaml on its synthetic twin with 1 and 2 train workers (a few seconds each)."""
    runs = tmp_path_factory.mktemp("scaling-curve") / "runs"
    return {n: mlspec_run("cifar10.yaml", runs, [*TINY, f"stages.train.workers={n}"], "--no-cache")[1] for n in (1, 2)}


@pytest.fixture(scope="module")
def curve(records: dict[int, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return modelled_curve(records[1])


def _times(points: list[dict[str, Any]]) -> dict[int, float]:
    return {p["workers"]: p["modelled_s"] for p in points if "modelled_s" in p}


def test_every_deployable_platform_has_every_worker_count_as_plain_data(
    records: dict[int, dict[str, Any]], curve: dict[str, list[dict[str, Any]]]
) -> None:
    deployable = candidate_offerings(Pipeline.model_validate(records[1]["spec"]), all_platforms=True)
    assert set(curve) == {o.provider_key for o in deployable}
    assert {"aws-lambda", "gcp-cloud-run", "azure-functions"} <= set(curve)
    for points in curve.values():
        assert [p["workers"] for p in points] == list(CURVE_WORKERS)
    assert json.loads(json.dumps(curve)) == curve


def test_possible_points_have_positive_finite_time_and_cost(curve: dict[str, list[dict[str, Any]]]) -> None:
    possible = [p for points in curve.values() for p in points if "not_possible" not in p]
    assert len(possible) >= 3 * 7  # every platform runs 1 to 64 workers
    for p in possible:
        assert math.isfinite(p["modelled_s"]) and p["modelled_s"] > 0, p
        assert math.isfinite(p["modelled_usd"]) and p["modelled_usd"] > 0, p


def test_the_measured_point_is_what_the_planner_gives(
    records: dict[int, dict[str, Any]], curve: dict[str, list[dict[str, Any]]]
) -> None:
    usage = usage_from_record(RunRecord.model_validate(records[1]))["train"]
    for platform, (offering, memory_mb) in curve_offerings(records[1]).items():
        # No vCPU request: the vCPU the planner infers from the memory must be the 1 vCPU the curve claims.
        assert offering.vcpus_for(memory_mb) == 1.0
        planned = estimate_stage(usage, offering, memory_mb, 1, None, "allreduce")
        assert curve[platform][0] == {"workers": 1, "modelled_s": planned.time_s, "modelled_usd": planned.cost_usd}
    lambda_offering, lambda_mb = curve_offerings(records[1])["aws-lambda"]
    assert (lambda_offering.id, lambda_mb) == ("aws-lambda:x86_64", 1769)  # Lambda's memory for 1 vCPU


def test_more_workers_shorten_the_stage_until_sync_dominates(curve: dict[str, list[dict[str, Any]]]) -> None:
    times = _times(curve["aws-lambda"])
    # At this tiny size most of a worker's time is its own start (imports, the model built), which no count
    # divides: the curve falls only a little (measured here: 4.76 s, 4.50, 4.40, then 4.42 at 8 workers).
    assert times[2] < times[1]
    # Compute divides by the workers while each sync round's requests grow with them: the curve turns up.
    fastest = min(times, key=lambda n: times[n])
    assert 1 < fastest < max(times), times
    assert times[max(times)] > times[fastest]


def test_counts_beyond_a_limit_are_not_possible_with_the_reason(
    records: dict[int, dict[str, Any]], curve: dict[str, list[dict[str, Any]]]
) -> None:
    refused = {"quota": 0, "empty": 0}
    for platform, (offering, _) in curve_offerings(records[1]).items():
        limit = offering.concurrency_limit.value
        for p in curve[platform]:
            n = p["workers"]
            if limit is not None and n > limit:
                assert f"exceeds the default concurrency quota of {limit}" in p["not_possible"], p
                refused["quota"] += 1
            elif n > TRAIN_EXAMPLES:
                assert f"{TRAIN_EXAMPLES} training examples leave at least one of {n} shards empty" == p["not_possible"]
                refused["empty"] += 1
            else:
                assert "not_possible" not in p, p
    assert refused["quota"] > 0 and refused["empty"] > 0
    assert [p["workers"] for p in curve["aws-lambda"] if "not_possible" in p] == [512, 1000]


def test_model_error_compares_the_local_model_with_the_measured_stage(records: dict[int, dict[str, Any]]) -> None:
    errors = model_error_pct(records[1], [records[1], records[2]])
    assert set(errors) == {"1", "2"}
    usage = usage_from_record(RunRecord.model_validate(records[1]))["train"]
    for n, record in records.items():
        measured = record["stages"]["train"]["wall_s"]
        modelled = estimate_stage(usage, get_offering(LOCAL), 3072, n, 1.0).time_s  # cifar10.yaml's local memory
        assert errors[str(n)] == pytest.approx(100 * (modelled - measured) / measured)
        assert math.isfinite(errors[str(n)])


def test_the_test_runs_were_the_envelope_the_model_assumes(records: dict[int, dict[str, Any]]) -> None:
    for n, record in records.items():
        workers = [i for i in record["invocations"] if i["stage"] == "train"]
        assert len(workers) == n and {i["vcpu"] for i in workers} == {1.0}
        assert record["stages"]["prep"]["metrics"]["train_examples"] == TRAIN_EXAMPLES
