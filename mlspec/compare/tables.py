"""Comparison tables as plain data: a run's tasks x platforms (time, cost, accuracy), and runs side by side.

Nothing here prints; `mlspec.compare.formats` turns these dataclasses into terminal, Markdown, CSV, JSON
or HTML. Every figure carries its label (DESIGN.md, "Rules that keep the numbers honest"):

- ``measured``: what the run really did on the platform it ran on (wall time from the run record; cost
  is the measured invocations priced at that platform's catalog prices, which is zero on this machine);
- ``modelled``: the run's measured per-stage usage scaled to another platform by the shared time and
  cost model (`mlspec.planner.timemodel.estimate_stage`), with that platform's billing rules and vCPU
  envelope, at the memory the spec's ``targets`` section (or mlspec's default for the target) sets.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from mlspec.compare.plan_outcome import StageOutcome, plan_outcome, replan_notes
from mlspec.errors import MlspecError, UsageError
from mlspec.planner.timemodel import estimate_stage
from mlspec.planner.usage import usage_from_record
from mlspec.providers import registry
from mlspec.providers.catalog import Offering, ProviderLimitError
from mlspec.providers.pricing import price
from mlspec.providers.registry import COMPARISON_OFFERING, LOCAL, get_platform, offering_selected_by, provider_keys
from mlspec.records.model import InvocationRecord, RunRecord
from mlspec.records.runs import RunEntry, find_run, list_runs
from mlspec.references import load
from mlspec.storage import LOCAL_STORE

Label = Literal["measured", "modelled"]
DEFAULT_COST_PLATFORM = COMPARISON_OFFERING
# Which offering of a provider the spec's target settings select (the field, its value -> offering key).


# ---------------------------------------------------------------- selecting runs


def readable(entry: RunEntry) -> RunRecord:
    """The record of `entry`, or UsageError (exit 2) saying why it cannot be compared."""
    if entry.record is None:
        raise UsageError(f"run {entry.run_id} cannot be compared: {entry.problem}")
    return entry.record


def select_runs(root: Path, run_ids: Sequence[str], last: int) -> tuple[list[RunRecord], list[str]]:
    """The records named by `run_ids` (ids or unique prefixes), or else the latest `last` readable runs.

    Returns the records (in the order asked, or oldest first) and notes on runs that were skipped."""
    if run_ids:
        return [readable(find_run(root, r)) for r in run_ids], []
    entries = list_runs(root)
    if not entries:
        raise UsageError(f"no runs in {root} yet; run one with `mlspec run PIPELINE.yaml`")
    shown = [e for e in entries if e.record is not None][-last:]
    notes = [f"skipped {e.run_id}: failed ({e.problem})" for e in entries[-last:] if e.record is None]
    notes += [f"{e.run_id} failed: {e.problem}" for e in shown if e.problem is not None]
    records = [e.record for e in shown if e.record is not None]
    if not records:
        raise UsageError(f"no readable run in {root}: " + "; ".join(notes))
    return records, notes


def latest_record(root: Path) -> tuple[RunRecord, list[str]]:
    """The latest run that succeeded (else the latest readable one), with notes on what was skipped."""
    entries = list_runs(root)
    readable_entries = [e for e in entries if e.record is not None]
    if not readable_entries:
        problems = "; ".join(f"{e.run_id}: {e.problem}" for e in entries[-3:])
        raise UsageError(f"no readable run in {root}" + (f" ({problems})" if problems else ""))
    succeeded = [e for e in readable_entries if e.status == "succeeded"]
    chosen = (succeeded or readable_entries)[-1]
    notes = [
        f"skipped {e.run_id}: failed ({e.problem})"
        for e in entries
        if e.record is None and e.started_at > chosen.started_at
    ]
    assert chosen.record is not None
    return chosen.record, notes


# ---------------------------------------------------------------- column filters


def filter_names(
    names: Iterable[str], keep: Sequence[str] = (), drop: Sequence[str] = (), always: Iterable[str] = ()
) -> list[str]:
    """Names matching any `keep` regex (all when none is given) and no `drop` regex; `always` stay."""
    keep_res = [_compile(p) for p in keep]
    drop_res = [_compile(p) for p in drop]
    fixed = set(always)
    out = []
    for name in names:
        if name in fixed:
            out.append(name)
            continue
        if keep_res and not any(r.search(name) for r in keep_res):
            continue
        if any(r.search(name) for r in drop_res):
            continue
        out.append(name)
    return out


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"invalid column regex {pattern!r}: {exc}") from exc


# ---------------------------------------------------------------- tasks x platforms


@dataclass
class Platform:
    """One column of the platform tables: a catalog offering and the settings it is modelled with."""

    id: str  # provider:offering
    name: str
    measured: bool  # the run really executed there
    memory_mb: dict[str, int]  # per stage
    memory_source: str  # where the memory came from (spec, mlspec default, nearest allowed size)
    vcpu: float | None
    cluster: str | None = None  # measured on a serverful cluster run by this executor (e.g. ray), not as functions

    @property
    def label(self) -> Label:
        return "measured" if self.measured else "modelled"

    @property
    def caption(self) -> str:
        """The label as a column says it: where the measured figures come from."""
        return f"measured on a {self.cluster} cluster, serverful" if self.cluster else self.label

    def memory_text(self) -> str:
        values = sorted(set(self.memory_mb.values()))
        return "/".join(str(v) for v in values) + " MB" if values else "-"


@dataclass
class Cell:
    """One task on one platform. `time_s` and `cost_usd` carry `label`; on the measured platform the
    model's own figures for the same run sit beside the measured ones, with the model's error."""

    platform: str
    label: Label
    time_s: float | None
    cost_usd: float | None
    stages: dict[str, dict[str, float]] = field(default_factory=dict)  # stage -> time_s, cost_usd
    modelled_time_s: float | None = None
    modelled_cost_usd: float | None = None
    model_error_pct: float | None = None  # (modelled - measured) / measured time, in %
    cost_model_error_pct: float | None = None
    problem: str | None = None  # why a figure is missing
    # A run on a serverful cluster: its measured invocation times at the cluster's VM offering's prices.
    cluster_cost_usd: float | None = None
    fastest: bool = False
    cheapest: bool = False


@dataclass
class Task:
    """A train stage with the preprocess stage it reads and the evaluate stages of its model."""

    name: str  # the train stage
    title: str  # dataset and model, for table rows
    stages: list[str]
    accuracy: float | None  # evaluate stage's test_accuracy, measured on the held-out split
    accuracy_stage: str | None
    cells: dict[str, Cell] = field(default_factory=dict)
    # Stages reused from the stage cache -> (the run that computed them, the restore's measured seconds):
    # no function ran, on any platform.
    cached: dict[str, tuple[str, float]] = field(default_factory=dict)

    def cached_figures(self, stage: str) -> dict[str, float] | None:
        """A cached stage's figures, the same on every platform; None for a stage that ran."""
        if stage not in self.cached:
            return None
        return {"time_s": self.cached[stage][1], "cost_usd": 0.0, "invocations": 0.0, "cached": 1.0}

    @property
    def fastest(self) -> str | None:
        return next((p for p, c in self.cells.items() if c.fastest), None)

    @property
    def cheapest(self) -> str | None:
        return next((p for p, c in self.cells.items() if c.cheapest), None)


