"""What the planner takes from a run record: work without the process start (counted apart, as init), the
shares of a train stage's work in steps and in scoring (which grow with epochs), the memory held before the
function ran (the part of the peak that does not grow with the data), a preprocess map's steps that run once,
the seconds a synchronisation round took; and the model re-evaluated for the envelope a stage had where it was
emulated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mlspec import spec
from mlspec.actions.plan import scale_usage
from mlspec.compare.plan_outcome import modelled_here_s
from mlspec.planner.timemodel import estimate_stage
from mlspec.planner.usage import EXTRAPOLATED_MEMORY, scaled_peak_mb, usage_from_record
from mlspec.providers.registry import get_offering
from mlspec.records import InvocationRecord, PlannedStageRecord, RunRecord, StageRecord
from mlspec.runtime.functions.train_worker import first_epoch_extra
from tests.planner.conftest import imdb_usage


def _invocation(worker: int, cpu_s: float, init_s: float, steps_cpu_s: float, scoring_cpu_s: float) -> InvocationRecord:
    return InvocationRecord(
        id=f"train.train_worker#{worker}",
        stage="train",
        function="train_worker",
        worker=worker,
        target="local",
        started_at=0.0,
        wall_s=cpu_s + 0.5,
        cpu_s=cpu_s,
        peak_rss_mb=300.0,
        init_s=init_s,
        cold_start=True,
        status="ok",
        memory_limit_mb=1024,
        time_limit_s=600,
        metrics={"steps_cpu_s": steps_cpu_s, "scoring_cpu_s": scoring_cpu_s, "sync_rounds": 4},
        ready_rss_mb=120.0 + worker,
    )


def _two_workers() -> RunRecord:
    """A train stage's record: 2 workers, 5 and 4 CPU-s of which 1 each starting the process; steps 2 and 3,
    scoring 1 and 0."""
    return RunRecord(
        run_id="r",
        name="p",
        spec_file="p.yaml",
        spec={"stages": {"train": {"kind": "train", "epochs": 2}}},
        target="local",
        executor="local",
        started_at=0.0,
        host={"cpus": 2},
        mlspec_version="0",
        stages={"train": StageRecord(name="train", kind="train", status="succeeded", workers=2)},
        invocations=[_invocation(0, 5.0, 1.0, 2.0, 1.0), _invocation(1, 4.0, 1.0, 3.0, 0.0)],
    )


def test_usage_counts_work_without_the_process_start_and_the_share_spent_in_epochs() -> None:
    usage = usage_from_record(_two_workers())["train"]
    assert usage.cpu_s == pytest.approx(4.0 + 3.0)
    assert usage.wall_s_per_invocation == pytest.approx((5.5 + 4.5) / 2)
    assert usage.init_s_per_invocation == pytest.approx(1.0)
    assert (usage.steps_share, usage.scoring_share) == (pytest.approx(5.0 / 7.0), pytest.approx(1.0 / 7.0))
    assert usage.base_rss_mb == 121.0  # what the process held before its function ran
    grown = (300.0 - 121.0) * 3.0 * EXTRAPOLATED_MEMORY.value
    assert scaled_peak_mb(usage, 3.0) == pytest.approx(121.0 + grown)
    assert scaled_peak_mb(usage, 0.5) == pytest.approx(121.0 + (300.0 - 121.0) * 0.5)


def test_what_every_invocation_repeats_does_not_divide_among_workers() -> None:
    """Of 7 CPU-s measured with 2 workers, 5 were steps and 1 scoring (they divide among workers); the other
    1 was each worker's own start (imports, the model built, the test split loaded): 0.5 per invocation,
    which every worker pays again whatever their number."""
    usage = usage_from_record(_two_workers())["train"]
    assert usage.fixed_cpu_s_per_invocation == pytest.approx(0.5)
    assert usage.cpu_s_per_worker(1) == pytest.approx(6.0 + 0.5)
    assert usage.cpu_s_per_worker(4) == pytest.approx(6.0 / 4 + 0.5)
    cloud_run = get_offering("gcp-cloud-run:service")
    assert estimate_stage(usage, cloud_run, 2048, workers=4, vcpu=1.0).compute_s == pytest.approx(2.0)
    # Where the functions report no steps or scoring, all of the work divides.
    plain = replace(usage, steps_share=1.0, scoring_share=0.0)
    assert plain.cpu_s_per_worker(4) == pytest.approx(7.0 / 4)


def test_what_the_first_epoch_cost_above_the_others_is_paid_once_per_worker() -> None:
    """Worker 0's steps took 2 CPU-s, of which its first epoch cost 0.5 more than the later ones: that 0.5 does
    not grow with the epochs; it is part of what each invocation repeats."""
    record = _two_workers()
    record.invocations[0].metrics["first_epoch_extra_cpu_s"] = 0.5
    usage = usage_from_record(record)["train"]
    assert usage.steps_share == pytest.approx(4.5 / 7.0)
    assert usage.fixed_cpu_s_per_invocation == pytest.approx((1.0 + 0.5) / 2)


def _planned() -> PlannedStageRecord:
    return PlannedStageRecord(
        platform="gcp-cloud-run:service",
        memory_mb=2048,
        vcpu=1.5,
        workers=1,
        time_s=50.0,
        cost_usd=0.001,
        compute_s=10.0,
        sync_s=2.0,
        init_s=1.0,
        speed=1.5,
        parallelism=2.0,
    )


def test_the_model_is_re_evaluated_for_the_envelope_a_stage_had_here() -> None:
    planned = _planned()
    # 1.5 vCPU is two cores here (CPU affinity rounds up): 15 CPU-seconds on two cores take 7.5 s.
    assert modelled_here_s(planned, host_cores=2) == pytest.approx(10.0 * 1.5 / 2 + 2.0 + 1.0)
    # Two workers on two cores: one core each.
    assert modelled_here_s(planned.model_copy(update={"workers": 2}), host_cores=2) == pytest.approx(15.0 + 3.0)
    # Below one vCPU the process is held to its share here too: the model's compute stands.
    small = planned.model_copy(update={"vcpu": 0.29, "speed": 0.29, "workers": 4})
    assert modelled_here_s(small, host_cores=2) == pytest.approx(10.0 + 3.0)
    # A plan written without its model's parts: nothing to re-evaluate.
    assert modelled_here_s(planned.model_copy(update={"compute_s": None}), host_cores=2) is None


def test_the_first_epoch_extra_is_what_it_cost_above_the_mean_of_the_later_ones() -> None:
    assert first_epoch_extra(10.0, 4.0, epochs=4) == pytest.approx(4.0 - 6.0 / 3)
    assert first_epoch_extra(10.0, 10.0, epochs=1) == 0.0  # one epoch: nothing to compare with
    assert first_epoch_extra(10.0, 1.0, epochs=4) == 0.0  # a faster first epoch takes nothing off


def test_synchronisation_here_is_modelled_at_the_speed_the_profiled_run_measured_through_its_store() -> None:
    """The plan's sync time assumes an in-region cloud store; a stage emulated here exchanges through this
    host's store instead, which the profiled run measured: 0.6 and 0.2 s over 4 rounds, 0.1 s a round."""
    record = _two_workers()
    record.invocations[0].metrics["sync_s"] = 0.6
    record.invocations[1].metrics["sync_s"] = 0.2
    record.invocations[0].metrics["model_bytes"] = record.invocations[1].metrics["model_bytes"] = 4_000_000
    usage = usage_from_record(record)["train"]
    assert usage.sync_s_per_round == pytest.approx(0.1)
    cloud_run = get_offering("gcp-cloud-run:service")
    two = estimate_stage(usage, cloud_run, 2048, workers=2, vcpu=1.0)
    assert two.sync_here_s == pytest.approx(4 * 0.1)
    assert two.sync_s != pytest.approx(two.sync_here_s)  # the assumed cloud store's 100 MB/s
    # All-reduce: a round moves 4 models per worker among 4 workers, 2 among 2 (rounds once per epoch: 4 still).
    four = estimate_stage(usage, cloud_run, 2048, workers=4, vcpu=1.0)
    assert four.sync_here_s == pytest.approx(4 * 0.1 * (4 * 4_000_000) / (2 * 4_000_000))
    assert estimate_stage(usage, cloud_run, 2048, workers=1, vcpu=1.0).sync_here_s == 0.0
    parts = {"vcpu": 1.0, "workers": 2, "speed": 1.0, "parallelism": 1.0}
    planned = _planned().model_copy(update={**parts, "sync_s": two.sync_s, "sync_here_s": two.sync_here_s})
    assert modelled_here_s(planned, host_cores=2) == pytest.approx(10.0 + 0.4 + 1.0)
    # A run that exchanged nothing (one worker) measured no store: the assumed one stands.
    record.invocations.pop()
    record.stages["train"].workers = 1
    assert usage_from_record(record)["train"].sync_s_per_round is None
    assert modelled_here_s(planned.model_copy(update={"sync_here_s": None}), host_cores=2) == pytest.approx(
        10.0 + two.sync_s + 1.0
    )


