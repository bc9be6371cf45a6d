"""What mlspec needs to know of a platform besides its prices: one `Platform` per catalog module.

Every reference to code is a ``"module:attr"`` string, loaded only when used, so the catalog stays light
(``mlspec plan`` must start fast) and the layers below the platform's own code never import it. A
platform that mlspec can only price (IBM Code Engine, Oracle Functions, EC2 VMs) names its target settings
and little else; one that mlspec builds for, deploys to and runs on names the rest.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ImageFacts:
    """How a function's container image is made for this platform."""

    templates: str  # "package:folder": Dockerfile.tmpl, the handler shim and other files, rendered per function
    base_image: str
    shim_requirements: tuple[str, ...] = ()  # what the shim needs besides mlspec's own runtime packages

    def template_dir(self) -> Path:
        package, folder = self.templates.split(":")
        module_file = importlib.import_module(package).__file__
        assert module_file is not None, f"{package} is a namespace package; templates need a real one"
        return Path(module_file).resolve().parent / folder


@dataclass(frozen=True)
class Platform:
    key: str  # the provider key: targets.<key> in pipeline.yaml, --target <key> on the command line
    target: str  # "module:Class": the pydantic settings of targets.<key> (a spec TargetBase)
    rank: int = 100  # where it is listed among platforms (choices, doctor, targets): lower first
    offering_field: str | None = None  # the target setting that picks one of the provider's offerings
    image: ImageFacts | None = None  # None: nothing to build
    deployer: str | None = None  # "module:Class": a deploy.base.Deployer
    executor: str | None = None  # "module:Class": an executors.base.Executor invoking deployed functions
    run_options: str | None = None  # "module:function" (target settings, deployment) -> executor options, run --target
    cloud: str | None = None  # short name: the pip extra with its SDKs, and doctor's "<cloud> sdk" line
    sdk_modules: tuple[str, ...] = ()  # Python modules deploy and run import (doctor checks they are there)
    credentials: str | None = None  # "module:function" () -> where credentials were found; raises CredentialsError
    # The storage.object_store kind of this platform's own cloud: deploy creates its bucket only for it (or
    # for a local store), and bytes a function moves to or from another cloud's store are priced as egress.
    object_store_kind: str | None = None
    # "module:function" (target settings, deployment) -> the object store config `run --target` gives the
    # functions when the spec's store is local: the bucket (container) deploy created in this cloud.
    own_object_store: str | None = None
    # Offerings of a deployable platform that deploy cannot carry out -> why, in a line that says what to set
    # instead. The planner places stages on the others only; these are priced for comparison.
    undeployable_offerings: Mapping[str, str] = field(default_factory=dict, hash=False)
    # A cluster of servers billed while they are up (VMs), not per invocation: `plan` never places stages on
    # it but says when it would cost less than the functions it placed them on.
    serverful: bool = False
    # Executors whose runs ran on such a cluster (`execution.executor`): `compare` prices their measured
    # time on this platform's default offering.
    cluster_executors: tuple[str, ...] = ()

    @property
    def deployable(self) -> bool:
        return self.deployer is not None and self.executor is not None and self.run_options is not None

    def deploys(self, offering: str) -> bool:
        """Whether build, deploy and run can carry out a stage on this platform's `offering`."""
        return self.deployable and offering not in self.undeployable_offerings

    def deploy_problem(self, settings: Mapping[str, Any]) -> str | None:
        """Why deploy cannot carry out these target settings (the offering they select), or None."""
        offering = settings.get(self.offering_field) if self.offering_field else None
        return self.undeployable_offerings.get(str(offering)) if offering is not None else None