@dataclass
class PlatformComparison:
    run_id: str
    name: str
    target: str
    status: str
    host: dict[str, Any]
    platforms: list[Platform]
    tasks: list[Task]
    history: dict[str, list[dict[str, float]]]  # train stage -> per-epoch metrics
    notes: list[str]
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # tune stage -> its trials
    plan_outcome: list[StageOutcome] = field(default_factory=list)  # a run that followed a plan: model vs it

    @property
    def measured_platform(self) -> str | None:
        return next((p.id for p in self.platforms if p.measured), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "view": "platforms",
            "run_id": self.run_id,
            "name": self.name,
            "target": self.target,
            "status": self.status,
            "host": self.host,
            "platforms": [{**asdict(p), "label": p.label} for p in self.platforms],
            "tasks": [
                {
                    "task": t.name,
                    "title": t.title,
                    "stages": t.stages,
                    "accuracy": {
                        "value": t.accuracy,
                        "label": "measured",
                        "stage": t.accuracy_stage,
                        "metric": "test_accuracy (held-out test split)",
                    },
                    "fastest": t.fastest,
                    "cheapest": t.cheapest,
                    "cells": {p: asdict(c) for p, c in t.cells.items()},
                }
                for t in self.tasks
            ],
            "history": self.history,
            "trials": {stage: [{**t, "label": "measured"} for t in trials] for stage, trials in self.trials.items()},
            "plan_outcome": [row.to_dict() for row in self.plan_outcome],
            "notes": self.notes,
        }


