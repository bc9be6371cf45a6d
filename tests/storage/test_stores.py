"""The same behaviour from every store: local directories, a real redis-server and a real
S3-speaking server (moto in server mode), all on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from mlspec.runtime.sync import ModelAverager
from mlspec.storage import ObjectStore, ParamStore, StoreTimeout, open_object_store, open_param_store


@pytest.fixture(params=["local", "redis"])
def param_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ParamStore]:
    if request.param == "local":
        yield open_param_store({"kind": "local", "root": str(tmp_path / "params")})
    else:
        yield open_param_store({"kind": "redis", "url": request.getfixturevalue("redis_url")})


@pytest.fixture(params=["local", "s3"])
def object_store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return open_object_store({"kind": "local", "root": str(tmp_path / "objects")})
    import boto3

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = f"b-{tmp_path.name.lower().replace('_', '-')[-40:]}"
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


def test_model_averaging_through_the_store(param_store: ParamStore) -> None:
    workers = 3
    results: dict[int, np.ndarray] = {}
    ns = f"avg{id(param_store)}"

    def worker(i: int) -> None:
        averager = ModelAverager(param_store, ns, i, workers, timeout_s=10)
        first = averager.average(np.full(5, float(i), dtype=np.float32))
        results[i] = averager.average(first + i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(workers):
        np.testing.assert_allclose(results[i], np.full(5, 2.0))  # mean(0,1,2)=1, then mean(1,2,3)=2
