"""`mlspec run`: execute a pipeline for real."""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, get_args

import click

from mlspec.deploy.run_target import run_targets
from mlspec.records import DEFAULT_ROOT
from mlspec.spec.models import ExecutionSpec

if TYPE_CHECKING:
    from mlspec.records.model import InvocationRecord, RunRecord

# What a spec's execution.executor may name (the cloud executors run through --target).
SPEC_EXECUTORS = get_args(ExecutionSpec.model_fields["executor"].annotation)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a spec value, validated like the file (repeatable).",
)
@click.option(
    "--target",
    default="local",
    show_default=True,
    type=click.Choice(run_targets()),
    help="Where the functions run (a cloud target runs the functions `mlspec deploy` created).",
)
@click.option(
    "--executor",
    type=click.Choice(SPEC_EXECUTORS),
    help="Override the spec's execution.executor (same as --set execution.executor=NAME).",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Follow this plan (`mlspec plan SPEC --out FILE`): every stage emulated on this machine in its planned "
    "platform's envelope (memory, vCPU, time limit, workers), then the model vs the outcome per stage.",
)
@click.option(
    "--placement",
    type=click.Choice(["spec", "auto"]),
    default="spec",
    show_default=True,
    help="auto: plan the spec first (as `mlspec plan` does, profiling it when it has no run), write the plan "
    "under RUNS_DIR/plans/ and follow it, as with --plan.",
)
@click.option(
    "--no-emulate",
    is_flag=True,
    help="With --plan or --placement auto: refuse, instead of emulating here, a stage planned on a cloud this "
    "run cannot use.",
)
@click.option(
    "--no-cache", is_flag=True, help="Run every stage: neither reuse nor keep stage outputs in the stage cache."
)
@click.option(
    "--force",
    multiple=True,
    metavar="STAGE",
    help="Recompute this stage and every stage that reads it, even when cached (repeatable).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the final run record as JSON on stdout.")
@click.option(
    "--debug",
    is_flag=True,
    help="When a function fails, print where it raised: your own code's frames when your code failed.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT,
    show_default=True,
    help="Where run records are kept.",
)
def run(
    spec: Path,
    overrides: tuple[str, ...],
    target: str,
    executor: str | None,
    plan_file: Path | None,
    placement: str,
    no_emulate: bool,
    no_cache: bool,
    force: tuple[str, ...],
    as_json: bool,
    debug: bool,
    runs_dir: Path,
) -> None:
    """Run a pipeline: every stage as real function invocations, recorded in RUNS_DIR/<run-id>/.

    A stage whose inputs, options and code are unchanged since an earlier run is reused from the stage
    cache (in the object store; `mlspec cache ls`) instead of run: shown as "cached", with the run it
    came from. Progress and the summary go to stderr; with --json the run record goes to stdout.

    \b
    Examples:
      mlspec run examples/quickstart.yaml
      mlspec run examples/imdb.yaml --set stages.train.workers=4 \
        --set datasets.imdb.path=https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz
      mlspec run examples/quickstart.yaml --executor lithops
      mlspec run examples/imdb.yaml --set stages.train.epochs=6   # preprocess reused from the cache
      mlspec run examples/quickstart.yaml --force train            # train, evaluate, serve run again
      mlspec plan examples/imdb.yaml --out plan.json && mlspec run examples/imdb.yaml --plan plan.json
      mlspec run examples/imdb.yaml --placement auto --set objective.deadline=5m   # plan, then run it
    """

    from mlspec import spec as spec_module
    from mlspec.actions.run import execute, prepare
    from mlspec.cli.console import console as make_console
    from mlspec.cli.progress import RichReporter, outcome_table, summary_table
    from mlspec.cli.spec_commands import check_datasets
    from mlspec.errors import RunFailed
    from mlspec.executors.stage_cache import CacheSettings

    if executor is not None:  # an override like any other: the recorded spec says what ran
        overrides = (*overrides, f"execution.executor={executor}")
    pipeline = spec_module.load(spec, list(overrides))
    check_datasets(pipeline)  # before a run directory is named: it would never be created
    emulation = None
    cache = CacheSettings(not no_cache, frozenset(force))
    if placement == "auto":
        from mlspec.actions.plan import auto_plan
        from mlspec.errors import UsageError

        if plan_file is not None:
            raise UsageError("--placement auto makes the plan it follows: drop --plan, or --placement")
        plan_file, planned = auto_plan(
            spec, list(overrides), pipeline, runs_dir, lambda why: click.echo(f"note: {why}", err=True)
        )
        click.echo(
            f"placement auto: plan written to {plan_file} (modelled {planned.choice.plan.time_s:.1f} s, "
            f"${planned.choice.plan.cost_usd:.6f})",
            err=True,
        )
    if plan_file is not None:
        from mlspec.actions.plan import emulate_plan
        from mlspec.errors import UsageError

        if target != "local":
            raise UsageError(
                "--plan runs every stage emulated on this machine (a plan on the clouds: not yet); drop --target"
            )
        emulation = emulate_plan(pipeline, plan_file, refuse_clouds=no_emulate)
        pipeline = emulation.pipeline
        cache = CacheSettings(use=False, unused_because="a planned run measures every stage against its model")
    prepared = prepare(pipeline, target, runs_dir)
    if emulation is not None:
        prepared = dataclasses.replace(prepared, warnings=[*prepared.warnings, *emulation.warnings])
    run_dir = prepared.run_dir
    console = make_console(stderr=True)
    console.print(f"run [bold]{run_dir.run_id}[/] → {run_dir.path}")
    for warning in prepared.warnings:
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    failure: RunFailed | None = None
    # What libraries print while the run goes on (Ray prints its nodes' errors to stdout) goes to stderr with
    # the progress: stdout carries the run record alone.
    record_out = sys.stdout
    with contextlib.redirect_stdout(sys.stderr), RichReporter(console) as reporter:
        try:
            execute(str(spec), overrides, prepared, reporter, cache, emulation.plan if emulation else None)
        except RunFailed as exc:
            failure = exc
    from mlspec.compare.plan_outcome import replan_notes
    from mlspec.records.model import RunRecord

    record = RunRecord.model_validate_json(run_dir.record_file.read_text())
    console.print(summary_table(record))
    if record.plan is not None:
        console.print(outcome_table(record))
        for line in replan_notes(record):
            console.print(line, soft_wrap=True, highlight=False)
    for warning in record.warnings[len(prepared.warnings) :]:  # those of the run itself
        console.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    for name, stage in record.stages.items():  # what the user did not ask for: why a stage is never reused
        if stage.cache_note and "not deterministic" in stage.cache_note:
            console.print(
                f"note: {name} is not cached: {stage.cache_note.removeprefix('not reused: ')}", soft_wrap=True
            )
    if debug:
        for invocation in failed_with_traceback(record)[:1]:  # the first: the others were stopped because of it
            console.print(f"traceback of {invocation.id}:", highlight=False)
            console.print(invocation.traceback, markup=False, highlight=False, soft_wrap=True)
    if as_json:
        record_out.write(record.model_dump_json(indent=2) + "\n")
    if failure is not None:
        raise failure


def failed_with_traceback(record: RunRecord) -> list[InvocationRecord]:
    """The invocations that failed on their own (not stopped because another did) and said where."""
    return [i for i in record.invocations if i.status == "error" and i.traceback]


COMMANDS = (run,)