def compare_platforms(record: RunRecord, keep: Sequence[str] = (), drop: Sequence[str] = ()) -> PlatformComparison:
    """The run's measured usage timed and priced on every catalog offering (columns filtered by regex)."""

    offerings = {o.id: o for o in registry.all_offerings()}
    measured_id = _measured_offering(record, offerings)
    ids = filter_names(offerings, keep, drop)
    if not ids:
        raise UsageError(f"--keep/--drop leave no platform; platforms: {', '.join(offerings)}")
    usages = usage_from_record(record)
    tasks = _tasks(record)
    stage_names = [s for t in tasks for s in t.stages]
    notes: list[str] = []
    platforms = [_platform(record, offerings[i], stage_names, i == measured_id) for i in ids]
    for platform in platforms:
        offering = offerings[platform.id]
        for task in tasks:
            if platform.measured:
                task.cells[platform.id] = _measured_cell(record, task, platform, offering, usages)
            else:
                task.cells[platform.id] = _modelled_cell(task, platform, offering, usages)
    for task in tasks:
        _mark_best(task, [p.id for p in platforms if not p.id.startswith("local:")])
        for stage in task.stages:
            usage = usages.get(stage)
            peak = usage.peak_rss_mb if usage is not None and usage.peak_rss_reported else None  # measured only
            low = [p.id for p in platforms if peak is not None and p.memory_mb.get(stage, 1 << 30) < peak]
            if low:
                notes.append(
                    f"{task.name}: {stage} peaked at {peak:.0f} MB measured, above the memory modelled "
                    f"on {', '.join(low)}; it would be stopped there"
                )
    notes[:0] = _standard_notes(record, platforms, measured_id) + _mark_cluster_run(record, platforms, tasks)
    notes += cached_notes(record)
    outcome = plan_outcome(record)
    notes += [
        f"plan: {row.stage} placed on {row.platform}: modelled {row.modelled_time_s:.1f} s, emulated here "
        + (f"{row.emulated_time_s:.1f} s ({row.time_error_pct:+.0f}%)" if row.time_error_pct is not None else "-")
        for row in outcome
    ]
    notes += replan_notes(record)
    history = {t.name: record.stages[t.name].history for t in tasks if t.name in record.stages}
    trials = {
        name: [{**t.model_dump(), "best": t.index == stage.metrics.get("best_trial")} for t in stage.trials]
        for name, stage in record.stages.items()
        if stage.trials
    }
    return PlatformComparison(
        run_id=record.run_id,
        name=record.name,
        target=record.target,
        status=record.status,
        host=record.host,
        platforms=platforms,
        tasks=tasks,
        history=history,
        notes=notes,
        trials=trials,
        plan_outcome=outcome,
    )


def store_kind(record: RunRecord) -> str:
    """The kind of object store the run's functions used (the record's spec holds the one they were given)."""
    return str(((record.spec.get("storage") or {}).get("object_store") or {}).get("kind", LOCAL_STORE))


