"""Finds the platform modules of this package and looks providers up by key.

A platform module is any module of ``mlspec.providers`` that defines ``PROVIDER`` (a `Provider`);
adding a platform is adding one such module. Discovery runs once, on first use.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache

from mlspec.providers.catalog import Offering, Provider, UnknownProviderError

_PACKAGE = "mlspec.providers"


@lru_cache(maxsize=1)
def _discover() -> tuple[Provider, ...]:
    package = importlib.import_module(_PACKAGE)
    found: dict[str, Provider] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{_PACKAGE}.{info.name}")
        provider = getattr(module, "PROVIDER", None)
        if provider is None:
            continue
        if not isinstance(provider, Provider):
            raise TypeError(f"{module.__name__}.PROVIDER is a {type(provider).__name__}, not a Provider")
        if provider.key in found:
            raise ValueError(f"provider key {provider.key!r} is defined twice (second in {module.__name__})")
        found[provider.key] = provider
    return tuple(found[k] for k in sorted(found))


def all_providers() -> tuple[Provider, ...]:
    """Every provider, ordered by key."""
    return _discover()


def provider_keys() -> tuple[str, ...]:
    return tuple(p.key for p in _discover())


def get_provider(key: str) -> Provider:
    for p in _discover():
        if p.key == key:
            return p
    known = provider_keys()
    raise UnknownProviderError(f"unknown provider {key!r}; known providers: {', '.join(known)}", known)


def all_offerings() -> tuple[Offering, ...]:
    """Every offering of every provider: providers by key, offerings in each provider's order."""
    return tuple(o for p in _discover() for o in p.offerings)


def get_offering(key: str, offering: str | None = None) -> Offering:
    """``get_offering("aws-lambda")`` (the default offering), ``get_offering("aws-lambda:arm64")``
    or ``get_offering("aws-lambda", "arm64")``."""
    if offering is None and ":" in key:
        key, offering = key.split(":", 1)
    return get_provider(key).offering(offering)
