"""Cache entries in an object store: written objects-first with the manifest last, verified on restore,
and left whole by writers racing on one key (a local store and a moto S3 server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest

from mlspec.cache import CorruptEntry, Manifest, read_manifest, restore_entry, write_entry
from mlspec.storage import ObjectStore, open_object_store
from mlspec.storage.local import LocalObjectStore


def describer(run_id: str) -> Callable[[str], Manifest]:
    def describe(writer: str) -> Manifest:
        return Manifest("k", "prep", "preprocess", run_id, time.time(), writer, {}, {"metrics": {"n": 1.0}})

    return describe


def source_with(root: Path, tag: int, count: int = 12) -> LocalObjectStore:
    store = LocalObjectStore(root)
    for i in range(count):
        store.put(f"data/prep/part-{i}.bin", bytes([tag]) * (1000 + i))
    store.put("data/other/x.bin", b"not this stage's")  # beside the prefix: never copied
    return store


@pytest.fixture(params=["local", "s3"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store({"kind": "local", "root": str(tmp_path / "cache")})
    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"cache-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return open_object_store({"kind": "s3", "bucket": bucket, "prefix": "team/.cache", "endpoint_url": endpoint})


def test_an_entry_restores_its_objects_under_another_prefix(cache: ObjectStore, tmp_path: Path) -> None:
    source = source_with(tmp_path / "src", 7)
    assert write_entry(cache, "k", source, "data/prep", describer("run-1"))
    manifest = read_manifest(cache, "k")
    assert manifest is not None and manifest.run_id == "run-1" and len(manifest.objects) == 12
    target = LocalObjectStore(tmp_path / "target")
    assert restore_entry(cache, manifest, target, "data/prep") == manifest.bytes
    assert sorted(target.list("data/")) == sorted(n for n in source.list("data/prep/"))
    assert target.get("data/prep/part-3.bin") == bytes([7]) * 1003


def test_writers_racing_on_one_key_leave_one_complete_entry(cache: ObjectStore, tmp_path: Path) -> None:
    writers = 6
    sources = [source_with(tmp_path / f"src{i}", i) for i in range(writers)]
    start = threading.Barrier(writers)

    def write(i: int) -> bool:
        start.wait()
        return write_entry(cache, "k", sources[i], "data/prep", describer(f"run-{i}"))

    with ThreadPoolExecutor(writers) as pool:
        standing = list(pool.map(write, range(writers)))
    manifest = read_manifest(cache, "k")
    assert manifest is not None
    winner = int(manifest.run_id.removeprefix("run-"))
    assert standing[winner]
    target = LocalObjectStore(tmp_path / "target")
    restore_entry(cache, manifest, target, "data/prep")  # every object there, every checksum right
    assert all(target.get(n) == sources[winner].get(n) for n in sources[winner].list("data/prep/"))
    # A writer that saw another manifest standing removed its own objects.
    folders = {name.split("/")[1] for name in cache.list("k/") if not name.endswith("manifest.json")}
    assert manifest.writer in folders and len(folders) <= sum(standing)


def test_a_writer_that_fails_midway_leaves_no_entry(cache: ObjectStore, tmp_path: Path) -> None:
    class Failing(LocalObjectStore):
        def _get(self, key: str) -> bytes:
            if key.endswith("part-5.bin"):
                raise OSError("disk vanished")
            return super()._get(key)

    source = Failing(tmp_path / "src")
    for i in range(8):
        source.put(f"data/prep/part-{i}.bin", b"x" * 10)
    with pytest.raises(OSError):
        write_entry(cache, "k", source, "data/prep", describer("run-1"))
    assert read_manifest(cache, "k") is None  # objects without a manifest are never served


def test_damage_is_detected_before_it_is_served(tmp_path: Path) -> None:
    cache = LocalObjectStore(tmp_path / "cache")
    write_entry(cache, "k", source_with(tmp_path / "src", 1), "data/prep", describer("run-1"))
    manifest = read_manifest(cache, "k")
    assert manifest is not None
    cache.put(f"k/{manifest.writer}/part-0.bin", b"\x02" * 1000)  # same size, other bytes
    with pytest.raises(CorruptEntry, match=r"'part-0\.bin' does not match its checksum"):
        restore_entry(cache, manifest, LocalObjectStore(tmp_path / "t"), "data/prep")
    cache.delete_prefix(f"k/{manifest.writer}/part-1.bin")
    manifest = Manifest(**{**manifest.__dict__, "objects": {"part-1.bin": manifest.objects["part-1.bin"]}})
    with pytest.raises(CorruptEntry, match=r"'part-1\.bin' is missing"):
        restore_entry(cache, manifest, LocalObjectStore(tmp_path / "t2"), "data/prep")
    cache.put("k/manifest.json", b"{not json")
    with pytest.raises(CorruptEntry, match="unreadable manifest"):
        read_manifest(cache, "k")
