"""The coordinator: runs a pipeline's FunctionGraph stage by stage on an executor, tracks every
invocation, and keeps the run record on disk up to date (so a crash leaves a readable record)."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from mlspec import __version__
from mlspec.cache import digest
from mlspec.compile import FunctionNode, graph
from mlspec.compile.graph import missing_requirements
from mlspec.datasets import DatasetError, verify_source
from mlspec.errors import RunFailed, RunRejected, UsageError, is_permanent
from mlspec.executors.base import Executor, Invocation, Limits, Outcome, stage_limits
from mlspec.executors.stage_cache import USE_CACHE, CacheSettings, StageCache, dataset_identity
from mlspec.layout import checkpoint_key
from mlspec.records import FollowedPlan, InvocationRecord, RunDir, RunRecord, StageRecord, cache_store, new_run_id
from mlspec.records.model import RunPurpose
from mlspec.records.store import RecordNotSaved
from mlspec.references import load
from mlspec.spec.models import Pipeline
from mlspec.storage import is_local_store, open_object_store, open_param_store


class Reporter(Protocol):
    def stage_started(self, stage: StageRecord, node: FunctionNode) -> None: ...
    def progress(self, stage: str, invocation: str, progress: dict[str, Any]) -> None: ...
    def stage_finished(self, stage: StageRecord) -> None: ...


class Steering(Protocol):
    """What steers a stage's rounds of invocations while they run (a re-planning train stage): it sees
    their progress, and chooses the node each round runs (another worker count after a re-plan)."""

    def round_starting(self, node: FunctionNode, namespace: str) -> FunctionNode: ...
    def progress(self, invocation: str, progress: dict[str, Any]) -> None: ...


class SilentReporter:
    """A reporter that shows nothing (profiling runs, tests)."""

    def stage_started(self, stage: StageRecord, node: FunctionNode) -> None:
        return None

    def progress(self, stage: str, invocation: str, progress: dict[str, Any]) -> None:
        return None

    def stage_finished(self, stage: StageRecord) -> None:
        return None


@dataclass
class StageRun:
    """What a stage driver needs beyond its FunctionNode: the run it belongs to and where to run."""

    pipeline: Pipeline
    record: RunRecord
    run_dir: RunDir
    executor: Executor
    reporter: Reporter
    limits: Limits
    stores: dict[str, Any]
    cache_dir: Path
    cache: StageCache


StageDriver = Callable[[FunctionNode, StageRun], None]

# Stage kinds that need more than "run the invocations, retrying from checkpoints"; "module:function".
STAGE_DRIVERS: dict[str, str] = {
    "preprocess": "mlspec.executors.preprocess_driver:run_preprocess_stage",
    "tune": "mlspec.executors.tune_driver:run_tune_stage",
    "iterative": "mlspec.executors.iterative_driver:run_iterative_stage",
    "train": "mlspec.executors.replan_driver:run_train_stage",
}


def stage_driver(kind: str) -> StageDriver:
    if kind not in STAGE_DRIVERS:
        return run_stage
    driver: StageDriver = load(STAGE_DRIVERS[kind])
    return driver


def default_cache_dir() -> Path:
    return Path(os.environ.get("MLSPEC_CACHE", Path.home() / ".cache" / "mlspec"))


def run_pipeline(
    pipeline: Pipeline,
    spec_file: str,
    overrides: list[str],
    executor: Executor,
    run_dir: RunDir,
    reporter: Reporter,
    limits: Limits,
    target: str = "local",
    purpose: RunPurpose = "run",
    warnings: Sequence[str] = (),
    cache: CacheSettings = USE_CACHE,
    plan: FollowedPlan | None = None,
) -> RunRecord:
    """Execute every stage; returns the final record. Raises RunFailed (record saved) on failure."""

    cache_dir = default_cache_dir()
    # Fail on a missing file or bad checksum before any function starts.
    dataset_ids: dict[str, str] = {}
    for name, dataset in pipeline.datasets.items():
        config = dataset.model_dump()
        try:
            located = verify_source(config, cache_dir)
        except DatasetError as exc:
            raise UsageError(f"dataset {name!r}: {exc}") from None
        dataset_ids[digest(config)] = dataset_identity(config, located, cache_dir)

    functions = graph(pipeline)
    missing = missing_requirements(functions)
    if missing:
        needs = ", ".join(f"stage {stage!r} needs {package!r}" for stage, package in missing)
        raise UsageError(f"{needs}: not installed here (pip install {' '.join(dict.fromkeys(p for _, p in missing))})")
    stage_cache = StageCache(
        functions,
        cache_store(run_dir.path.parent, pipeline.storage.object_store.model_dump()),
        dataset_ids,
        cache,
        run_dir.run_id,
    )
    for node in functions.nodes:
        allowed = stage_limits(node, limits)
        if node.together and allowed.max_concurrency is not None and node.fan_out > allowed.max_concurrency:
            raise UsageError(
                f"stage {node.stage!r} needs {node.fan_out} workers at once, but the "
                f"{target} target allows {allowed.max_concurrency} ({allowed.max_concurrency_source})"
            )
    run_dir.create()
    record = RunRecord(
        run_id=run_dir.run_id,
        name=pipeline.name,
        spec_file=spec_file,
        overrides=overrides,
        spec=pipeline.model_dump(mode="json", by_alias=True),
        target=target,
        executor=executor.name,
        purpose=purpose,
        started_at=time.time(),
        mlspec_version=__version__,
        coordinator_pid=os.getpid(),
        host={
            "cpus": os.cpu_count(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "name": platform.node(),
        },
        stages={n.stage: StageRecord(name=n.stage, kind=n.kind, workers=n.fan_out) for n in functions.nodes},
        warnings=list(warnings),
        plan=plan,
    )
    run_dir.save(record)  # first: a directory without a record is no run
    run_dir.write_spec(record.spec)
    stores = run_stores(pipeline, run_dir)
    run = StageRun(pipeline, record, run_dir, executor, reporter, limits, stores, cache_dir, stage_cache)
    try:
        with _interrupt_on_signals(executor):
            for node in functions.nodes:
                _run_or_reuse(node, run)
    except BaseException as exc:
        # Whatever ended the run (Ctrl-C, SIGTERM, a failed stage, a bug), no invocation outlives it:
        # they are stopped before their parameter-store keys are deleted under them.
        _stop(executor)
        if record.status == "running" and not isinstance(exc, RecordNotSaved):  # that one marked the run failed
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
            _finish(record, run_dir, "failed", reason)
        raise
    finally:
        _collect_garbage(run.stores, record)
    _finish(record, run_dir, "succeeded", None)
    return record


def _run_or_reuse(node: FunctionNode, run: StageRun) -> None:
    """Restore the stage from the cache, or run it and keep its output there. The cache is a saving, never
    a failure: a store that cannot keep an entry is a warning."""
    stage = run.record.stages[node.stage]
    if run.cache.restore(node, stage, run.record, run.stores["object_store"]):
        run.run_dir.save(run.record)
        run.reporter.stage_started(stage, node)
        run.reporter.stage_finished(stage)
        return
    stage_driver(node.kind)(node, run)
    try:
        run.cache.store(node, stage, run.record, run.stores["object_store"])
    except Exception as exc:
        run.record.warnings.append(f"stage {node.stage!r}: not cached: {type(exc).__name__}: {exc}")
    run.run_dir.save(run.record)


def _stop(executor: Executor) -> None:
    """Stops the executor's running invocations, where it can (a cloud platform's run on to their limit)."""
    stop: Callable[[], None] | None = getattr(executor, "stop", None)
    if stop is not None:
        stop()


@contextlib.contextmanager
def _interrupt_on_signals(executor: Executor) -> Iterator[None]:
    """SIGINT and SIGTERM stop the executor's invocations at once (stage drivers may be waiting for
    them in other threads), then interrupt the run like Ctrl-C. Only the main thread can set handlers:
    elsewhere (a run inside a test's thread) signals keep their disposition."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        _stop(executor)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_stores(pipeline: Pipeline, run_dir: RunDir) -> dict[str, dict[str, Any]]:
    """Store configs for this run's events: every run gets its own namespace in each store."""
    objects = run_dir.object_store(pipeline.storage.object_store.model_dump())
    params = pipeline.storage.param_store.model_dump()
    if is_local_store(params):
        params["root"] = str(run_dir.params)
    return {"object_store": objects, "param_store": params}


def run_stage(node: FunctionNode, run: StageRun) -> None:
    """The default driver: run a stage's invocations (see `run_invocations`). Raises RunFailed (record
    saved) when the stage fails."""
    stage = start_stage(node, run)
    lead = run_invocations(node, run, stage)
    finish_stage(stage, run, lead.get("metrics", {}), lead.get("history", []))


def run_invocations(
    node: FunctionNode, run: StageRun, stage: StageRecord, step: str | None = None, steering: Steering | None = None
) -> dict[str, Any]:
    """Run a node's invocations, restart them from the last checkpoint after a failure (up to the stage's
    `retries`), and chain new invocations while they stop early (for the time limit, or when `steering`
    asks them to); `step` names one step of a stage that runs in several (its invocations get it in their
    id and event). Returns worker 0's result: the full history, resumed epochs included. Fails the stage
    (RunFailed) when they fail."""
    limits = stage_limits(node, run.limits)
    progress = _Checkpoints(run.stores["object_store"], node)

    def report(invocation: str, p: dict[str, Any]) -> None:
        run.reporter.progress(stage.name, invocation, p)
        if steering is not None:
            steering.progress(invocation, p)

    while True:
        before = progress.epoch()
        attempt, link = stage.retries + 1, stage.chained
        if steering is not None:
            node = steering.round_starting(node, round_namespace(run, node, attempt, link))

        outcomes = run.executor.run_group(_invocations(node, run, attempt, link, step), limits, report)
        record_outcomes(stage, run.record, outcomes)
        cause = _root_cause(outcomes)
        if cause is None:
            if (outcomes[0].result or {}).get("completed", True):
                break
            stage.chained += 1
        elif _retryable(cause, progress.epoch() > before) and stage.retries < node.retries:
            stage.retries += 1
            time.sleep(min(2.0**stage.retries, 10.0))  # give a restarting store a moment
        else:
            fail_stage(stage, run, _describe(cause), is_permanent(cause.error))
        run.run_dir.save(run.record)
    return outcomes[0].result or {}


def start_stage(node: FunctionNode, run: StageRun) -> StageRecord:
    stage = run.record.stages[node.stage]
    stage.status, stage.started_at = "running", time.time()
    run.run_dir.save(run.record)
    run.reporter.stage_started(stage, node)
    return stage


def record_outcomes(stage: StageRecord, record: RunRecord, outcomes: list[Outcome]) -> None:
    record.invocations.extend(o.record for o in outcomes)
    stage.invocations += len(outcomes)
    # Only reported peaks: a platform that reports none (HTTP services) leaves the stage's peak None.
    peaks = [p for p in (stage.peak_rss_mb, *(o.record.peak_rss_mb for o in outcomes)) if p is not None]
    stage.peak_rss_mb = max(peaks, default=None)


def fail_stage(stage: StageRecord, run: StageRun, error: str, permanent: bool = False) -> None:
    stage.wall_s = time.time() - (stage.started_at or time.time())
    stage.status, stage.error = "failed", error
    run.reporter.stage_finished(stage)
    _finish(run.record, run.run_dir, "failed", f"stage {stage.name!r} failed: {error}")
    raise (RunRejected if permanent else RunFailed)(run.record.error)


def finish_stage(stage: StageRecord, run: StageRun, metrics: dict[str, Any], history: list[Any]) -> None:
    stage.wall_s = time.time() - (stage.started_at or time.time())
    stage.metrics = {k: float(v) for k, v in metrics.items()}
    stage.history = history
    stage.status = "succeeded"
    run.run_dir.save(run.record)
    run.reporter.stage_finished(stage)


def base_event(node: FunctionNode, run: StageRun, worker: int, namespace: str) -> dict[str, Any]:
    """What every invocation of a node gets: its static config, the stores, and who it is."""
    return {
        **node.config,
        **run.stores,
        "function": node.function,
        "run_id": run.record.run_id,
        "stage": node.stage,
        "worker": worker,
        "cache_dir": str(run.cache_dir),
        "sync_namespace": namespace,
    }


def invocation_suffix(attempt: int, link: int) -> str:
    """What tells a restarted (`~aN`) or chained (`~lN`) invocation's id from the first one's."""
    return "".join(f"{tag}{n}" for tag, n in (("~a", attempt), ("~l", link + 1)) if n > 1)


def round_namespace(run: StageRun, node: FunctionNode, attempt: int, link: int) -> str:
    """The parameter-store namespace of one round of a node's invocations: fresh per round, so that no
    stale key of a failed round is read."""
    return f"{run.record.run_id}/{node.stage}/a{attempt}l{link}"


def _invocations(node: FunctionNode, run: StageRun, attempt: int, link: int, step: str | None) -> list[Invocation]:
    suffix = invocation_suffix(attempt, link)
    namespace = round_namespace(run, node, attempt, link)
    function = node.function + (f".{step}" if step else "")
    return [
        Invocation(
            id=f"{node.stage}.{function}" + (f"#{i}" if node.fan_out > 1 else "") + suffix,
            stage=node.stage,
            function=node.function,
            worker=i if node.fan_out > 1 else None,
            attempt=attempt,
            link=link,
            event={**base_event(node, run, i, namespace), **({"step": step} if step else {})},
        )
        for i in range(node.fan_out)
    ]


class _Checkpoints:
    """Reads how far a training stage has got from its checkpoint pointer in the object store."""

    def __init__(self, object_store: dict[str, Any], node: FunctionNode) -> None:
        self.config = object_store
        self.key = checkpoint_key(node.config["output"]) if node.checkpointed else None

    def epoch(self) -> int:
        if self.key is None:
            return 0

        store = open_object_store(self.config)
        if not store.exists(self.key):
            return 0
        return int(json.loads(store.get(self.key))["epoch"])


def _retryable(cause: InvocationRecord, progressed: bool) -> bool:
    """Crashes and lost stores are retried (unless the input itself was refused); running out of memory would
    only happen again, and a time limit is worth retrying only when the last attempt got further."""
    if cause.status == "error":
        return not is_permanent(cause.error)
    return cause.status == "timeout" and progressed


def _root_cause(outcomes: list[Outcome]) -> InvocationRecord | None:
    """The first invocation that failed on its own, not one stopped because of it."""
    failed = [o.record for o in outcomes if o.record.status != "ok"]
    if not failed:
        return None
    return next((r for r in failed if r.status != "killed"), failed[0])


def _describe(cause: InvocationRecord) -> str:
    who = f"worker {cause.worker} ({cause.id})" if cause.worker is not None else cause.id
    return f"{who} {cause.error}"


def _finish(record: RunRecord, run_dir: RunDir, status: str, error: str | None) -> None:
    record.status = "succeeded" if status == "succeeded" else "failed"
    record.error = error
    record.finished_at = time.time()
    record.wall_s = record.finished_at - record.started_at
    run_dir.save(record)


def _collect_garbage(stores: dict[str, Any], record: RunRecord) -> None:
    """Per-run keys in the parameter store are deleted at the end, whatever happened; a store that
    cannot be reached then is noted in the record rather than hiding the run's own outcome."""

    try:
        open_param_store(stores["param_store"]).delete_prefix(record.run_id)
    except Exception as exc:
        record.warnings.append(f"parameter store keys under {record.run_id!r} not deleted: {exc}")


def new_run_dir(root: Path, pipeline: Pipeline) -> RunDir:
    return RunDir(root, new_run_id(pipeline.name))
