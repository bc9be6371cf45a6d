"""The train stage's driver. In a run that follows a plan with re-planning on (`objective.replan`), it
watches each epoch the workers report, asks the planner whether the rest of the stage should run with
other workers (`planner.replan`), and if so asks the workers to stop at the next epoch end and starts the
new count from the checkpoint (each shard cut from those written, see `algorithms.data.read_shard`).
Every change is a `ReplanEvent` in the stage's record. Other runs train as any stage runs."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from mlspec.compile import FunctionNode, graph
from mlspec.executors.base import stage_limits
from mlspec.executors.coordinator import StageRun, finish_stage, run_invocations, run_stage, start_stage
from mlspec.layout import pause_key
from mlspec.planner.replan import Envelope, EpochTiming, decide, options
from mlspec.planner.space import DEFAULT_MAX_WORKERS
from mlspec.records import PlannedStageRecord, ReplanEvent, StageRecord
from mlspec.storage import open_param_store


def run_train_stage(node: FunctionNode, run: StageRun) -> None:
    plan = run.record.plan
    if plan is None or not plan.replan or node.stage not in plan.stages:
        run_stage(node, run)
        return
    stage = start_stage(node, run)
    lead = run_invocations(node, run, stage, steering=Replanner(run, stage, plan.stages[node.stage]))
    finish_stage(stage, run, lead.get("metrics", {}), lead.get("history", []))


@dataclass
class _Round:
    node: FunctionNode
    namespace: str
    started: float  # Unix time
    epochs: dict[int, dict[int, dict[str, Any]]] = field(default_factory=dict)  # epoch -> worker -> report
    restart_s: float | None = None  # start to the first epoch's beginning, slowest worker: measured


class Replanner:
    """Steers a planned train stage's rounds (see `coordinator.Steering`); progress arrives on the
    executor's threads, so its state is guarded by a lock."""

    def __init__(self, run: StageRun, stage: StageRecord, planned: PlannedStageRecord) -> None:
        self.run, self.stage = run, stage
        self.envelope = Envelope.of(planned)
        self.lock = threading.Lock()
        self.round: _Round | None = None
        self.change: int | None = None  # the worker count decided for the next round
        self.restart_s = 0.0

    def round_starting(self, node: FunctionNode, namespace: str) -> FunctionNode:
        with self.lock:
            if self.change is not None:
                workers = self.change
                self.change = None
                stages = dict(self.run.pipeline.stages)
                stages[node.stage] = stages[node.stage].model_copy(update={"workers": workers})
                node = graph(self.run.pipeline.model_copy(update={"stages": stages})).node(node.stage)
                self.stage.workers = workers
            self.round = _Round(node, namespace, time.time())
            return _pausable(node)

    def progress(self, invocation: str, progress: dict[str, Any]) -> None:
        if "epoch_s" not in progress:
            return
        with self.lock:
            current = self.round
            if current is None or self.change is not None or progress.get("workers") != current.node.fan_out:
                return
            epoch = int(progress["epoch"])
            reports = current.epochs.setdefault(epoch, {})
            reports[int(progress["worker"])] = {**progress, "received": time.time()}
            if len(reports) < current.node.fan_out:
                return
            if epoch == min(current.epochs):  # the round's first epoch: measure its restart
                started = max(r["received"] - r["epoch_s"] for r in reports.values())
                current.restart_s = max(started - current.started, 0.0)
                self.restart_s = max(self.restart_s, current.restart_s)
            self._consider(current, epoch, list(reports.values()))

    def _consider(self, current: _Round, epoch: int, reports: list[dict[str, Any]]) -> None:
        epochs = int(current.node.config["epochs"])
        if epochs - epoch <= 1:  # the running workers finish the next epoch whatever is decided
            return
        timing = EpochTiming(
            workers=current.node.fan_out,
            epoch_s=max(float(r["epoch_s"]) for r in reports),
            sync_s=max(float(r["epoch_sync_s"]) for r in reports),
            model_bytes=int(reports[0]["model_bytes"]),
            sync_rounds=int(reports[0]["epoch_sync_rounds"]),
        )
        counts = range(1, self._cap(current.node) + 1)
        stay, changes = options(timing, self.envelope, epochs - epoch, self.restart_s, counts)
        time_left, budget_left = self._left(current)
        assert self.run.record.plan is not None
        decision = decide(stay, changes, self.run.record.plan.minimize, time_left, budget_left)
        if decision is None:
            return
        self.change = decision.after.workers
        self.stage.replans.append(
            ReplanEvent(
                after_epoch=epoch,
                at=time.time(),
                reason=decision.reason,
                workers_before=timing.workers,
                workers_after=decision.after.workers,
                measured_epoch_s=timing.epoch_s,
                time_left_s=time_left,
                budget_left_usd=budget_left,
                modelled_before=_figures(decision.before.to_dict()),
                modelled_after=_figures(decision.after.to_dict()),
            )
        )
        open_param_store(self.run.stores["param_store"]).put(pause_key(current.namespace), b"1")

    def _cap(self, node: FunctionNode) -> int:
        """The most workers: the planner's bound, what runs at once here at the stage's memory, the platform's."""
        here = stage_limits(node, self.run.limits).max_concurrency
        caps = [DEFAULT_MAX_WORKERS, here, self.envelope.offering.concurrency_limit.value]
        return min(int(c) for c in caps if c is not None)

    def _left(self, current: _Round) -> tuple[float | None, float | None]:
        """Until the deadline and of the budget: less what the run has spent, and what the plan gives the
        stages still to come."""
        plan = self.run.record.plan
        assert plan is not None
        later = [
            plan.stages[name]
            for name, stage in self.run.record.stages.items()
            if stage.status == "pending" and name in plan.stages
        ]
        time_left = None
        if plan.deadline_s is not None:
            time_left = plan.deadline_s - (time.time() - self.run.record.started_at) - sum(p.time_s for p in later)
        budget_left = None
        if plan.budget_usd is not None:
            spent = sum(
                Envelope.of(plan.stages[i.stage]).cost(i.wall_s, 1)
                for i in self.run.record.invocations
                if i.stage in plan.stages
            )
            running = self.envelope.cost(time.time() - current.started, current.node.fan_out)
            budget_left = plan.budget_usd - spent - running - sum(p.cost_usd for p in later)
        return time_left, budget_left


def _figures(option: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in option.items()}


def _pausable(node: FunctionNode) -> FunctionNode:
    """The node with its invocations told to look for the pause key at each epoch end."""
    return replace(node, config={**node.config, "pausable": True})
