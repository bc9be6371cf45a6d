"""Where a plan's stage usage comes from, and how it is scaled to the spec being planned.

In order: ``--from-run RUN_ID``; ``--profile`` (a real short local run of the spec with two epochs and
fewer examples, through the coordinator); the latest successful run of the same pipeline name; else a
`UsageError` telling the user what to do. Usage measured under one configuration is scaled to the
spec's explicitly (see `scale_usage`), and every scaling is written into the stage's explanation.
"""

from __future__ import annotations

import json
import math
import os
import platform as platform_module
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlspec.compile.graph import graph
from mlspec.errors import UsageError
from mlspec.executors.base import target_limits
from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
from mlspec.executors.local import LocalProcessExecutor
from mlspec.executors.stage_cache import CacheSettings
from mlspec.files import write_atomically
from mlspec.planner.plan import PlanOptions, PlanResult, objective_of
from mlspec.planner.plan import plan as make_plan
from mlspec.planner.plan_file import check_plan, plan_document
from mlspec.planner.usage import StageUsage, scaled_peak_mb, usage_from_record
from mlspec.providers.registry import LOCAL, get_platform
from mlspec.records import FollowedPlan, PlannedStageRecord, RunRecord
from mlspec.records.runs import find_run, list_runs
from mlspec.references import load
from mlspec.spec import load as load_spec
from mlspec.spec.models import OFFICIAL_TEST_EXAMPLES, OFFICIAL_TRAIN_EXAMPLES, Pipeline
from mlspec.spec.targets import TargetBase
from mlspec.wording import plural

# Split sizes of the official datasets (used only when a spec's dataset differs from the one measured and
# the full size was not itself measured).
OFFICIAL_EXAMPLES = {"train": OFFICIAL_TRAIN_EXAMPLES, "test": OFFICIAL_TEST_EXAMPLES}
# Two epochs: what the first costs above the second is each worker's once (it does not grow with the epochs).
PROFILE_EPOCHS = 2
PROFILE_MAX_TRAIN = 2_000


@dataclass(frozen=True)
class UsageSource:
    kind: str  # "run", "profile", "auto profile" or "latest run"
    run_id: str
    usages: dict[str, StageUsage]  # scaled to the spec
    explanations: dict[str, str]  # per stage: where its figures come from and how they were scaled

    def describe(self) -> str:
        return {
            "run": f"run {self.run_id} (--from-run)",
            "profile": f"profiling run {self.run_id} (--profile)",
            "auto profile": f"profiling run {self.run_id} (made now: no earlier run to measure; --no-profile refuses)",
            "latest run": f"latest successful run {self.run_id}",
        }.get(self.kind, self.run_id)


def _examples(
    pipeline: Pipeline, dataset: str, split: str, measured: int | None, then: dict[str, Any], available: int | None
) -> int | None:
    """Examples of `split` ("train" or "test") the spec's dataset will have, from what was measured with
    `then` (a dataset dict) and what its source held (`available`, measured too, where recorded)."""
    now = pipeline.datasets[dataset]
    now_d = now.model_dump(mode="json")
    if measured is not None and now_d == then:
        return measured
    same_source = {k: v for k, v in now_d.items() if k not in ("max_train", "max_test")} == {
        k: v for k, v in then.items() if k not in ("max_train", "max_test")
    }
    then_cap = then.get(f"max_{split}")
    if same_source and available is not None:
        full = available  # the source's size, measured
    elif same_source and measured is not None and (then_cap is None or measured < then_cap):
        full = measured  # the measured run saw the whole split
    elif now.path is None:
        full = getattr(now.synthetic, f"{split}_size")
    else:
        full = OFFICIAL_EXAMPLES[split][now.format]
    cap = getattr(now, f"max_{split}")
    return min(full, cap) if cap else full


