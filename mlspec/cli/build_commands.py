"""`mlspec build`: one container build context per function x target, and images when an engine is found."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlspec.providers.registry import image_platforms

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from mlspec.compile.build import BuildContext

ENGINE_CHOICES = ("auto", "docker", "podman", "buildah", "none")


class _RichBuildProgress:
    """One line per image: a spinner, elapsed time and the engine's latest output line."""

    def __init__(self, bars: Progress) -> None:
        self.bars = bars
        self.tasks: dict[str, TaskID] = {}

    def started(self, context: BuildContext, index: int, total: int) -> None:
        self.tasks[context.name] = self.bars.add_task(
            f"[{index + 1}/{total}] {context.tag}", total=None, status="starting"
        )

    def line(self, context: BuildContext, text: str) -> None:
        self.bars.update(self.tasks[context.name], status=text[:70])

    def finished(self, context: BuildContext, error: str | None) -> None:
        status = "[red]failed[/]" if error else "[green]built[/]"
        self.bars.update(self.tasks[context.name], total=1, completed=1, status=status)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--target",
    "-t",
    "targets",
    multiple=True,
    type=click.Choice(image_platforms()),
    help="Platform to build for (repeatable); default: every configured target.",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build"),
    show_default=True,
    help="Directory for the contexts (OUT/<pipeline>/) and manifest.json.",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINE_CHOICES),
    default="auto",
    show_default=True,
    help="Container engine; auto tries a Docker engine, podman, buildah; none: contexts only.",
)
@click.option(
    "--base-image",
    metavar="IMAGE",
    help="Start every image from IMAGE (e.g. a local image, when no registry can be reached).",
)
@click.option(
    "--bootstrap-base",
    is_flag=True,
    help="Start every image from localhost/mlspec-base:bookworm, made here with debootstrap from "
    "apt's Debian mirror (needs root) unless the engine or ~/.cache/mlspec has it already.",
)
@click.option(
    "--wheelhouse",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Fill DIR with wheels on the host (pip wheel) and install only from it in the builds "
    "(podman and buildah mount it; a Docker engine on this machine fetches it from loopback).",
)
@click.option(
    "--push",
    "push_to",
    metavar="REGISTRY",
    help="Push every built image to REGISTRY (host[:port][/path]; log in with your engine first) and "
    "record its digest in the manifest. A registry on loopback is spoken to over plain HTTP.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Follow this plan (`mlspec plan SPEC --out FILE`): each function only for its stage's planned "
    "platform, at the planned memory (and vCPU). Excludes --target.",
)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a spec value (repeatable).")
def build(
    spec: Path,
    targets: tuple[str, ...],
    out: Path,
    engine: str,
    base_image: str | None,
    bootstrap_base: bool,
    wheelhouse: Path | None,
    push_to: str | None,
    plan_file: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Render one container build context per function x target, and build the images when a
    container engine is found (exit status 1 when an image fails to build).

    \b
    Example:
      mlspec build pipeline.yaml --target aws-lambda --out build/
      mlspec build pipeline.yaml --engine podman --base-image localhost/python-base:3.11
      mlspec build pipeline.yaml --target local --bootstrap-base --wheelhouse ~/.cache/mlspec/wheels
      mlspec build pipeline.yaml --target aws-lambda --push 127.0.0.1:5000/team
      mlspec plan pipeline.yaml --out plan.json && mlspec build pipeline.yaml --plan plan.json
    """
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from mlspec import spec as spec_module
    from mlspec.cli.console import console as make_console
    from mlspec.compile.build import BuildError
    from mlspec.compile.build import build as build_contexts

    pipeline = spec_module.load(spec, list(overrides))
    placement = None
    if plan_file is not None:
        from mlspec.actions.plan import planned_targets, read_plan, with_planned_workers

        if targets:
            raise click.UsageError("--plan says where each stage is built: it excludes --target")
        planned = read_plan(plan_file, pipeline)
        placement = planned_targets(pipeline, planned)
        pipeline = with_planned_workers(pipeline, planned)
    console = make_console(stderr=True)
    bars = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )
    if push_to and engine == "none":
        raise click.UsageError("--push needs images: it excludes --engine none")
    if bootstrap_base:
        if base_image:
            raise click.UsageError("--bootstrap-base and --base-image exclude each other")
        base_image = _bootstrap_base(engine, console)
    with bars:
        result = build_contexts(
            pipeline, out, targets, engine, base_image, _RichBuildProgress(bars), wheelhouse, push_to, placement
        )
    for entry in result.manifest["contexts"]:
        image = entry["image"]
        state = (
            "built"
            if image["built"]
            else ("failed" if image["error"] and not image["error"].startswith("skipped") else "not built")
        )
        if image.get("pushed"):
            state = f"built, pushed as {image['pushed']['reference']}"
        elif push_to and image["built"]:
            state = "built, not pushed"
        click.echo(f"{result.directory / entry['dir']}  {entry['tag']}  {state}")
    click.echo(f"manifest: {result.directory / 'manifest.json'}")
    click.echo(f"note: {result.note}", err=True)
    if result.failed:
        raise BuildError(str(result.failed[0]["image"]["error"]))


def _bootstrap_base(engine: str, console: Console) -> str:
    """Make (or find) the local Debian base image; returns its tag."""
    from mlspec.compile.base_image import ensure_base_image
    from mlspec.compile.engines import EngineError, find_engine

    found, note = find_engine(engine)
    if found is None:
        raise EngineError(f"--bootstrap-base needs a container engine: {note}")
    with console.status("base image: starting") as status:
        base = ensure_base_image(found, lambda text: status.update(f"base image: {text[:90]}"))
    steps = ", ".join(f"{step} {seconds:.0f} s" for step, seconds in base.timings_s.items())
    origin = {
        "engine": "already in the engine",
        "cache": "imported from the cached root file system",
        "debootstrap": "bootstrapped with debootstrap",
    }[base.source]
    console.print(f"base image {base.tag}: {origin}" + (f" (measured: {steps})" if steps else ""))
    return base.tag


COMMANDS: tuple[click.Command, ...] = (build,)
