"""`mlspec plan`, `mlspec providers`, `mlspec price`: placement, the catalog, and what a run would cost.

Nothing heavy is imported: no torch, and scikit-learn only for `plan --optimizer bayes`."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any, get_args

import click

from mlspec.records import DEFAULT_ROOT
from mlspec.spec.models import TrainStage

SYNC_PATTERNS = get_args(TrainStage.model_fields["pattern"].annotation)  # runtime.sync.PATTERNS (test-checked)


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
    "--optimizer",
    type=click.Choice(["grid", "bayes"]),
    default="grid",
    show_default=True,
    help="grid: every point (the ground truth); bayes: Gaussian process + expected improvement.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON on stdout.")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the plan to this file, for `mlspec build --plan FILE` (it names the spec it was made "
    "for: a plan for a changed spec is refused).",
)
@click.option(
    "--explain", is_flag=True, help="Also print why each stage is placed where it is, and each alternative's placement."
)
@click.option("--from-run", metavar="RUN_ID", help="Take measured stage usage from this run (id or prefix).")
@click.option(
    "--profile/--no-profile",
    default=None,
    help="Measure usage with a short real local run (2 epochs, fewer examples) and scale it to the spec. "
    "Default: only when no earlier run can be measured from; --no-profile refuses then.",
)
@click.option(
    "--runs-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_ROOT,
    show_default=True,
    help="Where run records are kept.",
)
@click.option(
    "--all-platforms", is_flag=True, help="Consider every cloud platform of the catalog, not only the spec's targets."
)
@click.option("--include-local", is_flag=True, help="Also consider this machine (free, so it wins on cost).")
@click.option(
    "--priced-only",
    is_flag=True,
    help="Also place stages on offerings mlspec can price but not deploy (IBM Code Engine, Oracle Functions, "
    "Azure Flex and Consumption): a comparison, not a plan to carry out.",
)
@click.option(
    "--memory-sizes",
    type=click.IntRange(2, 200),
    default=20,
    show_default=True,
    help="Memory sizes tried per platform (log-uniform over its range, or its allowed sizes).",
)
@click.option(
    "--max-workers",
    type=click.IntRange(1, 1000),
    default=64,
    show_default=True,
    help="Most workers tried for a train stage (also capped by each platform's concurrency quota).",
)
@click.option(
    "--min-workers",
    type=click.IntRange(1, 1000),
    default=1,
    show_default=True,
    help="Fewest workers tried for a train stage; equal to --max-workers, it pins the count (a platform's "
    "quota still caps it, and a re-plan during the run may still change it).",
)
@click.option(
    "--sync",
    "pattern",
    type=click.Choice(SYNC_PATTERNS),
    default="allreduce",
    show_default=True,
    help="Synchronisation pattern modelled for training.",
)
# Bounded: cost + an infinite (or overflowing) price on time has no least value to plan for.
@click.option(
    "--usd-per-hour",
    type=click.FloatRange(min=0, max=1_000_000),
    default=None,
    help="Minimise cost + this price on each hour of pipeline time (a weighted mix).",
)
@click.option("--free-tier", is_flag=True, help="Subtract the platforms' monthly free allowances.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of Bayesian optimisation.")
def plan(
    spec: Path,
    overrides: tuple[str, ...],
    optimizer: str,
    as_json: bool,
    out: Path | None,
    explain: bool,
    from_run: str | None,
    profile: bool | None,
    runs_dir: Path,
    all_platforms: bool,
    include_local: bool,
    priced_only: bool,
    memory_sizes: int,
    max_workers: int,
    min_workers: int,
    pattern: str,
    usd_per_hour: float | None,
    free_tier: bool,
    seed: int,
) -> None:
    """Place every stage on a platform, memory size and worker count for the spec's objective.

    Stage usage is measured locally and modelled on each platform (time = compute scaled to the
    platform's vCPU + synchronisation + cold starts + restarts forced by its time limit; cost =
    duration x price + requests + storage operations + cross-cloud egress). Usage comes from
    --from-run, else --profile, else the latest successful run of the same pipeline in RUNS_DIR, else a
    short profiling run made first (said on stderr and in the plan; --no-profile refuses instead).

    Exit status 2 for bad input and for an objective that cannot be met (the nearest feasible
    plan is still shown).

    \b
    Examples:
      mlspec run examples/imdb.yaml && mlspec plan examples/imdb.yaml
      mlspec plan examples/cifar10.yaml --optimizer bayes --all-platforms --json
      mlspec plan examples/cifar10.yaml --set objective.deadline=10m --from-run 20261123-1015
      mlspec plan examples/imdb.yaml --out plan.json && mlspec build examples/imdb.yaml --plan plan.json
    """
    from mlspec import spec as spec_module
    from mlspec.actions.plan import resolve_usage
    from mlspec.cli.console import console
    from mlspec.errors import UsageError
    from mlspec.planner.plan import PlanOptions, objective_of
    from mlspec.planner.plan import plan as make_plan
    from mlspec.planner.report import render

    if min_workers > max_workers:
        raise click.UsageError(f"--min-workers {min_workers} is more than --max-workers {max_workers}")
    pipeline = spec_module.load(spec, list(overrides))

    def announce(why: str) -> None:
        click.echo(f"note: {why}", err=True)

    source = resolve_usage(pipeline, runs_dir, from_run, profile, spec, list(overrides), announce)
    options = PlanOptions(
        optimizer=optimizer,  # type: ignore[arg-type]
        all_platforms=all_platforms,
        include_local=include_local,
        priced_only=priced_only,
        memory_sizes=memory_sizes,
        max_workers=max_workers,
        min_workers=min_workers,
        pattern=pattern,
        free_tier=free_tier,
        seed=seed,
    )
    result = make_plan(
        pipeline, source.usages, source.explanations, options, objective_of(pipeline, usd_per_hour), source.describe()
    )
    if as_json:
        write_json(result.to_dict())
    else:
        render(result, console(), explain)
    if out is not None and result.choice.feasible:
        from mlspec.actions.plan import write_plan
        from mlspec.planner.plan_file import plan_document

        write_plan(out, plan_document(result, str(spec), list(overrides)))
        click.echo(f"plan written to {out} (`mlspec build {spec} --plan {out}` follows it)", err=True)
    if not result.choice.feasible:
        raise UsageError(result.choice.message or "the objective cannot be met")


def write_json(data: Any) -> None:
    """Standard JSON on stdout (what jq and other languages read): a number that is not finite (an unbounded
    or overflowed figure) is written as null, never as Python's `Infinity`/`NaN`."""
    sys.stdout.write(json.dumps(_finite_or_null(data), indent=2, allow_nan=False) + "\n")