def cross_cloud_egress(offering: Offering, kind: str, invocations: Sequence[InvocationRecord]) -> tuple[float, float]:
    """(GB, USD) the invocations moved between their platform's cloud and an object store of another
    cloud: what they read leaves the store's cloud (at its egress price), what they wrote leaves theirs."""
    store = registry.store_platform(kind)
    # a platform of the store's own cloud (EC2 VMs beside Lambda, both on S3) moves nothing out of it
    if store is None or store.object_store_kind == get_platform(offering.provider_key).object_store_kind:
        return 0.0, 0.0
    read_gb = sum(i.io.get("object_bytes_read", 0) for i in invocations) / 1e9
    written_gb = sum(i.io.get("object_bytes_written", 0) for i in invocations) / 1e9
    usd = (
        read_gb * registry.get_offering(store.key).cloud.egress_per_gb_usd.value
        + written_gb * offering.cloud.egress_per_gb_usd.value
    )
    return read_gb + written_gb, usd


def _standard_notes(record: RunRecord, platforms: list[Platform], measured_id: str | None) -> list[str]:
    notes = [
        f"measured: run {record.run_id} really executed on {measured_id or record.target} "
        f"(host: {record.host.get('cpus', '?')} CPUs); time is the stages' measured wall time, cost its "
        "measured invocations at that platform's catalog prices (nothing is billed on this machine).",
        "modelled: the run's measured per-stage usage (CPU seconds, invocations, bytes moved) timed and priced "
        "by mlspec's time/cost model with each platform's billing rules, vCPU envelope, cold starts and time "
        "limit, at the run's worker counts; prices are catalog facts with source and date "
        "(`mlspec.providers`), the model's constants are assumptions.",
        "a task's time and cost add its preprocess, train and evaluate stages, run one after another.",
        "fastest / cheapest are marked among the cloud platforms (this machine is excluded: it bills nothing).",
        "accuracy is measured on the held-out test split by the evaluate stage; it does not depend on the platform.",
    ]
    keys = [p.id.split(":", 1) for p in platforms]
    priced_only = [f"{k}:{o}" for k, o in keys if k != LOCAL and not get_platform(k).deploys(o)]
    if priced_only:
        notes.append(
            f"priced only: {', '.join(priced_only)}: mlspec compares their cost but cannot deploy to them "
            "(`mlspec plan` places stages only on the others unless --priced-only)."
        )
    kind = store_kind(record)
    store = registry.store_platform(kind)
    if measured_id and store is not None and store.key != measured_id.split(":")[0]:
        notes.append(
            f"egress: the run's object store ({kind}) is in {store.key}'s cloud, not "
            f"{measured_id.split(':')[0]}'s: the bytes its functions moved to and from it are priced as egress "
            "(reads at the store's cloud's price, writes at the functions'), in the measured cost."
        )
    for p in platforms:
        notes.append(
            f"memory on {p.id}: {p.memory_text()} ({p.memory_source})"
            + (f", {p.vcpu:g} vCPU" if p.vcpu is not None else "")
        )
    return notes


def _mark_cluster_run(record: RunRecord, platforms: list[Platform], tasks: list[Task]) -> list[str]:
    """A run made on a serverful cluster (Ray): marks its measured column as such, prices each task's measured
    times on the cluster's VM offering (in the measured cell), and returns the note that says so."""
    cluster = registry.cluster_platform(record.executor)
    measured = next((p for p in platforms if p.measured), None)
    if cluster is None or measured is None:
        return []
    measured.cluster = record.executor
    vm = registry.get_offering(cluster.key)
    column = next((p for p in platforms if p.id == vm.id), None) or _platform(
        record, vm, [s for t in tasks for s in t.stages], measured=False
    )
    costs = []
    for task in tasks:
        stages, problem = _measured_stages(record, task, column, vm)
        cell = task.cells.get(measured.id)
        if problem is None and cell is not None:
            cell.cluster_cost_usd = sum(s["cost_usd"] for s in stages.values())
            costs.append(f"{task.name} ${cell.cluster_cost_usd:.6f}")
    return [
        f"serverful: run {record.run_id} ran on a {record.executor} cluster (serverful): the {measured.id} "
        f"column's times are measured there; the serverful cost is {vm.id}'s price for those measured times ("
        + (", ".join(costs) or "none: no task's stages all succeeded")
        + f"; measured time x assumed catalog price, {column.memory_text()} per worker). The {vm.id} column "
        "models the run's usage instead, like every other platform."
    ]


