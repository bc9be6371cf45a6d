"""`mlspec compare`: a run on every platform (tasks x platforms), or runs side by side."""

from __future__ import annotations

from pathlib import Path

import click

from mlspec.compare.formats import FORMATS
from mlspec.providers.registry import COMPARISON_OFFERING
from mlspec.records import DEFAULT_ROOT


@click.command()
@click.argument("run_ids", nargs=-1, metavar="[RUN ...]")
@click.option(
    "--view",
    type=click.Choice(["auto", "platforms", "runs"]),
    default="auto",
    show_default=True,
    help="platforms: one run timed and priced on every platform; runs: runs side by side. "
    "auto: platforms for one run (or none: the latest), runs for two or more "
    "(or none with --all/--sort-by/--last).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(list(FORMATS)),
    default="terminal",
    show_default=True,
    help="Output format; html is one self-contained file with plots.",
)
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead of stdout."
)
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Runs view: every spec parameter, not only those that differ between the runs.",
)
@click.option("--sort-by", metavar="COLUMN", help="Runs view: sort rows by COLUMN; prefix '-' for descending.")
@click.option("--keep", multiple=True, metavar="REGEX", help="Only columns (or platforms) matching REGEX (repeatable).")
@click.option("--drop", multiple=True, metavar="REGEX", help="Hide columns (or platforms) matching REGEX (repeatable).")
@click.option(
    "--last", type=click.IntRange(min=1), metavar="N", help="Runs view without RUN ids: the latest N runs [default: 5]."
)
@click.option(
    "--platform",
    default=COMPARISON_OFFERING,
    show_default=True,
    help="Runs view: the platform the modelled cost column prices on.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT,
    show_default=True,
    help="Where run records are kept.",
)
def compare(
    run_ids: tuple[str, ...],
    view: str,
    fmt: str,
    output: Path | None,
    show_all: bool,
    sort_by: str | None,
    keep: tuple[str, ...],
    drop: tuple[str, ...],
    last: int | None,
    platform: str,
    runs_dir: Path,
) -> None:
    """Compare runs: time, cost and accuracy per task on every platform, or runs side by side.

    Every figure says whether it is measured (the run executed there) or modelled (measured usage
    scaled by the time/cost model shared with `mlspec plan`).

    \b
    Examples:
      mlspec compare                                  # latest run: tasks x platforms
      mlspec compare --format md                      # the same as Markdown tables
      mlspec compare RUN_A RUN_B                      # side by side: the parameters that differ
      mlspec compare RUN_A RUN_B --all                # ... and every other parameter
      mlspec compare --last 3 --sort-by=-train_reviews.test_accuracy
      mlspec compare --format html -o report.html     # one file with tables and plots
    """
    from mlspec.compare import tables as cmp
    from mlspec.compare.formats import render
    from mlspec.compare.formats.terminal import renderables
    from mlspec.records.runs import find_run

    if view == "auto":
        wants_runs = show_all or sort_by is not None or last is not None
        view = "runs" if len(run_ids) >= 2 or (not run_ids and wants_runs) else "platforms"
    data: cmp.PlatformComparison | cmp.RunsTable
    notes: list[str]
    if view == "platforms":
        if len(run_ids) > 1:
            raise click.UsageError("--view platforms takes one RUN")
        if run_ids:
            record, notes = cmp.readable(find_run(runs_dir, run_ids[0])), []
        else:
            record, notes = cmp.latest_record(runs_dir)
        data = cmp.compare_platforms(record, keep=keep, drop=drop)
        data.notes.extend(notes)
    else:
        records, notes = cmp.select_runs(runs_dir, run_ids, last or 5)
        data = cmp.compare_runs(
            records, only_changed=not show_all, sort_by=sort_by, keep=keep, drop=drop, platform=platform
        )
        data.notes.extend(notes)
    if fmt == "terminal" and output is None:
        from mlspec.cli.console import console

        out = console()
        for part in renderables(data):
            out.print(part)
        return
    text = render(data, fmt)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


COMMANDS: tuple[click.Command, ...] = (compare,)
