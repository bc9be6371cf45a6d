"""The `mlspec` command line. Thin: parse arguments, call one layer, print.

Each command group lives in its own module and registers itself on `main`; heavy libraries are
imported inside commands so that `mlspec --help`, `validate` and `plan` start fast."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from mlspec import __version__
from mlspec.errors import MlspecError, SpecError
from mlspec.redaction import printable


class _Main(click.Group):
    """Turns user-facing errors into one clear message and an exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlspecError as exc:
            # Spec problems already read FILE:LINE:COL: message.
            click.echo(printable(str(exc) if isinstance(exc, SpecError) else f"error: {exc}"), err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug in mlspec: say so briefly, show the trace only on request
            if os.environ.get("MLSPEC_DEBUG"):
                raise
            click.echo(printable(f"internal error: {type(exc).__name__}: {exc} (set MLSPEC_DEBUG=1 for the "
                                 "traceback)"), err=True)  # fmt: skip
            sys.exit(1)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mlspec")
def main() -> None:
    """Train and serve ML pipelines on serverless platforms from one pipeline.yaml.

    \b
    Example:
      mlspec init quickstart > pipeline.yaml
      mlspec validate pipeline.yaml
      mlspec run pipeline.yaml --set stages.train_images.workers=4
    """


def _register() -> None:
    from mlspec.cli import (
        build_commands,
        compare_commands,
        plan_commands,
        run_commands,
        runs_commands,
        serve_commands,
        spec_commands,
    )

    for module in (spec_commands, plan_commands, build_commands, run_commands, runs_commands, compare_commands,
                   serve_commands):
        for command in module.COMMANDS:
            main.add_command(command)
    from mlspec.cli import deploy_commands, doctor_commands

    for module in (deploy_commands, doctor_commands):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