def cached_notes(record: RunRecord) -> list[str]:
    """One line per run a stage was reused from: which stages, and that they cost nothing here."""
    origins: dict[str, list[str]] = {}
    for name, stage in record.stages.items():
        if stage.cached_from is not None:
            origins.setdefault(stage.cached_from.run_id, []).append(name)
    return [
        f"cached: {', '.join(names)} of run {record.run_id} reused from run {origin} (stage cache): no function "
        "ran, so they cost nothing on any platform; their time is the restore's, measured; their metrics were "
        "measured in that run"
        for origin, names in origins.items()
    ]


def _tasks(record: RunRecord) -> list[Task]:
    stages_spec: dict[str, dict[str, Any]] = record.spec.get("stages") or {}
    datasets: dict[str, dict[str, Any]] = record.spec.get("datasets") or {}
    tasks = []
    for name, spec in stages_spec.items():
        if spec.get("kind") != "train":
            continue
        prep = spec.get("data")
        evals = [n for n, s in stages_spec.items() if s.get("kind") == "evaluate" and s.get("model") == name]
        stages = [s for s in (prep, spec.get("hyperparameters"), name, *evals) if isinstance(s, str)]
        ds_name = (stages_spec.get(prep) or {}).get("dataset") if isinstance(prep, str) else None
        ds = datasets.get(ds_name or "") or {}
        ds_text = ds_name or "?"
        if ds.get("format"):
            ds_text += f" ({ds['format']}{', synthetic' if not ds.get('path') else ''})"
        accuracy, acc_stage = None, None
        for e in evals:
            stage = record.stages.get(e)
            if stage is not None and "test_accuracy" in stage.metrics:
                accuracy, acc_stage = stage.metrics["test_accuracy"], e
                break
        cached = {
            s: (r.cached_from.run_id, r.wall_s or 0.0)
            for s in stages
            if (r := record.stages.get(s)) is not None and r.cached_from is not None
        }
        tasks.append(
            Task(
                name=name,
                title=f"{ds_text} · {spec.get('model', '?')}",
                stages=stages,
                accuracy=accuracy,
                accuracy_stage=acc_stage,
                cached=cached,
            )
        )
    return tasks


def _measured_offering(record: RunRecord, offerings: dict[str, Any]) -> str | None:
    provider = "local" if record.target == "local" else record.target.split(":")[0]
    keys = [i for i in offerings if i.split(":")[0] == provider]
    if not keys:
        return None
    if ":" in record.target and record.target in offerings:
        return record.target
    selected = offering_selected_by(provider, ((record.spec.get("targets") or {}).get(provider)) or {})
    wanted = f"{provider}:{selected}" if selected else None
    return wanted if wanted in keys else keys[0]


def _target_settings(record: RunRecord, provider: str) -> tuple[dict[str, Any], bool]:
    """The spec's settings for `provider`'s target (True), or mlspec's defaults for it (False)."""
    given = (record.spec.get("targets") or {}).get(provider)
    if isinstance(given, dict) and given:
        return given, True
    if provider not in provider_keys():
        return {}, False
    defaults: dict[str, Any] = load(get_platform(provider).target)().model_dump()
    return defaults, False


