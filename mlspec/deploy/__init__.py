"""Deploy a pipeline's built functions to a cloud platform, and remove them again.

Each platform names its Deployer (see base.py) as a `module:class` string in its catalog entry
(`Platform.deployer`), imported lazily so the CLI does not load cloud SDKs it does not use."""

from __future__ import annotations

import dataclasses
from typing import Any

from mlspec.deploy.base import ApiCall, CredentialsError, Deployer, DeployError, Deployment, DeployReport, Unreachable
from mlspec.errors import UsageError
from mlspec.providers.registry import all_platforms
from mlspec.references import load

DEPLOYERS = {p.key: p.deployer for p in all_platforms() if p.deployer is not None}


def make_deployer(target: str, settings: dict[str, Any]) -> Deployer:
    """`settings` are the target's spec settings (region, ...)."""
    if target not in DEPLOYERS:
        raise UsageError(f"cannot deploy to {target!r} (deployable targets: {', '.join(DEPLOYERS)})")
    deployer: Deployer = load(DEPLOYERS[target])(settings)
    return deployer


def deploy(deployer: Deployer, deployment: Deployment, dry_run: bool = False) -> DeployReport:
    """Read the platform's state, then make (or, dry, only list) the calls that close the gap. A dry run
    needs no account and no network: when the state cannot be read it lists every call a deploy into an
    empty account would make, each marked with why the state is unknown."""
    unknown: str | None = None
    notes: list[str] = []
    if dry_run:
        deployer.for_dry_run()
        try:
            calls = deployer.plan_calls(deployment)
        except (CredentialsError, Unreachable) as exc:
            unknown = state_unknown_reason(exc)
            notes.append(f"existing state unknown: {exc}")
            deployer.assume_nothing_deployed()
            calls = [
                dataclasses.replace(call, why=f"{call.why}; existing state unknown: {unknown}")
                for call in deployer.plan_calls(deployment)
            ]
    else:
        calls = deployer.plan_calls(deployment)
    notes += [
        f"image {f.image} was not built by `mlspec build`, so it was not pushed: {f.name} points at "
        "where it will be (a real platform refuses that until it is there); build it with a container "
        "engine and deploy again"
        for f in deployment.functions
        if not f.image_built
    ]
    if not dry_run:
        deployer.apply(calls)
    return DeployReport(deployment.target, calls, dry_run, notes, unknown, dict(deployer.pushed))


def state_unknown_reason(exc: CredentialsError | Unreachable) -> str:
    if isinstance(exc, Unreachable):
        return "could not connect"
    return "no credentials" if str(exc).startswith("no ") else "no usable credentials"


__all__ = [
    "DEPLOYERS",
    "ApiCall",
    "CredentialsError",
    "DeployError",
    "DeployReport",
    "Deployer",
    "Deployment",
    "Unreachable",
    "deploy",
    "make_deployer",
]
