"""`mlspec doctor`: what this machine has for building, storing, deploying and running (see
mlspec.actions.doctor), one line each with the fix when missing."""

from __future__ import annotations

import click


@click.command()
@click.option("--redis-url", metavar="URL", help="Also check that this Redis answers (e.g. the spec's param store).")
@click.option(
    "--spec",
    type=click.Path(dir_okay=False),
    help="Also check the Python packages this spec's functions need (its requirements: included).",
)
@click.option("--strict", is_flag=True, help="Exit with status 1 when anything is missing.")
def doctor(redis_url: str | None, spec: str | None, strict: bool) -> None:
    """Report the container engines (Docker, podman, buildah), debootstrap, Redis, the optional executors,
    the cloud SDKs and credentials (AWS, Google Cloud, Azure) found here, and with --spec the packages its
    functions need, each with the fix when missing. Exit status
    0 unless --strict.

    \b
    Example:
      mlspec doctor
      mlspec doctor --redis-url redis://127.0.0.1:6379/0 --strict
      mlspec doctor --spec examples/cifar10-resnet/pipeline.yaml
    """
    from mlspec.actions.doctor import checks, requirement_checks

    results = checks(redis_url)
    if spec is not None:
        from mlspec import spec as spec_module
        from mlspec.compile import graph

        results += requirement_checks(graph(spec_module.load(spec)))
    width = max(len(c.name) for c in results)
    for check in results:
        click.echo(f"{'ok' if check.ok else check.problem:8} {check.name:{width}}  {check.detail}")
    if strict and not all(c.ok for c in results):
        raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (doctor,)
