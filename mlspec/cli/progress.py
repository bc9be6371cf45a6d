"""Live progress of a run on stderr (rich), and the closing summary table."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from mlspec.compile import FunctionNode
from mlspec.records import RunRecord, StageRecord


class RichReporter:
    """Per stage: a bar of epochs (train) or invocations done, with the running loss and accuracy."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("[bold]{task.fields[stage]:<14}"),
            BarColumn(bar_width=24),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RichReporter:
        self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    def stage_started(self, stage: StageRecord, node: FunctionNode) -> None:
        epochs = node.config.get("epochs")
        total = epochs if epochs else node.fan_out
        status = f"{node.fan_out} x {node.function} starting" if node.fan_out > 1 else f"{node.function} starting"
        self.tasks[stage.name] = self.bars.add_task("", total=total, stage=stage.name, status=status)

    def progress(self, stage: str, invocation: str, progress: dict[str, Any]) -> None:
        task = self.tasks[stage]
        if "epoch" in progress:
            if progress.get("worker", 0) != 0:
                return
            status = (
                f"epoch {progress['epoch']}/{progress['epochs']}  loss {progress['train_loss']:.3f}  "
                f"train acc {progress['train_accuracy']:.3f}"
            )
            if "test_accuracy" in progress:
                status += f"  test acc {progress['test_accuracy']:.3f}"
            self.bars.update(task, completed=progress["epoch"], status=status)
        elif "unit" in progress:  # the stage counts its own units (a tune stage: trials), its phase says how
            self.bars.update(task, total=progress["total"], completed=progress["done"], status=progress["phase"])
        elif "phase" in progress:
            detail = progress["phase"]
            if progress.get("total"):
                detail += f" {progress['done'] / progress['total']:.0%}"
            self.bars.update(task, status=detail)

    def stage_finished(self, stage: StageRecord) -> None:
        task = self.tasks[stage.name]
        if stage.status == "succeeded":
            total = self.bars.tasks[task].total
            status = f"[green]done[/] in {stage.wall_s:.1f}s"
            if stage.cached_from is not None:
                status = f"[cyan]cached[/] from run {stage.cached_from.run_id}{_took(stage.cached_from.wall_s)}"
            self.bars.update(task, completed=total, status=status)
            if "early_stopping_saved_trial_epochs" in stage.metrics:
                self.console.print(f"{stage.name}: {early_stopping_saving(stage.metrics)}")
        else:
            self.bars.update(task, status=f"[red]failed[/]: {stage.error}")


def summary_table(record: RunRecord) -> Table:
    where = (
        f"emulated on {record.plan.host} in each stage's planned envelope"
        if record.plan
        else f"measured on {record.target}"
    )
    nodes = {inv.node for inv in record.invocations if inv.node}
    if nodes:  # a cluster executor (ray) ran the functions
        where += f", {len(nodes)} {record.executor} node{'s' if len(nodes) > 1 else ''}"
    table = Table(title=f"run {record.run_id} — {record.status} (all figures {where})")
    for column in ("stage", "kind", "time s", "invocations", "peak MB", "metrics"):
        table.add_column(column, justify="right" if column in ("time s", "invocations", "peak MB") else "left")
    for stage in record.stages.values():
        metrics = "  ".join(
            f"{k} {_fmt(v)}"
            for k, v in stage.metrics.items()
            if k.startswith(("test_", "check_")) or k.endswith("validation_accuracy")
        )
        table.add_row(
            stage.name,
            stage.kind,
            "cached" if stage.cached_from is not None else f"{stage.wall_s:.1f}" if stage.wall_s is not None else "-",
            str(stage.invocations),
            f"{stage.peak_rss_mb:.0f}" if stage.peak_rss_mb else "-",
            metrics or stage.status,
        )
    origins = sorted({s.cached_from.run_id for s in record.stages.values() if s.cached_from is not None})
    if origins:
        table.caption = f"cached: no function ran; output and metrics as measured in run {', '.join(origins)}"
    return table


def outcome_table(record: RunRecord) -> Table:
    """Per stage of a planned run: the plan's modelled time and cost, what the run measured in the planned
    envelope here (emulated), and the model's error."""
    from mlspec.compare.plan_outcome import plan_outcome

    host = f"{record.plan.host}, {record.plan.host_cores} cores" if record.plan else ""
    table = Table(
        title=f"model vs outcome (emulated on {host}; error = (modelled - emulated) / emulated)",
        caption="emulated: each stage here with its planned memory, vCPU, time limit and workers; not the "
        "platform's cold starts, job start-up or network, which the modelled time includes. Modelled here: the "
        "same model for how the stage ran here (vCPU rounded up to whole cores above one, no platform cold start, "
        "synchronising as fast as the profiled run did through this host's store)",
    )
    for column in (
        "stage",
        "platform",
        "time s modelled",
        "time s emulated",
        "error",
        "time s modelled here",
        "error here",
        "cost $ modelled",
        "cost $ emulated",
        "error",
    ):
        table.add_column(column, justify="left" if column in ("stage", "platform") else "right")
    rows = plan_outcome(record)
    crossings = [
        f"{r.stage} read {r.emulated_egress_gb:.4g} GB (${r.emulated_egress_usd:.4g})"
        for r in rows
        if r.emulated_egress_gb
    ]
    if crossings:
        table.caption = f"{table.caption}; emulated cost includes cross-cloud egress: {', '.join(crossings)}"
    for row in rows:
        table.add_row(
            row.stage,
            row.platform,
            f"{row.modelled_time_s:.1f}",
            "-" if row.emulated_time_s is None else f"{row.emulated_time_s:.1f}",
            "-" if row.time_error_pct is None else f"{row.time_error_pct:+.0f}%",
            "-" if row.modelled_here_s is None else f"{row.modelled_here_s:.1f}",
            "-" if row.here_error_pct is None else f"{row.here_error_pct:+.0f}%",
            f"{row.modelled_cost_usd:.3g}",
            "-" if row.emulated_cost_usd is None else f"{row.emulated_cost_usd:.3g}",
            "-" if row.cost_error_pct is None else f"{row.cost_error_pct:+.0f}%",
        )
    return table


def _took(wall_s: float | None) -> str:
    return f" (took {wall_s:.1f}s there)" if wall_s is not None else ""


def early_stopping_saving(metrics: dict[str, float]) -> str:
    """A tune stage's saving from early stopping, its time modelled from the trials' measured epoch times."""
    line = f"early stopping saved {metrics['early_stopping_saved_trial_epochs']:.3g} trial-epochs"
    if "early_stopping_saved_s_modelled" in metrics:
        line += f" (~{metrics['early_stopping_saved_s_modelled']:.1f} s modelled)"
    return line


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value == int(value) and abs(value) >= 10 else f"{value:.4f}"