def _step(name: str, worker: int | None, cpu_s: float) -> InvocationRecord:
    """One invocation of a preprocess map's step: `cpu_s` of work after 0.5 s starting the process."""
    step = {"id": f"prep.preprocess.{name}" + (f"#{worker}" if worker is not None else ""), "stage": "prep"}
    plain = {"function": "preprocess", "worker": worker, "metrics": {}, "ready_rss_mb": None}
    return _invocation(0, cpu_s + 0.5, 0.5, 0.0, 0.0).model_copy(update={**step, **plain})


def test_a_maps_split_and_merge_run_once_on_the_stages_path_whatever_the_workers() -> None:
    """A preprocess map on 2 parts: the split (3 CPU-s) and the merge (1) run once, alone, before and after the
    parts (2 CPU-s each, at once): with 4 workers the parts' 4 CPU-s divide in 4, the split and merge do not."""
    record = _two_workers()
    record.stages = {"prep": StageRecord(name="prep", kind="preprocess", status="succeeded", workers=2)}
    record.invocations = [_step("split", None, 3.0), _step("count", 0, 2.0), _step("count", 1, 2.0)]
    record.invocations.append(_step("merge", None, 1.0))
    usage = usage_from_record(record)["prep"]
    assert (usage.serial_share, usage.serial_invocations) == (pytest.approx(4.0 / 8.0), 2)
    assert usage.cpu_s_per_worker(2) == pytest.approx(4.0 + 4.0 / 2)
    assert usage.cpu_s_per_worker(4) == pytest.approx(4.0 + 4.0 / 4)
    cloud_run = get_offering("gcp-cloud-run:service")
    four = estimate_stage(usage, cloud_run, 2048, workers=4, vcpu=1.0)
    # Split, a part and merge start one after another; 4 parts and the 2 steps are invocations to pay for.
    assert four.init_s == pytest.approx(3 * 0.5)
    assert four.invocations == 6
    cold = cloud_run.cold_start_s.value + 0.5
    assert four.time_s == pytest.approx(5.0 + 3 * cold)
    assert four.seconds_per_invocation * 6 == pytest.approx(4 * (1.0 + cold) + 4.0 + 2 * cold)
    # One function doing it all has no steps apart: everything is on its path, once.
    record.stages["prep"].workers = 1
    record.invocations = [_step("whole", None, 6.0)]
    whole = usage_from_record(record)["prep"]
    assert (whole.serial_share, whole.serial_invocations, whole.cpu_s_per_worker(1)) == (0.0, 0, 6.0)