def _finite_or_null(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: _finite_or_null(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite_or_null(value) for value in data]
    return data


def _number_text(value: float) -> str:
    """Small prices without an exponent: 0.0000166667, not 1.66667e-05."""
    if 0 < abs(value) < 1e-3:
        return f"{value:.10f}".rstrip("0").rstrip(".")
    return f"{value:.10g}"


def _limit_text(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g}"


def _memory_text(o: Any) -> str:
    if o.allowed_memory_mb is None:
        step = o.memory_step_mb.value
        return f"{o.memory_min_mb.value}–{o.memory_max_mb.value}" + (f" step {step}" if step != 1 else "")
    sizes = o.allowed_memory_mb.value
    return "/".join(str(m) for m in sizes) if len(sizes) <= 4 else f"{sizes[0]}–{sizes[-1]} ({len(sizes)} sizes)"


def _fact_text(fact: Any) -> str:
    """A catalog value in words: None (the platform sets none) reads as the fact's note, or 'no limit'."""
    value = fact.value
    if value is None:
        return fact.note or "no limit"
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, tuple | list):
        return json.dumps(value)
    return str(value)


def _offerings(platform: str | None) -> list[Any]:
    from mlspec.errors import UsageError
    from mlspec.providers import all_offerings

    offerings = list(all_offerings())
    if platform is None:
        return offerings
    chosen = [o for o in offerings if platform in (o.id, o.provider_key)]
    if not chosen:
        names = sorted({o.provider_key for o in offerings} | {o.id for o in offerings})
        raise UsageError(f"unknown platform {platform!r}; platforms: {', '.join(names)}")
    return chosen