def scale_usage(
    record: RunRecord, pipeline: Pipeline, usages: dict[str, StageUsage]
) -> tuple[dict[str, StageUsage], dict[str, str]]:
    """Scale usage measured in `record` to `pipeline`: work by epochs x training examples, sync rounds
    by epochs x steps per epoch (and by worker count in the time model when sync is every N steps)."""
    spec_then: dict[str, Any] = record.spec or {}
    stages_then: dict[str, Any] = spec_then.get("stages") or {}
    datasets_then: dict[str, Any] = spec_then.get("datasets") or {}
    out: dict[str, StageUsage] = {}
    notes: dict[str, str] = {}
    nodes = {node.stage: node for node in graph(pipeline).nodes}
    for name in pipeline.stage_order():
        scaling = nodes[name].scaling
        u = usages[name]
        then = stages_then.get(name) or {}
        dataset = pipeline.dataset_of(name)
        prep = scaling.examples_from
        measured: dict[str, int | None] = {"train": None, "test": None}
        available: dict[str, int | None] = {"train": None, "test": None}
        if prep is not None and prep in record.stages:
            for split in measured:
                value = record.stages[prep].metrics.get(f"{split}_examples")
                measured[split] = int(value) if value else None
                held = record.stages[prep].metrics.get(f"{split}_available")
                available[split] = int(held) if held else None
        then_dataset = datasets_then.get(dataset) or {}
        now_ex = _examples(pipeline, dataset, "train", measured["train"], then_dataset, available["train"])
        now_test = _examples(pipeline, dataset, "test", measured["test"], then_dataset, available["test"])
        measured_ex = measured["train"]
        ex_ratio = now_ex / measured_ex if (prep is not None and measured_ex and now_ex) else 1.0
        cached = record.stages[name].cached_from if name in record.stages else None
        measured_in = cached.run_id if cached is not None else record.run_id  # a reused stage ran there
        base = (
            f"measured in run {measured_in} ({record.target}, {plural(u.workers, 'worker')}): "
            f"{u.cpu_s:.1f} CPU-s, peak {u.peak_rss_mb:.0f} MB"
        )
        if scaling.epochs is not None:
            epochs_then = int(then.get("epochs") or scaling.epochs)
            e_ratio = scaling.epochs / epochs_then
            # Steps grow with epochs x training examples, scoring with epochs x test examples; the rest
            # (imports after start, the model built, the test split loaded, the model saved) stays.
            test_ratio = now_test / measured["test"] if (measured["test"] and now_test) else 1.0
            fixed = max(0.0, 1.0 - u.steps_share - u.scoring_share)
            steps_part = u.steps_share * e_ratio * ex_ratio
            scoring_part = u.scoring_share * e_ratio * test_ratio
            work = steps_part + scoring_part + fixed
            rounds_ratio = e_ratio
            sync_now, sync_then = scaling.sync_every_steps, then.get("sync_every_steps")
            batch_now = scaling.batch_size or 1
            if sync_now:
                batch_then = int(then.get("batch_size") or batch_now)
                rounds_ratio *= ex_ratio * (batch_then * (sync_then or sync_now)) / (batch_now * sync_now)
            rounds = round(u.sync_rounds * rounds_ratio) if u.sync_rounds else 0
            if sync_now and not sync_then and u.sync_rounds:  # was once per epoch, now every N steps
                steps = max(1, (now_ex or 0) // max(1, u.workers * batch_now))
                rounds = max(1, scaling.epochs * steps // sync_now)
            out[name] = replace(
                u,
                cpu_s=u.cpu_s * work,
                wall_s_per_invocation=u.wall_s_per_invocation * work,
                steps_share=steps_part / work,
                scoring_share=scoring_part / work,
                peak_rss_mb=scaled_peak_mb(u, ex_ratio),
                object_bytes=int(u.object_bytes * ex_ratio),
                object_bytes_read=int(u.bytes_read * ex_ratio),
                object_bytes_written=u.bytes_written,
                sync_rounds=rounds,
                param_bytes=int(u.param_bytes * (rounds / u.sync_rounds if u.sync_rounds else 1)),
                rounds_scale_with_workers=bool(sync_now),
            )
            notes[name] = (
                f"{base}; scaled x{work:.3g}: epochs {scaling.epochs}/{epochs_then} x training examples "
                f"{now_ex or '?'}/{measured_ex or '?'} on its {100 * u.steps_share:.0f} % in steps, epochs x test "
                f"examples on its {100 * u.scoring_share:.0f} % scoring; sync rounds {u.sync_rounds} -> {rounds} per "
                f"worker at {plural(u.workers, 'worker')}; peak {out[name].peak_rss_mb:.0f} MB"
                + (
                    f", fewer per worker as workers grow (every {plural(sync_now, 'step')})"
                    if sync_now
                    else ", once per epoch whatever the workers"
                )
            )
        elif prep is not None:
            # A preprocess stage reads and featurises both splits: its work grows with all examples.
            then_all = (measured_ex or 0) + (measured["test"] or 0)
            now_all = (now_ex or 0) + (now_test or 0)
            all_ratio = now_all / then_all if then_all and now_all else ex_ratio
            # A map's split and merge are kept as measured: a profile reads the same dataset whole and limits only
            # the examples featurised, which its parts do (IMDb, 27,000 examples profiled of 50,000: split x1.08,
            # merge x1.27, the parts x1.9).
            grown = u.cpu_s * (1 - u.serial_share) * all_ratio
            cpu_s = grown + u.serial_cpu_s
            work = cpu_s / u.cpu_s if u.cpu_s else all_ratio
            out[name] = replace(
                u,
                cpu_s=cpu_s,
                serial_share=u.serial_cpu_s / cpu_s if cpu_s else 0.0,
                wall_s_per_invocation=u.wall_s_per_invocation * work,
                peak_rss_mb=scaled_peak_mb(u, all_ratio),
                object_bytes=int(u.object_bytes * all_ratio),
                object_bytes_read=int(u.bytes_read * all_ratio),
                object_bytes_written=int(u.bytes_written * all_ratio),
            )
            parts = f" on its {100 * (1 - u.serial_share):.0f} % in parts (split and merge as measured)"
            notes[name] = (
                f"{base}; scaled x{all_ratio:.3g} = training and test examples {now_all or '?'}/{then_all or '?'}"
                f"{parts if u.serial_share else ''}; peak {out[name].peak_rss_mb:.0f} MB"
            )
        else:
            out[name] = u
            notes[name] = f"{base}; not scaled (the test split is the same)"
    return out, notes


def measured_usage(record: RunRecord, runs_dir: Path) -> dict[str, StageUsage]:
    """The usage measured in `record`; a stage it reused from the cache, as measured in the run that computed it
    (when that run is still there)."""
    measured = usage_from_record(record)
    origins = {stage.cached_from.run_id for stage in record.stages.values() if stage.cached_from is not None}
    if not origins:
        return measured
    usage_in = {
        e.run_id: usage_from_record(e.record)
        for e in list_runs(runs_dir, profiles=True)
        if e.run_id in origins and e.record is not None
    }
    for name, stage in record.stages.items():
        usage = usage_in.get(stage.cached_from.run_id, {}).get(name) if stage.cached_from is not None else None
        if usage is not None:
            measured[name] = usage
    return measured


def _from_record(kind: str, record: RunRecord, pipeline: Pipeline, runs_dir: Path) -> UsageSource:
    measured = measured_usage(record, runs_dir)
    missing = [s for s in pipeline.stage_order() if s not in measured]
    wrong = [s for s in pipeline.stage_order() if s in measured and measured[s].kind != pipeline.stages[s].kind]
    if missing or wrong:
        parts = []
        if missing:
            parts.append(f"no successful measurement of {plural(len(missing), 'stage')} ({', '.join(missing)})")
        if wrong:
            parts.append(f"{plural(len(wrong), 'stage')} of another kind there ({', '.join(wrong)})")
        raise UsageError(
            f"run {record.run_id} cannot be used to plan {pipeline.name!r}: {'; '.join(parts)}. "
            "Run `mlspec run SPEC` first or pass --profile"
        )
    usages, notes = scale_usage(record, pipeline, measured)
    return UsageSource(kind, record.run_id, usages, notes)


def latest_run(runs_dir: Path, name: str) -> RunRecord | None:
    good = [
        e.record
        for e in list_runs(runs_dir)
        if e.record is not None and e.record.name == name and e.record.status == "succeeded"
    ]
    return good[-1] if good else None


def profile_overrides(pipeline: Pipeline, max_train: int = PROFILE_MAX_TRAIN) -> list[str]:
    """`--set` overrides for a short profiling run: two epochs, at most `max_train` training examples."""
    out = [f"stages.{n.stage}.epochs={PROFILE_EPOCHS}" for n in graph(pipeline).nodes if n.scaling.epochs is not None]
    for name, d in pipeline.datasets.items():
        cap = min(d.max_train or max_train, max_train)
        if d.path is None:
            cap = min(cap, d.synthetic.train_size)
        out.append(f"datasets.{name}.max_train={cap}")
    return out


def profile(spec_path: Path, overrides: list[str], runs_dir: Path) -> RunRecord:
    """Run the spec for real, locally, with `profile_overrides`; the record lands in `runs_dir`, marked as a
    profiling run (hidden from `runs list`, never the latest run)."""
    full = load_spec(spec_path, overrides)
    extra = [*overrides, *profile_overrides(full)]
    pipeline = load_spec(spec_path, extra)
    limits = target_limits(pipeline.targets.local)
    run_dir = new_run_dir(runs_dir, pipeline)
    executor = LocalProcessExecutor(run_dir.logs, target="local")
    return run_pipeline(
        pipeline,
        str(spec_path),
        extra,
        executor,
        run_dir,
        SilentReporter(),
        limits,
        "local",
        purpose="profile",
        cache=CacheSettings(use=False, unused_because="a profile measures every stage"),
    )


def resolve_usage(
    pipeline: Pipeline,
    runs_dir: Path,
    from_run: str | None = None,
    do_profile: bool | None = None,
    spec_path: Path | None = None,
    overrides: list[str] | None = None,
    on_profile: Callable[[str], None] = lambda why: None,
) -> UsageSource:
    """Where the plan's usage comes from: --from-run, else --profile (True), else the latest successful run;
    with none, a short profiling run made now (unless do_profile is False), announced through on_profile."""
    if from_run is not None:
        entry = find_run(runs_dir, from_run)
        if entry.record is None:
            raise UsageError(f"run {entry.run_id} cannot be read: {entry.problem}")
        return _from_record("run", entry.record, pipeline, runs_dir)
    if do_profile:
        if spec_path is None:
            raise UsageError("--profile needs the spec file")
        return _from_record("profile", profile(spec_path, overrides or [], runs_dir), pipeline, runs_dir)
    record = latest_run(runs_dir, pipeline.name)
    if record is not None:
        return _from_record("latest run", record, pipeline, runs_dir)
    missing = f"no measured usage for pipeline {pipeline.name!r}: no successful run in {runs_dir}"
    if do_profile is False or spec_path is None:
        raise UsageError(
            f"{missing}. Run `mlspec run SPEC` first (or pass --from-run RUN_ID), or drop --no-profile for a "
            "short profiling run"
        )
    on_profile(f"{missing}: measuring it with a short real local run first (2 epochs, fewer examples)")
    return _from_record("auto profile", profile(spec_path, overrides or [], runs_dir), pipeline, runs_dir)


MAX_PLAN_BYTES = 4 * 1024 * 1024  # a plan of thousands of stages is far smaller


def write_plan(path: Path, document: dict[str, Any]) -> None:
    """Write the plan file whole or not at all (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(document, indent=2, allow_nan=False) + "\n").encode())


def read_plan(path: Path, pipeline: Pipeline) -> dict[str, PlannedStageRecord]:
    """The stages of the plan file at `path`, once it is shown to be an untouched plan for exactly this
    resolved spec; UsageError (exit 2) with one line otherwise."""
    where = str(path)
    hint = f"write one with `mlspec plan SPEC --out {where}`"
    try:
        if not path.is_file():
            raise UsageError(f"plan file {where} does not exist or is not a regular file ({hint})")
        if path.stat().st_size > MAX_PLAN_BYTES:
            raise UsageError(f"{where} is larger than any plan ({MAX_PLAN_BYTES >> 20} MiB): not a plan file")
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read plan file {where}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"{where} is not a whole plan file (truncated, or not JSON: line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); {hint}"
        ) from None
    return check_plan(document, pipeline, where)


def auto_plan(
    spec_path: Path, overrides: list[str], pipeline: Pipeline, runs_dir: Path, on_profile: Callable[[str], None]
) -> tuple[Path, PlanResult]:
    """`mlspec run --placement auto`: plan the spec as `mlspec plan` does by default (profiling it first when
    it has no run to measure) and write the plan file under the runs directory, for the run to follow.
    UsageError when the objective cannot be met."""
    source = resolve_usage(pipeline, runs_dir, None, None, spec_path, overrides, on_profile)
    result = make_plan(
        pipeline, source.usages, source.explanations, PlanOptions(), objective_of(pipeline), source.describe()
    )
    if not result.choice.feasible:
        raise UsageError(f"--placement auto: {result.choice.message or 'the objective cannot be met'}")
    path = runs_dir / "plans" / f"{pipeline.name}.json"
    write_plan(path, plan_document(result, str(spec_path), overrides))
    return path, result


def planned_targets(pipeline: Pipeline, planned: dict[str, PlannedStageRecord]) -> dict[str, tuple[str, TargetBase]]:
    """Per stage, the platform the plan places it on and its settings: the spec's for that platform (its
    defaults where the spec has none) with the planned offering, memory and vCPU. UsageError (one line)
    when those settings are not valid together."""
    configured = pipeline.targets.configured()
    out = {}
    for stage, placed in planned.items():
        provider, _, offering = placed.platform.partition(":")
        platform = get_platform(provider)
        settings = configured[provider].model_dump() if provider in configured else {}
        settings["memory_mb"] = placed.memory_mb
        if platform.offering_field:
            settings[platform.offering_field] = offering
        target_class: type[TargetBase] = load(platform.target)
        if placed.vcpu is not None and "vcpu" in target_class.model_fields:
            settings["vcpu"] = placed.vcpu
        try:
            out[stage] = (provider, target_class.model_validate(settings))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise UsageError(
                f"the plan places stage {stage!r} on {placed.platform} at {placed.memory_mb} MB, which the spec's "
                f"{provider} settings refuse ({'.'.join(map(str, first['loc']))}: {first['msg']})"
            ) from None
    return out


def with_planned_workers(pipeline: Pipeline, planned: dict[str, PlannedStageRecord]) -> Pipeline:
    """The pipeline with each data-parallel stage's worker count as planned."""
    scalable = {node.stage for node in graph(pipeline).nodes if node.workers_scalable}
    stages = {
        name: stage.model_copy(update={"workers": planned[name].workers}) if name in scalable else stage
        for name, stage in pipeline.stages.items()
    }
    return pipeline.model_copy(update={"stages": stages})


@dataclass(frozen=True)
class Emulation:
    """A plan made runnable here: the pipeline with each stage in its planned envelope, what the record
    keeps of the plan, and what the user should know about how faithful the emulation is."""

    pipeline: Pipeline
    plan: FollowedPlan
    warnings: list[str]


def emulate_plan(pipeline: Pipeline, plan_file: Path, refuse_clouds: bool = False) -> Emulation:
    """Every stage of `pipeline` in the envelope the plan file gives it on its platform: memory, vCPU (the
    platform's, at that memory), the platform's time limit, and the planned workers. A run here cannot use
    the clouds themselves yet: with `refuse_clouds` (`--no-emulate`), a stage planned on one is refused."""
    planned = read_plan(plan_file, pipeline)
    clouds = {name: p.platform for name, p in planned.items() if p.platform.partition(":")[0] != LOCAL}
    if refuse_clouds and clouds:
        name, platform = next(iter(clouds.items()))
        raise UsageError(
            f"--no-emulate: stage {name!r} is planned on {platform}, which a run cannot use yet (runs of a plan "
            "on the clouds are not built); drop --no-emulate to emulate it on this machine"
        )
    placement = planned_targets(pipeline, planned)
    cores = len(os.sched_getaffinity(0))
    stages = dict(with_planned_workers(pipeline, planned).stages)
    warnings = []
    if clouds:
        warnings.append(
            f"{plural(len(clouds), 'stage')} planned on clouds ({', '.join(f'{n} on {p}' for n, p in clouds.items())})"
            " emulated on this machine: runs of a plan on the clouds themselves are not built (--no-emulate refuses)"
        )
    for name, placed in planned.items():
        _, settings = placement[name]
        stages[name] = stages[name].model_copy(
            update={"memory_mb": placed.memory_mb, "timeout_s": settings.timeout_s, "vcpu": placed.vcpu}
        )
        asked = placed.workers * math.ceil(placed.vcpu or 1)
        if asked > cores:
            warnings.append(
                f"stage {name!r}: {plural(placed.workers, 'worker')} x {placed.vcpu or 1:g} vCPU asked on "
                f"{plural(cores, 'core')}: the host is oversubscribed, emulated times are slower than on "
                f"{placed.platform}"
            )
    followed = FollowedPlan(
        file=str(plan_file),
        host=platform_module.node(),
        host_cores=cores,
        stages=planned,
        minimize=pipeline.objective.minimize,
        deadline_s=pipeline.objective.deadline,
        budget_usd=pipeline.objective.budget,
        replan=pipeline.objective.replans,
    )
    return Emulation(pipeline.model_copy(update={"stages": stages}), followed, warnings)