def _platform(record: RunRecord, offering: Any, stage_names: list[str], measured: bool) -> Platform:

    settings, from_spec = _target_settings(record, offering.provider_key)
    stages_spec: dict[str, dict[str, Any]] = record.spec.get("stages") or {}
    base = settings.get("memory_mb")
    sources: set[str] = set()
    memory: dict[str, int] = {}
    for stage in stage_names:
        wanted = (stages_spec.get(stage) or {}).get("memory_mb") or base
        key = offering.provider_key
        source = (
            f"stages.{stage}.memory_mb"
            if (stages_spec.get(stage) or {}).get("memory_mb")
            else f"spec targets.{key}.memory_mb"
            if from_spec and base
            else f"mlspec's default for {key}"
            if base
            else "the platform's minimum"
        )
        mb, snapped = _allowed_memory(offering, int(wanted) if wanted else offering.memory_min_mb.value)
        memory[stage] = mb
        sources.add(source + (f", nearest allowed size to {wanted} MB" if snapped else ""))
    vcpu: float | None = None
    if measured and offering.provider_key == "local":
        host = record.host.get("cpus")
        vcpu = float(host) if host else None
    elif isinstance(settings.get("vcpu"), int | float):
        vcpu = float(settings["vcpu"])
    if vcpu is not None:
        try:
            for mb in set(memory.values()):
                offering.vcpus_for(mb, vcpu)
        except ProviderLimitError:
            vcpu = None
    return Platform(
        id=offering.id,
        name=offering.display_name,
        measured=measured,
        memory_mb=memory,
        memory_source="; ".join(sorted(sources)) or "-",
        vcpu=vcpu,
    )


def _allowed_memory(offering: Any, wanted: int) -> tuple[int, bool]:
    """`wanted` if the offering accepts it, else its nearest allowed size (the next larger when there is one)."""

    try:
        offering.check_memory(wanted)
        return wanted, False
    except ProviderLimitError:
        pass
    lo, hi = offering.memory_min_mb.value, offering.memory_max_mb.value
    if offering.allowed_memory_mb is not None:
        sizes = sorted(offering.allowed_memory_mb.value)
        larger = [s for s in sizes if s >= wanted]
        return (larger[0] if larger else sizes[-1]), True
    step = offering.memory_step_mb.value
    clamped = min(max(wanted, lo), hi)
    steps = math.ceil((clamped - lo) / step)
    mb = lo + steps * step
    return (mb if mb <= hi else hi), True


def _estimates(
    task: Task, platform: Platform, offering: Any, usages: dict[str, Any]
) -> tuple[dict[str, dict[str, float]], str | None]:

    out: dict[str, dict[str, float]] = {}
    for stage in task.stages:
        cached = task.cached_figures(stage)
        if cached is not None:
            out[stage] = cached
            continue
        usage = usages.get(stage)
        if usage is None:
            return out, f"stage {stage} did not succeed in this run; nothing measured to model"
        try:
            est = estimate_stage(usage, offering, platform.memory_mb[stage], vcpu=platform.vcpu)
        except (MlspecError, ValueError) as exc:
            return out, f"{stage}: {exc}"
        out[stage] = {
            "time_s": est.time_s,
            "cost_usd": est.cost_usd,
            "memory_mb": float(est.memory_mb),
            "vcpu": est.vcpu,
            "workers": float(est.workers),
            "invocations": float(est.invocations),
        }
    return out, None


def _modelled_cell(task: Task, platform: Platform, offering: Any, usages: dict[str, Any]) -> Cell:
    stages, problem = _estimates(task, platform, offering, usages)
    if problem is not None:
        return Cell(platform.id, "modelled", None, None, stages, problem=problem)
    return Cell(
        platform.id,
        "modelled",
        sum(s["time_s"] for s in stages.values()),
        sum(s["cost_usd"] for s in stages.values()),
        stages,
    )


