"""Finds the platforms and looks providers and platforms up by key.

A platform is a module that defines ``PROVIDER`` (a `Provider`: the priced catalog) and, beside it,
``PLATFORM`` (a `Platform`: target settings, image, deployer, executor...). mlspec's own are the modules
of this package; another package adds one by naming its module in the ``mlspec.platforms`` entry-point
group (``[project.entry-points."mlspec.platforms"] my-cloud = "my_package.catalog"``). Adding a platform
is adding such a module; nothing else lists platforms. Discovery runs once, on first use.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import pkgutil
from collections.abc import Mapping
from functools import lru_cache
from types import ModuleType
from typing import Any

from mlspec.errors import UsageError
from mlspec.providers.catalog import Offering, Provider, UnknownProviderError
from mlspec.providers.platform import Platform

_PACKAGE = "mlspec.providers"
ENTRY_POINT_GROUP = "mlspec.platforms"


def _modules() -> list[ModuleType]:
    package = importlib.import_module(_PACKAGE)
    names = [
        f"{_PACKAGE}.{m.name}"
        for m in pkgutil.iter_modules(package.__path__)
        if not m.name.startswith("_") and not m.ispkg
    ]
    own = [importlib.import_module(name) for name in sorted(names)]
    added = [entry.load() for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]
    return own + [m for m in added if isinstance(m, ModuleType)]


@lru_cache(maxsize=1)
def _discover() -> tuple[tuple[Provider, ...], tuple[Platform, ...]]:
    providers: dict[str, Provider] = {}
    platforms: dict[str, Platform] = {}
    for module in _modules():
        provider = getattr(module, "PROVIDER", None)
        if provider is None:
            continue
        if not isinstance(provider, Provider):
            raise TypeError(f"{module.__name__}.PROVIDER is a {type(provider).__name__}, not a Provider")
        if provider.key in providers:
            raise ValueError(f"provider key {provider.key!r} is defined twice (second in {module.__name__})")
        platform = getattr(module, "PLATFORM", None)
        if not isinstance(platform, Platform) or platform.key != provider.key:
            raise TypeError(f"{module.__name__} needs PLATFORM = Platform(key={provider.key!r}, ...) beside PROVIDER")
        providers[provider.key] = provider
        platforms[provider.key] = platform
    ranked = sorted(platforms.values(), key=lambda p: (p.rank, p.key))
    return tuple(providers[k] for k in sorted(providers)), tuple(ranked)


def all_providers() -> tuple[Provider, ...]:
    """Every provider, ordered by key."""
    return _discover()[0]


def provider_keys() -> tuple[str, ...]:
    return tuple(p.key for p in all_providers())


def get_provider(key: str) -> Provider:
    for p in all_providers():
        if p.key == key:
            return p
    known = provider_keys()
    raise UnknownProviderError(f"unknown provider {key!r}; known providers: {', '.join(known)}", known)


def all_offerings() -> tuple[Offering, ...]:
    """Every offering of every provider: providers by key, offerings in each provider's order."""
    return tuple(o for p in all_providers() for o in p.offerings)


def get_offering(key: str, offering: str | None = None) -> Offering:
    """``get_offering("aws-lambda")`` (the default offering), ``get_offering("aws-lambda:arm64")``
    or ``get_offering("aws-lambda", "arm64")``."""
    if offering is None and ":" in key:
        key, offering = key.split(":", 1)
    return get_provider(key).offering(offering)


def all_platforms() -> tuple[Platform, ...]:
    """Every platform (the same keys as the providers), by rank: this machine first, then the most used."""
    return _discover()[1]


def get_platform(key: str) -> Platform:
    for p in all_platforms():
        if p.key == key:
            return p
    raise UsageError(f"unknown platform {key!r} (known: {', '.join(provider_keys())})")


def image_platforms() -> tuple[str, ...]:
    """Keys of the platforms mlspec builds images for."""
    return tuple(p.key for p in all_platforms() if p.image is not None)


def deployable_platforms() -> tuple[str, ...]:
    """Keys of the platforms mlspec deploys to and runs on."""
    return tuple(p.key for p in all_platforms() if p.deployable)


def store_platform(kind: str) -> Platform | None:
    """The platform whose cloud an object store kind belongs to (s3 -> aws-lambda); None for a local store."""
    return next((p for p in all_platforms() if p.object_store_kind == kind), None)


def cluster_platform(executor: str) -> Platform | None:
    """The serverful platform a run by `executor` ran on the like of (a Ray cluster: VMs); None for others."""
    return next((p for p in all_platforms() if executor in p.cluster_executors), None)


LOCAL = "local"  # this machine: the platform every pipeline may run on without an account
# What `mlspec compare` prices runs on unless told otherwise: the most used FaaS platform's default offering.
COMPARISON_OFFERING = "aws-lambda:x86_64"


def offering_selected_by(platform: str, settings: Mapping[str, Any]) -> str | None:
    """The offering key a target's settings select (`architecture: arm64` -> "arm64"), if any."""
    field = get_platform(platform).offering_field if platform in provider_keys() else None
    value = settings.get(field) if field else None
    return str(value) if value is not None else None