@click.command()
@click.option(
    "--platform", metavar="P", help="Only this provider or provider:offering, e.g. aws-lambda or gcp-cloud-run:job."
)
@click.option("--json", "as_json", is_flag=True, help="Print the catalog as JSON on stdout.")
def providers(platform: str | None, as_json: bool) -> None:
    """List the provider catalog: every figure with its source, date and status.

    Status is official (the platform's own documentation), 3rd-party (unconfirmed) or assumed.

    \b
    Examples:
      mlspec providers --platform aws-lambda
      mlspec providers --json | jq '.[0].offerings[0].price_per_gb_second'
    """
    from mlspec.providers import all_providers, iter_facts

    offerings = _offerings(platform)
    if as_json:
        ids = {o.id for o in offerings}
        catalog = []
        for p in all_providers():
            shown = [o for o in p.offerings if o.id in ids]
            if shown:
                catalog.append({**p.to_dict(), "offerings": [o.to_dict() for o in shown]})
        write_json(catalog)
        return
    from rich.table import Table

    from mlspec.cli.console import console

    out = console()
    summary = Table(title="offerings (catalog figures, each with its source below)", title_justify="left")
    for header, justify in (
        ("offering", "left"),
        ("memory MB", "left"),
        ("vCPU", "left"),
        ("$/GB-s", "right"),
        ("$/vCPU-s", "right"),
        ("$/1M requests", "right"),
        ("time limit s", "right"),
        ("concurrency", "right"),
        ("cold start s", "right"),
    ):
        summary.add_column(header, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for o in offerings:
        summary.add_row(
            o.id,
            _memory_text(o),
            o.vcpu_rule.describe(),
            _number_text(o.price_per_gb_second.value),
            _number_text(o.price_per_vcpu_second.value),
            _number_text(o.price_per_million_requests.value),
            _limit_text(o.timeout_max_s.value),
            _limit_text(o.concurrency_limit.value),
            f"{o.cold_start_s.value:g}",
        )
    out.print(summary)
    facts = Table(title="catalog figures", title_justify="left")
    for header, widest in (("figure", None), ("value", 60), ("status", None), ("date", None), ("source", 80)):
        facts.add_column(header, overflow="fold", max_width=widest)  # long notes and pair lists fold, even in a pipe
    for o in offerings:
        for i, (path, fact) in enumerate(iter_facts(o)):
            facts.add_row(
                f"{o.id}.{path}" if i == 0 else f"  .{path}", _fact_text(fact), fact.status, fact.date, fact.source
            )
        facts.add_section()
    out.print(facts)


@click.command()
@click.option(
    "--target",
    "target",
    required=True,
    metavar="T",
    help="Provider or provider:offering, e.g. aws-lambda or gcp-cloud-run:job.",
)
@click.option("--memory-mb", type=float, required=True, help="Memory per instance (MB).")
@click.option("--seconds", type=click.FloatRange(min=0), required=True, help="Duration of one invocation.")
@click.option("--invocations", type=click.IntRange(min=0), required=True, help="Number of invocations.")
@click.option("--vcpu", type=float, default=None, help="vCPU, where the platform lets it be chosen.")
@click.option("--put", type=click.IntRange(min=0), default=0, show_default=True, help="Object-store PUTs.")
@click.option("--get", type=click.IntRange(min=0), default=0, show_default=True, help="Object-store GETs.")
@click.option(
    "--egress-gb", type=click.FloatRange(min=0), default=0.0, show_default=True, help="Data sent out of the cloud (GB)."
)
@click.option("--free-tier", is_flag=True, help="Subtract the monthly free allowances first.")
@click.option("--json", "as_json", is_flag=True, help="Print the breakdown as JSON on stdout.")
def price(
    target: str,
    memory_mb: float,
    seconds: float,
    invocations: int,
    vcpu: float | None,
    put: int,
    get: int,
    egress_gb: float,
    free_tier: bool,
    as_json: bool,
) -> None:
    """Cost of N invocations on a platform, broken into compute, requests, storage operations and egress.

    Every component is assumed (computed from catalog constants) and cites its sources.

    \b
    Example:
      mlspec price --target aws-lambda --memory-mb 1024 --seconds 10 --invocations 1000
    """
    from mlspec.providers import get_offering
    from mlspec.providers import price as price_of

    offering = get_offering(target)
    cost = price_of(
        offering,
        memory_mb,
        seconds,
        invocations,
        vcpu=vcpu,
        storage_requests={"put": put, "get": get},
        egress_gb=egress_gb,
        free_tier=free_tier,
    )
    if as_json:
        write_json({"target": offering.id, **cost.to_dict()})
        return
    from rich.table import Table

    from mlspec.cli.console import console

    table = Table(
        title=f"{offering.display_name}: {invocations} x {seconds:g} s at {memory_mb:g} MB "
        f"({cost.vcpu:.3g} vCPU){' with free tier' if free_tier else ''}"
    )
    for header in ("component", "USD", "label", "sources"):
        table.add_column(header, overflow="fold")
    for c in cost.components:
        sources = "; ".join(f"{name}={fact.value:g} ({fact.cite()}, {fact.date})" for name, fact in c.facts)
        table.add_row(c.name, f"{c.usd:.4f}", c.label, sources)
    table.add_row("total", f"{cost.total_usd:.4f}", "assumed", "")
    console().print(table)


COMMANDS: tuple[click.Command, ...] = (plan, providers, price)