def _measured_stages(
    record: RunRecord, task: Task, platform: Platform, offering: Any
) -> tuple[dict[str, dict[str, float]], str | None]:
    """Each stage's measured wall time, and its measured invocations priced on `offering` (egress to another
    cloud's store included); or why a stage has none."""
    stages: dict[str, dict[str, float]] = {}
    for stage in task.stages:
        cached = task.cached_figures(stage)
        if cached is not None:
            stages[stage] = cached
            continue
        srec = record.stages.get(stage)
        invs = [i for i in record.invocations if i.stage == stage]
        if srec is None or srec.status != "succeeded" or srec.wall_s is None or not invs:
            return stages, f"stage {stage} did not succeed in this run ({srec.status if srec else 'missing'})"
        per_inv = sum(i.wall_s for i in invs) / len(invs)
        cost = price(
            offering, platform.memory_mb[stage], per_inv, len(invs), vcpu=platform.vcpu, check_limits=False
        ).total_usd
        egress_gb, egress_usd = cross_cloud_egress(offering, store_kind(record), invs)
        stages[stage] = {"time_s": srec.wall_s, "cost_usd": cost + egress_usd, "invocations": float(len(invs))}
        if egress_gb:
            stages[stage] |= {"egress_gb": egress_gb, "egress_usd": egress_usd}
    return stages, None


def _measured_cell(record: RunRecord, task: Task, platform: Platform, offering: Any, usages: dict[str, Any]) -> Cell:

    stages, problem = _measured_stages(record, task, platform, offering)
    if problem is not None:
        return Cell(platform.id, "measured", None, None, stages, problem=problem)
    cell = Cell(
        platform.id,
        "measured",
        sum(s["time_s"] for s in stages.values()),
        sum(s["cost_usd"] for s in stages.values()),
        stages,
    )
    modelled, problem = _estimates(task, platform, offering, usages)
    if problem is None and cell.time_s:
        cell.modelled_time_s = sum(s["time_s"] for s in modelled.values())
        cell.modelled_cost_usd = sum(s["cost_usd"] for s in modelled.values())
        cell.model_error_pct = 100.0 * (cell.modelled_time_s - cell.time_s) / cell.time_s
        if cell.cost_usd:
            cell.cost_model_error_pct = 100.0 * (cell.modelled_cost_usd - cell.cost_usd) / cell.cost_usd
        for stage, figures in modelled.items():
            stages[stage]["modelled_time_s"] = figures["time_s"]
            stages[stage]["modelled_cost_usd"] = figures["cost_usd"]
    elif problem is not None:
        cell.problem = f"model not checked: {problem}"
    return cell


def _mark_best(task: Task, candidates: list[str]) -> None:
    cells = [task.cells[p] for p in candidates if p in task.cells]
    timed = [c for c in cells if c.time_s is not None]
    priced = [c for c in cells if c.cost_usd is not None]
    if timed:
        min(timed, key=lambda c: c.time_s or 0.0).fastest = True
    if priced:
        min(priced, key=lambda c: c.cost_usd or 0.0).cheapest = True


# ---------------------------------------------------------------- runs side by side


@dataclass
class Column:
    name: str
    group: Literal["run", "param", "metric", "time", "cost"]
    label: str  # measured, modelled, setting


@dataclass
class RunsTable:
    columns: list[Column]
    rows: list[dict[str, Any]]  # column name -> value, one per run
    notes: list[str]
    history: dict[str, dict[str, list[dict[str, float]]]]  # run id -> train stage -> per-epoch metrics

    def to_dict(self) -> dict[str, Any]:
        return {"view": "runs", "columns": [asdict(c) for c in self.columns], "rows": self.rows, "notes": self.notes}


Comparison = PlatformComparison | RunsTable  # what a format renders


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys; lists become JSON-like text so that a column holds one value."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(value, list | tuple):
        return {prefix: "[" + ", ".join(str(v) for v in value) + "]"}
    return {prefix: value}


