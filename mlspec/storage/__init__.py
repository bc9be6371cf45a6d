"""Stores, opened from plain config dicts that travel in invocation events.

Each kind lives in its own module; the registry maps `kind` to `module:function` and imports lazily,
so a function only loads the client library of the store it uses.
"""

from __future__ import annotations

from typing import Any

from mlspec.references import load
from mlspec.storage.base import ObjectStore, ParamStore, StoreTimeout

LOCAL_STORE = "local"  # the kind of a store that is a directory on this machine

OBJECT_STORES = {
    LOCAL_STORE: "mlspec.storage.local:open_local_object_store",
    "s3": "mlspec.storage.s3_store:open_s3_object_store",
    "gcs": "mlspec.storage.gcs_store:open_gcs_object_store",
    "azure_blob": "mlspec.storage.azure_blob_store:open_azure_blob_object_store",
}
PARAM_STORES = {
    LOCAL_STORE: "mlspec.storage.local:open_local_param_store",
    "redis": "mlspec.storage.redis_store:open_redis_param_store",
}


def _open(registry: dict[str, str], config: dict[str, Any], what: str) -> Any:
    kind = config.get("kind", LOCAL_STORE)
    if kind not in registry:
        raise ValueError(f"unknown {what} kind {kind!r} (known: {', '.join(registry)})")
    return load(registry[kind])(config)


def is_local_store(config: dict[str, Any]) -> bool:
    """Whether a store config names a directory on this machine (the default kind)."""
    return config.get("kind", LOCAL_STORE) == LOCAL_STORE


def open_object_store(config: dict[str, Any]) -> ObjectStore:
    store: ObjectStore = _open(OBJECT_STORES, config, "object store")
    return store


def open_param_store(config: dict[str, Any]) -> ParamStore:
    store: ParamStore = _open(PARAM_STORES, config, "parameter store")
    return store


__all__ = [
    "LOCAL_STORE",
    "ObjectStore",
    "ParamStore",
    "StoreTimeout",
    "is_local_store",
    "open_object_store",
    "open_param_store",
]