def test_a_profiles_map_grows_its_parts_with_the_examples_and_keeps_its_split_and_merge(repo: Path) -> None:
    """A profile of the IMDb map featurised 2,000 of 25,000 training examples (and the whole test split) but
    read the whole archive: its parts (6 CPU-s) grow x50,000/27,000, its split and merge (6 CPU-s) stay."""
    pipeline = spec.load(repo / "examples" / "imdb.yaml")
    then = pipeline.model_dump(mode="json", by_alias=True)
    then["datasets"]["imdb"]["max_train"] = 2000
    examples = {"train_examples": 2000.0, "test_examples": 25000.0, "train_available": 25000.0}
    profiled = StageRecord(name="prep", kind="preprocess", status="succeeded", workers=2, metrics=examples)
    record = _two_workers().model_copy(update={"spec": then, "stages": {"prep": profiled}})
    usages = imdb_usage()
    usages["prep"] = replace(usages["prep"], workers=2, invocations=4, cpu_s=12.0, serial_share=0.5)
    usages["prep"] = replace(usages["prep"], serial_invocations=2)
    scaled, notes = scale_usage(record, pipeline, usages)
    assert scaled["prep"].cpu_s == pytest.approx(6.0 * 50_000 / 27_000 + 6.0)
    assert scaled["prep"].serial_cpu_s == pytest.approx(6.0)
    assert "on its 50 % in parts (split and merge as measured)" in notes["prep"]
