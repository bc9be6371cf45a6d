"""`mlspec cache`: the stage cache of an object store, listed, shown, collected and removed. Entries are
found from the store a spec names (default: the local store beside the runs directory)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec.cache import Manifest, list_manifests, remove_entry
from mlspec.errors import UsageError
from mlspec.records import cache_store
from mlspec.records.runs import list_runs
from mlspec.spec import load as load_spec
from mlspec.storage import LOCAL_STORE, ObjectStore, open_object_store

# Objects a writer left beside a standing entry (it lost a race, or crashed mid-write) are garbage once
# older than this: a write in progress is younger.
IN_FLIGHT_GRACE_S = 3600.0
_WRITER_TIME = re.compile(r"^w(\d+)-")


@dataclass(frozen=True)
class Cache:
    config: dict[str, Any]  # the object store narrowed to the cache prefix
    store: ObjectStore

    @property
    def where(self) -> str:
        return str(
            self.config.get("root") or f"{self.config['kind']}:{self.config.get('bucket', '')}{self.config['prefix']}"
        )


def open_cache(runs_dir: Path, spec: Path | None = None, overrides: list[str] | None = None) -> Cache:
    """The cache of the spec's object store; without a spec, the local store beside `runs_dir`."""
    store = load_spec(spec, overrides or []).storage.object_store.model_dump() if spec else {"kind": LOCAL_STORE}
    config = cache_store(runs_dir, store)
    return Cache(config, open_object_store(config))


def entries(cache: Cache) -> tuple[list[Manifest], list[str]]:
    """Every entry (oldest first) and the keys whose manifest cannot be read."""
    return list_manifests(cache.store)


def find_entry(cache: Cache, key: str) -> Manifest:
    """An entry by key or unique key prefix; UsageError (exit 2) when unknown, ambiguous or unreadable."""
    if not key.strip():
        raise UsageError("a cache key (or a prefix of one) cannot be empty")
    manifests, corrupt = entries(cache)
    matches = [m for m in manifests if m.key.startswith(key)]
    if not matches:
        if any(k.startswith(key) for k in corrupt):
            raise UsageError(f"cache entry {key!r} is corrupt (its manifest cannot be read); `mlspec cache rm` it")
        raise UsageError(f"no cache entry {key!r} in {cache.where} (`mlspec cache ls` lists them)")
    if len(matches) > 1:
        raise UsageError(f"cache key {key!r} is ambiguous: {', '.join(m.key[:16] for m in matches[:5])}")
    return matches[0]


def referenced_keys(runs_dir: Path) -> set[str]:
    """The keys of every stage of every run still in `runs_dir`: what gc keeps whatever its age."""
    return {
        stage.cache_key
        for entry in list_runs(runs_dir, profiles=True)
        if entry.record is not None
        for stage in entry.record.stages.values()
        if stage.cache_key
    }


@dataclass(frozen=True)
class Collected:
    removed: list[str]  # entry keys
    kept_referenced: int  # old entries a kept run references
    kept_recent: int
    leftovers: int  # objects of lost or crashed writes removed


def collect_garbage(cache: Cache, runs_dir: Path, keep_days: float, now: float | None = None) -> Collected:
    """Remove entries older than `keep_days` that no run in `runs_dir` references, unreadable entries, and
    objects no entry names (writes that lost a race or crashed) once past the in-flight grace."""
    now = time.time() if now is None else now
    cutoff = now - keep_days * 86400
    referenced = referenced_keys(runs_dir)
    manifests, corrupt = entries(cache)
    removed, kept_referenced, kept_recent = [], 0, 0
    for manifest in manifests:
        if manifest.created_at >= cutoff:
            kept_recent += 1
        elif manifest.key in referenced:
            kept_referenced += 1
        else:
            remove_entry(cache.store, manifest.key)
            removed.append(manifest.key)
    for key in corrupt:
        remove_entry(cache.store, key)
        removed.append(key)
    standing = {m.key: m.writer for m in manifests if m.key not in removed}
    return Collected(removed, kept_referenced, kept_recent, _remove_leftovers(cache.store, standing, now))


def _remove_leftovers(store: ObjectStore, standing: dict[str, str], now: float) -> int:
    writers: set[tuple[str, str]] = set()
    for name in store.list(""):
        parts = name.split("/")
        if len(parts) >= 3 and standing.get(parts[0]) != parts[1]:
            writers.add((parts[0], parts[1]))
    removed = 0
    for key, writer in sorted(writers):
        started = _WRITER_TIME.match(writer)
        if started is not None and now - int(started.group(1)) > IN_FLIGHT_GRACE_S:
            removed += store.delete_prefix(f"{key}/{writer}/")
    return removed


def remove(cache: Cache, keys: list[str]) -> list[str]:
    """Remove these entries (keys or unique prefixes; an unreadable entry by its whole key). Returns the
    keys, after checking them all: nothing is removed when one is unknown."""
    corrupt = set(entries(cache)[1])
    found = [key if key in corrupt else find_entry(cache, key).key for key in keys]
    for key in found:
        remove_entry(cache.store, key)
    return found


def remove_all(cache: Cache) -> int:
    """Every entry, whole or not; returns how many."""
    keys = sorted({name.split("/")[0] for name in cache.store.list("")})
    for key in keys:
        remove_entry(cache.store, key)
    return len(keys)
