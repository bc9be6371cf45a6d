"""`mlspec serve RUN_ID`: a run's trained model as a local HTTP endpoint."""

from __future__ import annotations

import errno
import json
import shlex
import signal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from mlspec.cli.runs_commands import runs_dir_option
from mlspec.errors import UsageError
from mlspec.wording import plural

if TYPE_CHECKING:
    from mlspec.serving.bundle import Bundle


@click.command("serve")
@click.argument("run_id")
@click.option(
    "--port",
    type=click.IntRange(0, 65_535),
    default=None,
    help="Port to listen on; default: the serve stage's `port` (8000). 0 picks a free one.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (no authentication).")
@click.option("--stage", default=None, help="Serve or train stage to serve, when the run has several.")
@click.option("--log", is_flag=True, help="Log every request to stderr.")
@click.option(
    "--workers",
    type=click.IntRange(1, 1024),
    default=16,
    show_default=True,
    help="Requests answered at once; more connections wait their turn (503 when too many wait).",
)
@click.option(
    "--request-timeout",
    type=click.FloatRange(0.1, 3600),
    default=30.0,
    show_default=True,
    help="Seconds a client has to send a whole request; a slower one gets 408.",
)
@runs_dir_option
def serve(
    run_id: str,
    port: int | None,
    host: str,
    stage: str | None,
    log: bool,
    workers: int,
    request_timeout: float,
    runs_dir: Path,
) -> None:
    """Answer predictions from RUN_ID's trained model over HTTP until Ctrl-C.

    POST /predict with {"inputs": [...]} (texts as strings; images as nested lists HxWxC or CxHxW of
    integers 0-255, or base64 of the raw HxWxC uint8 bytes) answers {"labels", "probabilities",
    "classes"}. GET / describes the model, GET /healthz says it is up. Bad requests get a 4xx with
    {"error": message}. Serves the run's serve stage's bundle; a run without a serve stage has its
    train stage's model packaged on the fly (and kept in the run's object store).

    \b
    Example:
      mlspec serve 20261123-101500-imdb-ab12 --port 8000
      curl -s localhost:8000/predict -H 'Content-Type: application/json' \\
           -d '{"inputs": ["A wonderful, moving film."]}'
    """
    from mlspec.actions.serve import locate
    from mlspec.serving.http import PredictionServer
    from mlspec.serving.predictor import Predictor

    served = locate(runs_dir, run_id, stage)
    if served.packaged_now:
        click.echo(f"run {served.run_id} has no serve stage: packaged the model of stage {served.stage!r}", err=True)
    predictor = Predictor(served.bundle)
    address = (host, served.port if port is None else port)
    try:
        server = PredictionServer(
            address, predictor, {"run_id": served.run_id, "stage": served.stage}, log, workers, request_timeout
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(f"port {address[1]} on {host} is in use: pick another with --port (0: any free)") from None
        raise UsageError(f"cannot listen on {host}:{address[1]}: {exc.strerror}") from None
    click.echo(
        f"serving stage {served.stage!r} of run {served.run_id}: {served.bundle.model}, "
        f"classes {', '.join(served.bundle.classes)}"
    )
    click.echo(f"listening on {server.url} (Ctrl-C to stop)")
    body = _example_body(served.bundle)
    click.echo(f"try: curl -s {server.url}/predict -H 'Content-Type: application/json' -d {body}")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        gone = server.clients_gone
        click.echo(f"stopped ({plural(gone, 'client')} went away before their answer)" if gone else "stopped", err=True)
    finally:
        server.server_close()


def _example_body(bundle: Bundle) -> str:
    """A request body for curl's -d, quoted for a POSIX shell, that the bundle answers with 200: a text, or
    an all-black image as base64, made by the shell so that the line stays short."""
    if bundle.input.kind == "text":
        return shlex.quote(json.dumps({"inputs": ["A wonderful, moving film."]}))
    h, w, c = bundle.input.image_shape
    image = f"$(head -c {h * w * c} /dev/zero | base64 | tr -d '\\n')"
    return '"{\\"inputs\\": [\\"' + image + '\\"]}"'


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM stops the server as Ctrl-C does."""
    raise KeyboardInterrupt


COMMANDS = [serve]
