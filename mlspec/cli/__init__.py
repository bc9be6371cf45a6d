"""The `mlspec` command line. Thin: parse arguments, call one layer, print.

Each command group lives in its own module and registers itself on `main`; heavy libraries are
imported inside commands so that `mlspec --help`, `validate` and `plan` start fast."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from mlspec import __version__
from mlspec.errors import MlspecError, SpecError
from mlspec.redaction import printable


def _click_error(exc: click.ClickException) -> NoReturn:
    """Click's own errors (bad options, missing arguments) in mlspec's style: one line, `error: ...`,
    with where to find help, instead of click's usage block and `Error: ...`."""
    if isinstance(exc, click.exceptions.NoArgsIsHelpError):  # a bare `mlspec runs`: the help is the answer
        exc.show()
        sys.exit(exc.exit_code)
    message = exc.format_message().rstrip(".")
    if message[1:2].islower():  # "Missing argument" -> "missing argument", but "SPEC ..." stays
        message = message[0].lower() + message[1:]
    ctx = getattr(exc, "ctx", None)
    if isinstance(exc, click.UsageError) and ctx is not None:
        message += f" (see `{ctx.command_path} --help`)"
    click.echo(f"error: {message}", err=True)
    sys.exit(exc.exit_code)


class _Main(click.Group):
    """Turns user-facing errors into one clear message and an exit status, never a traceback.

    Every error line starts `error: ` (or, for a spec, FILE:LINE:COL:), whether mlspec or click raised it."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:  # `mlspec --no-such-option`
            _click_error(exc)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlspecError as exc:
            # Spec problems already read FILE:LINE:COL: message.
            click.echo(printable(str(exc) if isinstance(exc, SpecError) else f"error: {exc}"), err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            _click_error(exc)
        except (click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as exc:  # a bug in mlspec: say so briefly, show the trace only on request
            if os.environ.get("MLSPEC_DEBUG"):
                raise
            click.echo(
                printable(
                    f"error: internal error in mlspec: {type(exc).__name__}: {exc} "
                    "(set MLSPEC_DEBUG=1 for the traceback)"
                ),
                err=True,
            )
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
        cache_commands,
        compare_commands,
        plan_commands,
        run_commands,
        runs_commands,
        serve_commands,
        spec_commands,
    )

    for module in (
        spec_commands,
        plan_commands,
        build_commands,
        run_commands,
        runs_commands,
        cache_commands,
        compare_commands,
        serve_commands,
    ):
        for command in module.COMMANDS:
            main.add_command(command)
    from mlspec.cli import deploy_commands, doctor_commands

    for module in (deploy_commands, doctor_commands):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
