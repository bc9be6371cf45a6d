"""The stage cache: entries keyed by what a stage's output depends on, kept under a cache prefix of the
object store (so an S3 store shares them between machines), and the digests keys are made of."""

from mlspec.cache.entries import (
    CorruptEntry,
    Manifest,
    list_manifests,
    read_manifest,
    remove_entry,
    restore_entry,
    write_entry,
)
from mlspec.cache.identity import code_id, content_id, digest

__all__ = [
    "CorruptEntry",
    "Manifest",
    "code_id",
    "content_id",
    "digest",
    "list_manifests",
    "read_manifest",
    "remove_entry",
    "restore_entry",
    "write_entry",
]
