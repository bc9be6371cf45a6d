"""The tune stage's driver: every trial is one training-function invocation on the training split
minus a validation part. Up to `parallel` trials run at once; the search proposes the next
configuration as a slot frees up; the stopping rule watches each trial's per-epoch validation
accuracy and, for a hopeless one, sets a stop key in the parameter store that the trial reads at its
next epoch end (the only channel a function has). The best configuration is written to the object
store, where the train stage naming this tune stage in `hyperparameters` reads it."""

from __future__ import annotations

import itertools
import json
import math
import statistics
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from mlspec.compile import FunctionNode
from mlspec.compile.graph import best_config_key
from mlspec.executors.base import Invocation, Limits, stage_limits
from mlspec.executors.coordinator import (
    StageRun,
    base_event,
    fail_stage,
    finish_stage,
    invocation_suffix,
    record_outcomes,
    start_stage,
)
from mlspec.records import TrialRecord
from mlspec.runtime.hyperparameters import with_hyperparameters
from mlspec.storage import open_object_store, open_param_store
from mlspec.tuning.early_stopping import STOPPING_RULES
from mlspec.tuning.search import Config, make_search


def run_tune_stage(node: FunctionNode, run: StageRun) -> None:
    settings = node.config["tune"]
    stage = start_stage(node, run)
    limits = stage_limits(node, run.limits)
    slots = min(node.fan_out, limits.max_concurrency or node.fan_out)
    trials = _Trials(node, run, limits, settings)
    search = make_search(settings["search"], settings["space"], settings["trials"], node.config["seed"])
    pending: dict[Future[TrialRecord], Config] = {}
    proposals: list[Config | None] = [settings["default"]]  # trial 0: the spec's own values
    with ThreadPoolExecutor(max_workers=slots, thread_name_prefix="trial") as pool:
        while True:
            # Refill every free slot as soon as any trial ends (one stopped early included), not per batch.
            while len(pending) < slots:
                config = proposals.pop(0) if proposals else search.ask()
                if config is None:
                    break
                pending[pool.submit(trials.run, config)] = config
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                trial = future.result()
                search.tell(pending.pop(future), trial.validation_accuracy if trial.status != "failed" else None)
    stage.trials = sorted(trials.records, key=lambda t: t.index)
    scored = [t for t in stage.trials if t.validation_accuracy is not None]
    if not scored:
        fail_stage(stage, run, f"every trial failed; the first: {stage.trials[0].error}")
    # A trial that ran to the end beats one stopped as hopeless; then accuracy; ties: the earlier trial.
    best = max(scored, key=lambda t: (t.status == "ok", t.validation_accuracy or 0.0, -t.index))
    stage.best = best.values
    open_object_store(run.stores["object_store"]).put(
        best_config_key(node.stage), json.dumps({"values": best.values, "trial": best.index}).encode()
    )
    default = stage.trials[0]
    metrics: dict[str, Any] = {
        "trials": len(stage.trials),
        "best_trial": best.index,
        "best_validation_accuracy": best.validation_accuracy,
        "stopped_early": sum(t.status == "stopped" for t in stage.trials),
        "failed_trials": sum(t.status == "failed" for t in stage.trials),
        **trials.saving(),
    }
    if default.validation_accuracy is not None:
        metrics["default_validation_accuracy"] = default.validation_accuracy
    finish_stage(stage, run, metrics, trials.histories.get(best.index, []))


def planned_trials(settings: dict[str, Any]) -> int:
    """How many trials the search will run, the default included (a grid may be smaller than `trials`)."""
    if settings["search"] == "grid":
        return 1 + min(settings["trials"], math.prod(len(r["values"]) for r in settings["space"].values()))
    return 1 + int(settings["trials"])


