"""`mlspec runs list|show|rm`: the run store."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from mlspec.records import DEFAULT_ROOT
from mlspec.wording import plural

runs_dir_option = click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT,
    show_default=True,
    help="Where run records are kept.",
)


@click.group()
def runs() -> None:
    """List, show and remove recorded runs.

    \b
    Example:
      mlspec runs list
      mlspec runs show 20261123-101500-quickstart-ab12
    """


# Per stage kind, the figures `runs list` shows for a run.
LISTED_METRICS = {
    "evaluate": ("test_accuracy",),
    "iterative": ("test_accuracy", "test_purity", "test_inertia_per_point"),
}


@runs.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also list profiling runs (made by `mlspec plan --profile`).")
@runs_dir_option
def list_command(show_all: bool, runs_dir: Path) -> None:
    """List runs, oldest first; unreadable records show as failed with the reason.

    \b
    Example:
      mlspec runs list --runs-dir .mlspec/runs
    """
    from rich.table import Table
    from rich.text import Text

    from mlspec.cli.console import console
    from mlspec.records.runs import list_runs
    from mlspec.redaction import printable

    def plain(text: str) -> Text:  # the user's text, neither markup nor terminal control
        return Text(printable(text))

    everything = list_runs(runs_dir, profiles=True, must_exist=True)
    shown = [e for e in everything if show_all or not e.is_profile]
    hidden = len(everything) - len(shown)
    table = Table(
        title=plain(f"runs in {runs_dir} (times measured)"),
        caption=plural(len(shown), "run")
        + (f"; {plural(hidden, 'profiling run')} hidden (--all shows them)" if hidden else ""),
    )
    for column in ("run", "status", "started", "wall s", "metrics / problem"):
        table.add_column(column)
    for entry in shown:
        record = entry.record
        started = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.started_at))
        status = "[red]failed[/]" if entry.status == "failed" else entry.status
        if record is None:
            table.add_row(plain(entry.run_id), status, started, "-", plain(entry.problem or ""))
            continue
        metrics = ", ".join(
            f"{name}.{k}={v:.4f}"
            for name, s in record.stages.items()
            for k, v in s.metrics.items()
            if k in LISTED_METRICS.get(s.kind, ())
        )
        table.add_row(
            plain(record.run_id),
            status + (" (profile)" if entry.is_profile else ""),
            started,
            f"{record.wall_s:.1f}" if record.wall_s else "-",
            plain(entry.problem or metrics or (record.error or "")),
        )
    console().print(table)


@runs.command("show")
@click.argument("run_id")
@runs_dir_option
def show_command(run_id: str, runs_dir: Path) -> None:
    """Print one run record as JSON, with the status `runs list` shows.

    \b
    Example:
      mlspec runs show 20261123-101500-quickstart-ab12 | jq .stages
    """
    from mlspec.records.runs import find_run, record_json

    click.echo(record_json(find_run(runs_dir, run_id)))


@runs.command("rm")
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--yes", "-y", is_flag=True, help="Do not ask; required when stdin is not a terminal.")
@runs_dir_option
def rm_command(run_ids: tuple[str, ...], yes: bool, runs_dir: Path) -> None:
    """Delete runs and everything they stored locally (also a local object store's custom root/<run-id>).

    Asks first on a terminal. Refuses runs still in progress, links and anything that is not a run.

    \b
    Example:
      mlspec runs rm 20261123-101500-quickstart-ab12
      mlspec runs rm 20261123-101500-quickstart-ab12 --yes   # from a script
    """
    from mlspec.errors import UsageError
    from mlspec.records.runs import remote_objects, removable, remove_remote_objects, remove_run

    targets = {entry.run_id: (entry, paths) for entry, paths in (removable(runs_dir, r) for r in run_ids)}
    what = plural(len(targets), "run")
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"not removing {what} without confirmation: pass --yes")
        for entry, paths in targets.values():
            click.echo(f"  {entry.run_id} ({entry.status}): {', '.join(str(p) for p in paths)}", err=True)
        click.confirm(f"remove {what}?", abort=True, err=True)
    for entry, paths in targets.values():
        remote = remote_objects(entry)
        if remote is not None:
            count = remove_remote_objects(remote)
            click.echo(f"removed {plural(count, 'object')} of {entry.run_id} from its {remote['kind']} store")
        remove_run(paths)
        click.echo(f"removed {entry.run_id}" + "".join(f" and {p}" for p in paths[1:]))
    click.echo(f"removed {what}")


COMMANDS = (runs,)