def compare_runs(
    records: Sequence[RunRecord],
    only_changed: bool = False,
    sort_by: str | None = None,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    platform: str = DEFAULT_COST_PLATFORM,
) -> RunsTable:
    """Runs side by side: spec parameters, metrics (`stage.metric`), measured wall time and cost modelled on
    `platform`. `only_changed` keeps the parameters that differ between runs (metrics always stay); with one
    run, nothing differs, so every parameter is shown."""

    offering = registry.get_offering(platform)
    params = [flatten(r.spec) for r in records]
    param_names = sorted({k for p in params for k in p})
    only_changed = only_changed and len(records) > 1
    if only_changed:
        param_names = [k for k in param_names if len({repr(p.get(k)) for p in params}) > 1]
    metric_names: list[str] = []
    for r in records:
        for stage, srec in r.stages.items():
            for m in srec.metrics:
                if f"{stage}.{m}" not in metric_names:
                    metric_names.append(f"{stage}.{m}")
    cost_name = f"cost_usd[{offering.id}]"
    columns = [Column("run", "run", "id"), Column("status", "run", "measured")]
    columns += [Column(k, "param", "setting") for k in param_names]
    columns += [Column(m, "metric", "measured") for m in metric_names]
    columns += [Column("wall_s", "time", "measured"), Column(cost_name, "cost", "modelled")]
    rows = []
    notes: list[str] = []
    for r, p in zip(records, params, strict=True):
        row: dict[str, Any] = {"run": r.run_id, "status": r.status, "wall_s": r.wall_s}
        row.update({k: p.get(k) for k in param_names})
        row.update({f"{s}.{m}": v for s, srec in r.stages.items() for m, v in srec.metrics.items()})
        row[cost_name], problem = _modelled_run_cost(r, offering)
        if problem:
            notes.append(f"{r.run_id}: {problem}")
        notes += cached_notes(r)
        rows.append(row)
    names = filter_names([c.name for c in columns], keep, drop, always=("run",))
    columns = [c for c in columns if c.name in names]
    if sort_by is not None:
        rows = _sorted(rows, sort_by, [c.name for c in columns])
    notes[:0] = [
        "parameters are the resolved spec (after --set overrides and defaults), as dotted keys"
        + ("; only those that differ between the runs are shown (--all shows every one)" if only_changed else ""),
        "metrics and wall_s are measured where each run executed (target: "
        + ", ".join(sorted({r.target for r in records}))
        + ")",
        f"{cost_name} is modelled: each run's measured usage priced on {offering.id} at the spec's memory "
        "for it (or mlspec's default), by the time/cost model shared with `mlspec plan`",
    ]
    history = {r.run_id: {s: st.history for s, st in r.stages.items() if st.history} for r in records}
    return RunsTable(columns=columns, rows=rows, notes=notes, history=history)


def _modelled_run_cost(record: RunRecord, offering: Any) -> tuple[float | None, str | None]:

    usages = usage_from_record(record)
    if not usages:
        if any(s.cached_from is not None for s in record.stages.values()):
            return 0.0, None  # every stage that succeeded was reused: nothing ran, nothing to pay
        return None, "no stage succeeded; nothing to price"
    platform = _platform(record, offering, list(usages), measured=False)
    task = Task(name="run", title="run", stages=list(usages), accuracy=None, accuracy_stage=None)
    cell = _modelled_cell(task, platform, offering, usages)
    return cell.cost_usd, cell.problem


def _sorted(rows: list[dict[str, Any]], sort_by: str, names: list[str]) -> list[dict[str, Any]]:
    descending = sort_by.startswith("-")
    key = sort_by.lstrip("-")
    if key not in names:
        matches = [n for n in names if re.fullmatch(key, n)] if _valid_regex(key) else []
        if len(matches) != 1:
            close = [n for n in names if n.rsplit(".", 1)[-1] == key][:3] or difflib.get_close_matches(key, names, n=3)
            hint = (
                f"did you mean {', '.join(close)}?"
                if close
                else f"{len(names)} columns are shown; --format csv lists them in its first line"
            )
            raise UsageError(f"--sort-by {key!r} is not a shown column; {hint}")
        key = matches[0]

    values = [r.get(key) for r in rows if r.get(key) is not None]
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)

    def order(row: dict[str, Any]) -> Any:
        value = row.get(key)
        return value if numeric else str(value)

    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    return sorted(present, key=order, reverse=descending) + missing


def _valid_regex(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True
