"""``"module:attr"`` references: how registries name code without importing it until it is used.

Registries keep such strings so that importing a registry stays light (``mlspec plan`` must not load
torch) and so that a lower layer can list code that lives above it without importing upward."""

from __future__ import annotations

import importlib
from typing import Any


def load(reference: str) -> Any:
    """The object ``"package.module:attr"`` names, importing its module."""
    module, _, attr = reference.partition(":")
    return getattr(importlib.import_module(module), attr)
