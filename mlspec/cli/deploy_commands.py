"""`mlspec deploy` and `mlspec destroy`: create, update and remove a pipeline's functions on a cloud."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlspec.deploy import DEPLOYERS
from mlspec.wording import plural

if TYPE_CHECKING:
    from mlspec.deploy.base import ApiCall, Deployment

DEPLOY_TARGETS = tuple(DEPLOYERS)


def _print_calls(calls: list[ApiCall], with_params: bool) -> None:
    for call in calls:
        click.echo(f"  {call.describe()}")
        if with_params:  # parameters never hold secrets: credentials come from the SDK's own chain
            click.echo(f"      {json.dumps(call.params, sort_keys=True, default=str)}")


def _deployment(spec: Path, target: str, overrides: tuple[str, ...], build_dir: Path | None) -> Deployment:
    from mlspec import spec as spec_module
    from mlspec.deploy.deployment import deployment_for, load_manifest

    pipeline = spec_module.load(spec, list(overrides))
    manifest = load_manifest(build_dir, pipeline.name) if build_dir is not None else None
    return deployment_for(pipeline, target, manifest)


def _planned_deployments(
    spec: Path, plan_file: Path, target: str | None, overrides: tuple[str, ...], build_dir: Path
) -> list[Deployment]:
    """One deployment per platform the plan uses (or only `target`), each with its stages as planned."""
    from mlspec import spec as spec_module
    from mlspec.actions.plan import planned_targets, read_plan, with_planned_workers
    from mlspec.deploy.deployment import deployment_for, load_manifest

    pipeline = spec_module.load(spec, list(overrides))
    planned = read_plan(plan_file, pipeline)
    placement = planned_targets(pipeline, planned)
    pipeline = with_planned_workers(pipeline, planned)
    manifest = load_manifest(build_dir, pipeline.name)
    platforms = [target] if target else list(dict.fromkeys(platform for platform, _ in placement.values()))
    for platform in platforms:
        if platform not in DEPLOY_TARGETS:
            raise click.UsageError(f"the plan places stages on {platform}, which mlspec cannot deploy to")
    return [deployment_for(pipeline, platform, manifest, placement) for platform in platforms]


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--target", "-t", type=click.Choice(DEPLOY_TARGETS), help="Platform to deploy to (with --plan: only its stages)."
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Follow this plan (`mlspec plan SPEC --out FILE`, then `mlspec build SPEC --plan FILE`): each "
    "stage on its planned platform, with the planned memory and workers (concurrency).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print every API call deploy would make (with parameters); make none. "
    "Needs no account or network: state it cannot read is marked 'existing state unknown'.",
)
@click.option(
    "--build-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build"),
    show_default=True,
    help="Where `mlspec build --out` wrote the contexts and manifest.json.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec value (repeatable).")
def deploy(
    spec: Path, target: str | None, plan_file: Path | None, dry_run: bool, build_dir: Path, overrides: tuple[str, ...]
) -> None:
    """Push the built images and create or update the platform's functions with the spec's memory,
    timeout and concurrency (the stage's workers), plus the bucket and role they need. Only what
    differs from what is deployed is changed: a second deploy with no change makes no calls.

    \b
    Example:
      mlspec build pipeline.yaml --target aws-lambda
      mlspec deploy pipeline.yaml --target aws-lambda --dry-run
      mlspec deploy pipeline.yaml --target aws-lambda
      mlspec deploy pipeline.yaml --plan plan.json --dry-run   # every platform the plan uses
    """
    if plan_file is not None:
        deployments = _planned_deployments(spec, plan_file, target, overrides, build_dir)
    elif target is None:
        raise click.UsageError("name the platform with --target, or follow a plan with --plan")
    else:
        deployments = [_deployment(spec, target, overrides, build_dir)]
    for deployment in deployments:
        _deploy_one(deployment, dry_run)


def _deploy_one(deployment: Deployment, dry_run: bool) -> None:
    from mlspec.deploy import deploy as deploy_functions
    from mlspec.deploy import make_deployer

    target = deployment.target
    report = deploy_functions(make_deployer(target, deployment.settings), deployment, dry_run)
    where = f"{deployment.pipeline} on {target} ({deployment.region})"
    if report.state_unknown:
        click.echo(
            f"existing state unknown: {report.state_unknown}; listing every call a deploy into an empty "
            "account would make"
        )
    if not report.calls:
        click.echo(f"no changes: {where} is up to date")
    else:
        click.echo(f"{'would make' if dry_run else 'made'} {plural(len(report.calls), 'call')} for {where}:")
        _print_calls(report.calls, with_params=dry_run)
        if dry_run:
            click.echo("dry run: nothing was changed")
    for uri, reference in report.pushed.items():
        click.echo(f"pushed {uri} as {reference}")
    for note in report.notes:
        click.echo(f"note: {note}", err=True)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--target", "-t", required=True, type=click.Choice(DEPLOY_TARGETS), help="Platform to remove from.")
@click.option("--dry-run", is_flag=True, help="Print every API call destroy would make; make none.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec value (repeatable).")
def destroy(spec: Path, target: str, dry_run: bool, yes: bool, overrides: tuple[str, ...]) -> None:
    """Remove what `mlspec deploy` created for this pipeline: functions, image repositories (with
    their images), the role, and the bucket with every object in it. Only resources tagged as this
    pipeline's are removed; a bucket or role that existed before deploy is left alone.

    \b
    Example:
      mlspec destroy pipeline.yaml --target aws-lambda --dry-run
      mlspec destroy pipeline.yaml --target aws-lambda --yes
    """
    from mlspec.deploy import make_deployer

    deployment = _deployment(spec, target, overrides, None)
    deployer = make_deployer(target, deployment.settings)
    calls = deployer.destroy_calls(deployment)
    where = f"{deployment.pipeline} on {target} ({deployment.region})"
    if not calls:
        click.echo(f"nothing to destroy: {where} has nothing deployed")
        return
    click.echo(f"{'would make' if dry_run else 'removing with'} {plural(len(calls), 'call')} for {where}:")
    _print_calls(calls, with_params=dry_run)
    if dry_run:
        click.echo("dry run: nothing was changed")
        return
    if not yes:
        click.confirm("remove these (the bucket's objects included)?", abort=True)
    deployer.apply(calls)
    click.echo(f"destroyed: {where}")


COMMANDS: tuple[click.Command, ...] = (deploy, destroy)
