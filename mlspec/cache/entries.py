"""Cache entries in an object store: `<key>/manifest.json` names the entry's objects, with the sha256 and size
of each, and what the stage reported when it ran. A writer puts its objects under a folder of its own
(`<key>/<writer>/...`) and the manifest last, in one put: a reader never sees a manifest whose objects are
not all written, and of two writers of one key at once the last manifest wins with a complete set."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlspec.storage import ObjectStore

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class CorruptEntry(Exception):
    """A manifest that cannot be read, or an object it names that is missing or differs from its checksum."""


@dataclass(frozen=True)
class Manifest:
    key: str
    stage: str
    kind: str
    run_id: str  # the run that computed it
    created_at: float
    writer: str  # the folder under the key holding its objects
    objects: dict[str, dict[str, Any]]  # path relative to the stage's output -> {"sha256", "bytes"}
    outcome: dict[str, Any]  # what the stage reported: wall_s, invocations, metrics, history, ...
    parts: dict[str, Any] = field(default_factory=dict)  # what the key was made of, for `cache show`

    @property
    def bytes(self) -> int:
        return sum(int(o["bytes"]) for o in self.objects.values())

    def as_json(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, **self.__dict__}


def manifest_key(key: str) -> str:
    return f"{key}/{MANIFEST}"


def read_manifest(cache: ObjectStore, key: str) -> Manifest | None:
    """The entry's manifest; None when there is none. Raises CorruptEntry when it cannot be read."""
    try:
        data = cache.get(manifest_key(key))
    except KeyError:
        return None
    try:
        raw = json.loads(data)
        if raw.pop("version") != MANIFEST_VERSION:
            raise CorruptEntry(f"manifest version {raw.get('version')!r} is not {MANIFEST_VERSION}")
        return Manifest(**raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise CorruptEntry(f"unreadable manifest ({type(exc).__name__}: {exc})") from None


def write_entry(
    cache: ObjectStore,
    key: str,
    source: ObjectStore | None,
    prefix: str | None,
    describe: Callable[[str], Manifest],
) -> bool:
    """Copy every object under `prefix` of `source` (none without them) into the entry, then its manifest
    (`describe(writer)` with the objects filled in). True when this writer's manifest is the one that stands."""
    writer = f"w{int(time.time())}-{secrets.token_hex(4)}"
    objects: dict[str, dict[str, Any]] = {}
    if source is not None and prefix:
        for name in source.list(f"{prefix}/"):
            relative = name[len(prefix) + 1 :]
            data = source.get(name)
            cache.put_copy(f"{key}/{writer}/{relative}", data, source, name)
            objects[relative] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    manifest = describe(writer)
    manifest = Manifest(**{**manifest.__dict__, "objects": objects, "writer": writer})
    cache.put(manifest_key(key), json.dumps(manifest.as_json()).encode())
    standing = read_manifest(cache, key)
    if standing is not None and standing.writer != writer:
        cache.delete_prefix(f"{key}/{writer}/")  # another writer's complete entry won
        return False
    return True


def restore_entry(cache: ObjectStore, manifest: Manifest, target: ObjectStore, prefix: str | None) -> int:
    """Copy the entry's objects under `prefix` of `target`, checking each against its checksum first.
    Returns the bytes copied. Raises CorruptEntry (what was copied is left for the caller to remove)."""
    copied = 0
    for relative, expected in sorted(manifest.objects.items()):
        name = f"{manifest.key}/{manifest.writer}/{relative}"
        try:
            data = cache.get(name)
        except KeyError:
            raise CorruptEntry(f"object {relative!r} is missing") from None
        if len(data) != expected["bytes"] or hashlib.sha256(data).hexdigest() != expected["sha256"]:
            raise CorruptEntry(f"object {relative!r} does not match its checksum")
        target.put_copy(f"{prefix}/{relative}", data, cache, name)
        copied += len(data)
    return copied


def list_manifests(cache: ObjectStore) -> tuple[list[Manifest], list[str]]:
    """Every entry's manifest (oldest first), and the keys whose manifest cannot be read."""
    manifests: list[Manifest] = []
    corrupt: list[str] = []
    for name in cache.list(""):
        key, _, rest = name.rpartition("/")
        if rest != MANIFEST or "/" in key:
            continue
        try:
            manifest = read_manifest(cache, key)
        except CorruptEntry:
            corrupt.append(key)
            continue
        if manifest is not None:
            manifests.append(manifest)
    return sorted(manifests, key=lambda m: m.created_at), corrupt


def remove_entry(cache: ObjectStore, key: str) -> int:
    """Remove the entry (its manifest first, so no reader finds a manifest without its objects)."""
    removed = cache.delete_prefix(manifest_key(key))
    return removed + cache.delete_prefix(f"{key}/")
