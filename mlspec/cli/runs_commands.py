"""`mlspec runs list|show|rm`: the run store."""

from __future__ import annotations

import time
from pathlib import Path

import click

from mlspec.records import DEFAULT_ROOT

runs_dir_option = click.option(
    "--runs-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ROOT, show_default=True,
    help="Where run records are kept.",
)  # fmt: skip


@click.group()
def runs() -> None:
    """List, show and remove recorded runs.

    \b
    Example:
      mlspec runs list
      mlspec runs show 20261123-101500-quickstart-ab12
    """


@runs.command("list")
@runs_dir_option
def list_command(runs_dir: Path) -> None:
    """List runs, oldest first; unreadable records show as failed with the reason.

    \b
    Example:
      mlspec runs list --runs-dir .mlspec/runs
    """
    from rich.table import Table

    from mlspec.cli.console import console
    from mlspec.records.runs import list_runs

    table = Table(title=f"runs in {runs_dir} (times measured)")
    for column in ("run", "status", "started", "wall s", "metrics / problem"):
        table.add_column(column)
    for entry in list_runs(runs_dir):
        record = entry.record
        if record is None or entry.problem:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.started_at))
            table.add_row(entry.run_id, "[red]failed[/]", started, "-", entry.problem or "")
            continue
        metrics = ", ".join(
            f"{name}.{k}={v:.4f}" for name, s in record.stages.items() for k, v in s.metrics.items()
            if k == "test_accuracy" and s.kind == "evaluate"
        )  # fmt: skip
        table.add_row(
            record.run_id, record.status, time.strftime("%Y-%m-%d %H:%M", time.localtime(record.started_at)),
            f"{record.wall_s:.1f}" if record.wall_s else "-", metrics or (record.error or ""),
        )  # fmt: skip
    console().print(table)


@runs.command("show")
@click.argument("run_id")
@runs_dir_option
def show_command(run_id: str, runs_dir: Path) -> None:
    """Print one run record as JSON.

    \b
    Example:
      mlspec runs show 20261123-101500-quickstart-ab12 | jq .stages
    """
    from mlspec.records.runs import find_run, record_json

    click.echo(record_json(find_run(runs_dir, run_id)))


@runs.command("rm")
@click.argument("run_ids", nargs=-1, required=True)
@runs_dir_option
def rm_command(run_ids: tuple[str, ...], runs_dir: Path) -> None:
    """Delete runs and everything they stored locally.

    \b
    Example:
      mlspec runs rm 20261123-101500-quickstart-ab12
    """
    from mlspec.records.runs import find_run, remove_run

    entries = [find_run(runs_dir, r) for r in run_ids]
    for entry in entries:
        remove_run(entry)
        click.echo(f"removed {entry.run_id}")


COMMANDS = (runs,)
