"""The same behaviour from every store: local directories, a real redis-server, a real S3-speaking
server (moto in server mode), gcp-storage-emulator and Azurite, all on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlspec.errors import UsageError
from mlspec.runtime.sync import PROTOCOLS, synchronizer
from mlspec.storage import ObjectStore, ParamStore, StoreTimeout, open_object_store, open_param_store
from tests.servers import create_azure_container, create_gcs_bucket


@pytest.fixture(params=["local", "redis"])
def param_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParamStore]:
    if request.param == "local":
        yield open_param_store({"kind": "local", "root": str(tmp_path / "params")})
    else:
        yield open_param_store({"kind": "redis", "url": request.getfixturevalue("redis_url")})


@pytest.fixture(params=["local", "s3", "gcs", "azure_blob"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ObjectStore:
    if request.param == "local":
        return open_object_store({"kind": "local", "root": str(tmp_path / "objects")})
    bucket = f"b-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    if request.param == "gcs":
        endpoint = request.getfixturevalue("gcs_endpoint")
        create_gcs_bucket(endpoint, bucket)
        return open_object_store({"kind": "gcs", "bucket": bucket, "prefix": "run", "endpoint_url": endpoint})
    if request.param == "azure_blob":
        connection_string = request.getfixturevalue("azurite_connection_string")
        create_azure_container(connection_string, bucket)
        monkeypatch.setenv("MLSPEC_TEST_AZURE", connection_string)
        return open_object_store(
            {"kind": "azure_blob", "container": bucket, "prefix": "run", "connection_string_env": "MLSPEC_TEST_AZURE"}
        )
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return open_object_store({"kind": "s3", "bucket": bucket, "prefix": "run", "endpoint_url": endpoint})


def test_object_store_round_trip_and_counting(object_store: ObjectStore) -> None:
    object_store.put("a/b/one.bin", b"12345")
    object_store.put("a/c/two.bin", b"xy")
    assert object_store.get("a/b/one.bin") == b"12345"
    assert object_store.exists("a/c/two.bin") and not object_store.exists("a/zzz")
    assert object_store.list("a") == ["a/b/one.bin", "a/c/two.bin"]
    with pytest.raises(KeyError):
        object_store.get("a/missing")
    assert object_store.counter.bytes_written == 7 and object_store.counter.bytes_read == 5
    assert object_store.delete_prefix("a/b") == 1
    assert object_store.list("a") == ["a/c/two.bin"]


def test_object_store_large_object_round_trip(object_store: ObjectStore) -> None:
    # Above google-cloud-storage's 8 MiB multipart limit, so GCS takes its resumable upload path.
    data = np.random.default_rng(0).bytes(9 * 2**20)
    object_store.put("big/data.bin", data)
    assert object_store.get("big/data.bin") == data
    assert object_store.delete_prefix("big") == 1 and not object_store.exists("big/data.bin")


def test_put_copy_from_a_local_store(object_store: ObjectStore, tmp_path: Path) -> None:
    """Into a local store a local object is linked, not written again; elsewhere it is put. Either way the
    copy outlives a replaced or deleted original."""
    source = open_object_store({"kind": "local", "root": str(tmp_path / "source")})
    source.put("entry/one.bin", b"cached")
    object_store.put_copy("run/one.bin", b"cached", source, "entry/one.bin")
    assert object_store.get("run/one.bin") == b"cached" and object_store.list("run") == ["run/one.bin"]
    if object_store.__class__ is source.__class__:
        assert object_store.counter.bytes_written == 0  # linked
        assert (tmp_path / "source" / "entry" / "one.bin").stat().st_nlink == 2
    source.put("entry/one.bin", b"replaced")
    source.delete_prefix("entry")
    assert object_store.get("run/one.bin") == b"cached"


def test_azure_blob_store_without_its_connection_string_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLSPEC_TEST_UNSET", raising=False)
    with pytest.raises(UsageError, match=r"environment variable MLSPEC_TEST_UNSET .* is not set"):
        open_object_store({"kind": "azure_blob", "container": "runs", "connection_string_env": "MLSPEC_TEST_UNSET"})


def test_param_store_put_get_incr_delete(param_store: ParamStore) -> None:
    ns = f"t{id(param_store)}"
    assert param_store.get(f"{ns}/k") is None
    param_store.put(f"{ns}/k", b"v")
    assert param_store.get(f"{ns}/k") == b"v"
    assert [param_store.incr(f"{ns}/n") for _ in range(3)] == [1, 2, 3]
    with pytest.raises(StoreTimeout):
        param_store.wait_all([f"{ns}/never"], timeout_s=0.05)
    assert param_store.delete_prefix(ns) >= 2
    assert param_store.get(f"{ns}/k") is None


def test_concurrent_incr_is_atomic(param_store: ParamStore) -> None:
    key = f"c{id(param_store)}/counter"

    def bump() -> None:
        for _ in range(50):
            param_store.incr(key)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert param_store.incr(key) == 201


@pytest.mark.parametrize("pattern", ["allreduce", "scatter_reduce"])
def test_synchronous_averaging_through_the_store(param_store: ParamStore, pattern: str) -> None:
    workers = 3
    results: dict[int, np.ndarray] = {}
    ns = f"avg{id(param_store)}{pattern}"
    # Values whose float32 sums round, so that a worker adding in another order (or its own model taken from
    # memory differently) would end with other bits.
    x = np.random.default_rng(0).standard_normal(1001).astype(np.float32) / 3

    def worker(i: int) -> None:
        sync = synchronizer(param_store, ns, i, workers, timeout_s=10, pattern=pattern)
        first = sync.average(x + np.float32(i), epoch_end=False)
        results[i] = sync.average(first + np.float32(i), epoch_end=True)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # mean(x+0, x+1, x+2) = x+1, then mean(x+1+0, x+1+1, x+1+2) = x+2, the same bits on every worker
    np.testing.assert_allclose(results[0], x + 2.0, rtol=1e-6)
    assert all(results[i].tobytes() == results[0].tobytes() for i in range(workers))
    assert all(k.startswith(f"{ns}/r1") for k in _keys(param_store, ns)), "round 0 was not collected"


def _keys(store: ParamStore, ns: str) -> list[str]:
    client = getattr(store, "client", None)
    if client is not None:
        return [k.decode() for k in client.scan_iter(match=f"{ns}/*")]
    root = store.root  # type: ignore[attr-defined]
    return [str(p.relative_to(root)) for p in (root / ns).rglob("*") if p.is_file()]


@pytest.mark.parametrize("protocol", sorted(set(PROTOCOLS) - {"bsp"}))
def test_asynchronous_protocols_end_in_agreement_and_report_staleness(param_store: ParamStore, protocol: str) -> None:
    workers, rounds = 3, 6
    results: dict[int, np.ndarray] = {}
    stats: dict[int, dict[str, float]] = {}
    ns = f"async{id(param_store)}{protocol}"

    def worker(i: int) -> None:
        sync = synchronizer(param_store, ns, i, workers, timeout_s=10, protocol=protocol, staleness=1)
        params = np.full(4, float(i), dtype=np.float32)
        for r in range(rounds):
            if i == 2:
                time.sleep(0.02)  # a straggler
            params = sync.average(params + 1, epoch_end=r == rounds - 1)
        results[i] = sync.consolidate(params)
        stats[i] = sync.stats()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(1, workers):
        np.testing.assert_allclose(results[i], results[0], rtol=1e-6)
    assert all("staleness_max" in s for s in stats.values())
    if protocol == "ssp":
        assert max(s["staleness_max"] for s in stats.values()) <= 1
