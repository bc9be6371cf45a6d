"""`mlspec init`, `validate`, `schema`: working with the spec itself (no ML libraries imported)."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mlspec.wording import plural

if TYPE_CHECKING:
    from mlspec.spec import Pipeline

TEMPLATES = ("quickstart", "cifar10", "imdb", "tune", "kmeans")


def template_text(name: str, schema_path: str | None = None) -> str:
    text = resources.files("mlspec.templates").joinpath(f"{name}.yaml").read_text()
    if schema_path:
        text = f"# yaml-language-server: $schema={schema_path}\n{text}"
    return text


@click.command()
@click.argument("template", type=click.Choice(TEMPLATES), default="quickstart")
@click.option(
    "--schema",
    "schema_path",
    metavar="PATH",
    help="Add a yaml-language-server modeline pointing at this JSON schema (editor completion).",
)
def init(template: str, schema_path: str | None) -> None:
    """Print a commented starting spec to stdout.

    \b
    Example:
      mlspec init cifar10 > pipeline.yaml
    """
    click.echo(template_text(template, schema_path), nl=False)


def check_datasets(pipeline: Pipeline, quiet: bool = False) -> None:
    """The cheap dataset checks (local files exist, read and look usable; nothing downloaded or hashed), as
    a UsageError; a note on stderr for what was not checked."""
    from mlspec.datasets import DatasetError, check_local_source
    from mlspec.errors import UsageError
    from mlspec.redaction import printable

    for name, dataset in pipeline.datasets.items():
        try:
            note = check_local_source(dataset.model_dump())
        except DatasetError as exc:
            raise UsageError(f"dataset {name!r}: {exc}") from None
        if note and not quiet:
            click.echo(printable(f"note: dataset {name!r}: {note}"), err=True)


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a value (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when the spec is valid.")
def validate(spec: Path, overrides: tuple[str, ...], quiet: bool) -> None:
    """Check a spec and its local dataset files; errors are printed as FILE:LINE:COL: message (exit status 2).

    Relative dataset paths in the spec are relative to the spec's folder; URLs are not downloaded.

    \b
    Example:
      mlspec init > pipeline.yaml
      mlspec validate pipeline.yaml --set stages.train_images.workers=4
    """
    from mlspec import spec as spec_module

    pipeline = spec_module.load(spec, list(overrides))
    check_datasets(pipeline, quiet)
    for note in pipeline.targets.deploy_notes() if not quiet else ():
        click.echo(f"note: {note}", err=True)
    if not quiet:
        counts = f"{plural(len(pipeline.datasets), 'dataset')}, {plural(len(pipeline.stages), 'stage')}"
        click.echo(f"{spec}: ok ({pipeline.name}: {counts}; targets: {', '.join(pipeline.targets.configured())})")


@click.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE.")
def schema(output: Path | None) -> None:
    """Print the JSON Schema of pipeline.yaml (for editors and CI checks).

    \b
    Example:
      mlspec schema -o schemas/pipeline.schema.json
    """
    from mlspec.spec import json_schema

    text = json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)


COMMANDS = (init, validate, schema)