class _Trials:
    """Runs one trial per call (from the pool's threads), retrying it from its own checkpoint after
    a crash, feeds its progress to the stopping rule, and reports how many trials are done, running
    and stopped."""

    def __init__(self, node: FunctionNode, run: StageRun, limits: Limits, settings: dict[str, Any]) -> None:
        self.node, self.run_, self.limits = node, run, limits
        self.stopping = STOPPING_RULES[settings["early_stopping"]](settings["grace_epochs"])
        self.params = open_param_store(run.stores["param_store"])
        self.lock = threading.Lock()
        self.total = planned_trials(settings)
        self.next_index = 0
        self.running = 0
        self.records: list[TrialRecord] = []
        self.histories: dict[int, list[dict[str, float]]] = {}
        self.epochs_run: dict[int, float] = {}  # of the stopped trials, a partly run last epoch counted pro rata
        self.epoch_ends: dict[int, list[float]] = {}  # trial -> when each of its epochs was reported (monotonic)

    def report(self, invocation: str, detail: str = "") -> None:
        """The stage's progress in trials (the caller holds the lock, so the counts are consistent)."""
        done = len(self.records)
        stopped = sum(t.status == "stopped" for t in self.records)
        phase = f"trial {done}/{self.total} done, {self.running} running, {stopped} stopped early"
        self.run_.reporter.progress(
            self.node.stage,
            invocation,
            {
                "phase": phase + (f"; {detail}" if detail else ""),
                "unit": "trials",
                "done": done,
                "total": self.total,
                "running": self.running,
                "stopped": stopped,
            },
        )

    def run(self, config: Config) -> TrialRecord:
        with self.lock:
            index, self.next_index = self.next_index, self.next_index + 1
            self.running += 1
            self.report(f"{self.node.stage}.trial-{index}", f"trial {index} started")
        cached = self.run_.cache.trial(self.node, config)
        if cached is not None:
            return self.reuse(index, cached.outcome, cached.run_id)
        started = time.monotonic()
        namespace = f"{self.run_.record.run_id}/{self.node.stage}/trial-{index}"
        event = base_event(self.node, self.run_, 0, namespace)
        event.update(output=f"{self.node.config['output']}/trial-{index}", stop_key=f"{namespace}/stop")
        # batch_size is searched as the tuned stage's global size; a trial is one worker.
        event = with_hyperparameters(event, config)
        stop_requested = False

        def on_progress(invocation: str, progress: dict[str, Any]) -> None:
            nonlocal stop_requested
            if "validation_accuracy" not in progress:
                return
            epoch, accuracy = int(progress["epoch"]), float(progress["validation_accuracy"])
            with self.lock:
                self.epoch_ends.setdefault(index, []).append(time.monotonic())
                self.report(invocation, f"trial {index} epoch {epoch}: validation acc {accuracy:.3f}")
            # The default configuration always runs to the end: it is the reference the best is shown against.
            if self.stopping.observe(index, epoch, accuracy) and index != 0 and not stop_requested:
                stop_requested = True
                self.params.put(event["stop_key"], b"1")

        outcome, attempt, link = None, 1, 0
        while True:  # restarts after crashes resume from the trial's checkpoint; links chain at the time limit
            suffix = invocation_suffix(attempt, link)
            invocation = Invocation(
                id=f"{self.node.stage}.trial-{index}{suffix}",
                stage=self.node.stage,
                function=self.node.function,
                worker=index,
                event=event,
                attempt=attempt,
                link=link,
            )
            outcome = self.run_.executor.run_group([invocation], self.limits, on_progress)[0]
            with self.lock:
                record_outcomes(self.run_.record.stages[self.node.stage], self.run_.record, [outcome])
            if outcome.record.status == "ok":
                if (outcome.result or {}).get("completed", True):
                    break
                link += 1
            elif outcome.record.status == "memory" or attempt > self.node.retries:
                break  # out of memory would only happen again
            else:
                attempt += 1
        assert outcome is not None
        result = outcome.result or {}
        history = result.get("history", [])
        last = history[-1] if history else {}
        status = "failed" if outcome.record.status != "ok" else ("stopped" if result.get("stopped_early") else "ok")
        trial = TrialRecord(
            index=index,
            values=config,
            status=status,
            epochs=len(history),
            validation_accuracy=last.get("validation_accuracy") if status != "failed" else None,
            validation_loss=last.get("validation_loss") if status != "failed" else None,
            wall_s=time.monotonic() - started,
            invocation=outcome.record.id,
            error=outcome.record.error if status == "failed" else None,
        )
        with self.lock:
            self.records.append(trial)
            self.histories[index] = history
            if status == "stopped":
                self.epochs_run[index] = float(result.get("epochs_run", len(history)))
            self.running -= 1
            self.report(outcome.record.id, f"trial {index} {'stopped early' if status == 'stopped' else status}")
            self.run_.run_dir.save(self.run_.record)
        try:
            self.run_.cache.store_trial(self.node, config, trial, history)
        except Exception as exc:  # the cache is a saving, never a failure
            with self.lock:
                self.run_.record.warnings.append(f"tune trial {index} not cached: {type(exc).__name__}: {exc}")
        return trial

    def reuse(self, index: int, outcome: dict[str, Any], run_id: str) -> TrialRecord:
        """A trial with the same values that ran to the end in `run_id`: its record, no invocation. Its epochs
        are shown to the stopping rule as if reported now, so the trials running beside it are judged alike."""
        trial = TrialRecord.model_validate(
            {**outcome["trial"], "index": index, "invocation": None, "cached_from": run_id}
        )
        history: list[dict[str, float]] = outcome.get("history", [])
        with self.lock:
            for epoch in history:
                if "validation_accuracy" in epoch:
                    self.stopping.observe(index, int(epoch["epoch"]), float(epoch["validation_accuracy"]))
            self.records.append(trial)
            self.histories[index] = history
            self.running -= 1
            self.report(f"{self.node.stage}.trial-{index}", f"trial {index} reused from run {run_id}")
        return trial

    def saving(self) -> dict[str, float]:
        """What early stopping saved: the epochs the stopped trials did not run and, modelled, their time
        at each trial's own measured epoch time (the time between its epoch reports; the stage's mean
        epoch time for a trial stopped after one epoch). Empty when no trial was stopped."""
        if not self.epochs_run:
            return {}
        epochs = self.node.config["epochs"]
        saved = {index: epochs - run for index, run in self.epochs_run.items()}
        gaps = {index: [b - a for a, b in itertools.pairwise(ends)] for index, ends in self.epoch_ends.items()}
        every_gap = [gap for trial_gaps in gaps.values() for gap in trial_gaps]
        metrics = {"early_stopping_saved_trial_epochs": sum(saved.values())}
        if every_gap:
            metrics["early_stopping_saved_s_modelled"] = sum(
                n * statistics.fmean(gaps.get(index) or every_gap) for index, n in saved.items()
            )
        return metrics
