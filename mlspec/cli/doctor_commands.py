"""`mlspec doctor`: what this machine has for building, storing, deploying and running (see
mlspec.actions.doctor), one line each with the fix when missing."""

from __future__ import annotations

import click


@click.command()
@click.option("--redis-url", metavar="URL", help="Also check that this Redis answers (e.g. the spec's param store).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when anything is missing.")
def doctor(redis_url: str | None, strict: bool) -> None:
    """Report the container engines (Docker, podman, buildah), debootstrap, Redis, and the cloud SDKs
    and credentials (AWS, Google Cloud, Azure) found here, each with the fix when missing. Exit status
    0 unless --strict.

    \b
    Example:
      mlspec doctor
      mlspec doctor --redis-url redis://127.0.0.1:6379/0 --strict
    """
    from mlspec.actions.doctor import checks

    results = checks(redis_url)
    width = max(len(c.name) for c in results)
    for check in results:
        click.echo(f"{'ok' if check.ok else check.problem:8} {check.name:{width}}  {check.detail}")
    if strict and not all(c.ok for c in results):
        raise SystemExit(1)


COMMANDS: tuple[click.Command, ...] = (doctor,)
