"""`mlspec cache ls|show|gc|rm`: the stage cache `mlspec run` reuses unchanged stages from."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from mlspec.cli.runs_commands import runs_dir_option
from mlspec.wording import plural

F = Callable[..., Any]


def store_options(command: F) -> F:
    """Which store's cache: the spec's object store (an S3 store's cache is shared), else the local one."""
    command = click.option(
        "--spec",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Use this pipeline's object store (default: the local store beside --runs-dir).",
    )(command)
    command = click.option(
        "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value of --spec (repeatable)."
    )(command)
    return runs_dir_option(command)


@click.group()
def cache() -> None:
    """List, show, collect and remove stage-cache entries.

    `mlspec run` reuses a stage whose inputs, options, dataset content and function code are unchanged
    since an earlier run; its output is kept under the object store's cache prefix.

    \b
    Example:
      mlspec cache ls
      mlspec cache ls --spec pipeline.yaml      # the cache in that spec's (e.g. S3) store
      mlspec cache gc --keep-days 30
    """


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    value = n / 1000
    for unit in ("KB", "MB"):
        if value < 1000:
            return f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print the entries as JSON on stdout.")
@store_options
def ls_command(as_json: bool, spec: Path | None, overrides: tuple[str, ...], runs_dir: Path) -> None:
    """List cache entries, oldest first: key, stage, the run that computed it, size.

    \b
    Example:
      mlspec cache ls
    """
    from rich.table import Table

    from mlspec.actions.cache import entries, open_cache
    from mlspec.cli.console import console

    store = open_cache(runs_dir, spec, list(overrides))
    manifests, corrupt = entries(store)
    if as_json:
        rows = [
            {
                "key": m.key,
                "stage": m.stage,
                "kind": _kind(m.outcome, m.kind),
                "run_id": m.run_id,
                "created_at": m.created_at,
                "bytes": m.bytes,
                "objects": len(m.objects),
            }
            for m in manifests
        ]
        sys.stdout.write(json.dumps({"entries": rows, "corrupt": corrupt}, indent=2) + "\n")
        return
    total = sum(m.bytes for m in manifests)
    table = Table(
        title=f"stage cache in {store.where}",
        caption=f"{plural(len(manifests), 'entry', 'entries')}, {_size(total)}"
        + (
            f"; {plural(len(corrupt), 'unreadable entry', 'unreadable entries')} (`mlspec cache gc` removes them)"
            if corrupt
            else ""
        ),
    )
    for column in ("key", "stage", "kind", "computed in run", "created", "size", "objects"):
        table.add_column(column, justify="right" if column in ("size", "objects") else "left")
    for m in manifests:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(m.created_at))
        kind = _kind(m.outcome, m.kind)
        table.add_row(m.key[:12], m.stage, kind, m.run_id, created, _size(m.bytes), str(len(m.objects)))
    console(stderr=False).print(table)


def _kind(outcome: dict[str, Any], kind: str) -> str:
    return f"{kind} trial" if "trial" in outcome else kind


@cache.command("show")
@click.argument("key")
@store_options
def show_command(key: str, spec: Path | None, overrides: tuple[str, ...], runs_dir: Path) -> None:
    """Print one entry's manifest as JSON: what its key was made of, its objects and checksums, and the
    figures measured in the run that computed it.

    \b
    Example:
      mlspec cache show 3f2a9c1b | jq .parts.reads
    """
    from mlspec.actions.cache import find_entry, open_cache

    manifest = find_entry(open_cache(runs_dir, spec, list(overrides)), key)
    click.echo(json.dumps(manifest.as_json(), indent=2, sort_keys=True))


@cache.command("gc")
@click.option(
    "--keep-days",
    type=click.FloatRange(min=0),
    default=30,
    show_default=True,
    help="Keep entries younger than this; older ones go unless a run in --runs-dir used them.",
)
@store_options
def gc_command(keep_days: float, spec: Path | None, overrides: tuple[str, ...], runs_dir: Path) -> None:
    """Remove old entries that no kept run references, unreadable entries, and left-over objects of
    interrupted writes.

    \b
    Example:
      mlspec cache gc --keep-days 7
    """
    from mlspec.actions.cache import collect_garbage, open_cache

    done = collect_garbage(open_cache(runs_dir, spec, list(overrides)), runs_dir, keep_days)
    click.echo(
        f"removed {plural(len(done.removed), 'entry', 'entries')}"
        + (f" and {plural(done.leftovers, 'left-over object')}" if done.leftovers else "")
        + f"; kept {done.kept_recent} younger than {keep_days:g} days and {done.kept_referenced} older that "
        f"runs in {runs_dir} used"
    )


@cache.command("rm")
@click.argument("keys", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Remove every entry.")
@store_options
def rm_command(
    keys: tuple[str, ...], everything: bool, spec: Path | None, overrides: tuple[str, ...], runs_dir: Path
) -> None:
    """Remove entries by key (or unique key prefix), or all of them; runs that used them keep their output.

    \b
    Example:
      mlspec cache rm 3f2a9c1b
      mlspec cache rm --all
    """
    from mlspec.actions.cache import open_cache, remove, remove_all
    from mlspec.errors import UsageError

    if bool(keys) == everything:
        raise UsageError("name the entries to remove, or pass --all (not both)")
    store = open_cache(runs_dir, spec, list(overrides))
    if everything:
        click.echo(f"removed {plural(remove_all(store), 'entry', 'entries')}")
        return
    for key in remove(store, list(keys)):
        click.echo(f"removed {key}")


COMMANDS = (cache,)
