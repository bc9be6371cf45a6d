"""The training engine end to end with the cloud-style stores: a real Redis parameter store and a
real S3-speaking object store (moto server) on loopback, each sync pattern and protocol."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from mlspec import spec
from mlspec.executors.base import Limits
from mlspec.executors.coordinator import SilentReporter, new_run_dir, run_pipeline
from mlspec.executors.local import LocalProcessExecutor

SPEC = """\
name: engine
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 1500, test_size: 400, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 5000}}
  train:
    kind: train
    data: prep
    model: logistic_regression
    workers: 3
    epochs: 3
    batch_size: 96
    weight_decay: 0.0001
    sync_every_steps: 2
    pattern: {pattern}
    protocol: {protocol}
    staleness: 1
  eval: {{kind: evaluate, model: train}}
storage:
  object_store: {{kind: s3, bucket: {bucket}, endpoint_url: '{endpoint}'}}
  param_store: {{kind: redis, url: '{redis}'}}
"""


@pytest.mark.parametrize(
    ("pattern", "protocol"),
    [
        ("allreduce", "bsp"),
        ("scatter_reduce", "bsp"),
        ("allreduce", "asp"),
        ("allreduce", "ssp"),
        ("scatter_reduce", "hsp"),
    ],
)
def test_patterns_and_protocols_train_through_redis_and_s3(
    tmp_path: Path, redis_url: str, s3_endpoint: str, pattern: str, protocol: str
) -> None:
    bucket = f"engine-{pattern.replace('_', '-')}-{protocol}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=bucket)
    pipeline = spec.load_text(
        SPEC.format(pattern=pattern, protocol=protocol, bucket=bucket, endpoint=s3_endpoint, redis=redis_url)
    )
    run_dir = new_run_dir(tmp_path / "runs", pipeline)
    record = run_pipeline(
        pipeline, "engine.yaml", [], LocalProcessExecutor(run_dir.logs), run_dir, SilentReporter(), Limits(2048, 300)
    )
    assert record.status == "succeeded"
    assert record.stages["eval"].metrics["test_accuracy"] > 0.7
    train = record.stages["train"].metrics
    assert "staleness_max" in train and "staleness_mean" in train
    if protocol == "bsp":
        assert train["staleness_max"] == 0
    if protocol == "ssp":
        assert train["staleness_max"] <= 1
    workers = [i for i in record.invocations if i.function == "train_worker"]
    assert all(i.io["param_bytes_written"] > 0 and i.io["object_bytes_read"] > 0 for i in workers)
    # Data, checkpoints and the model live in the bucket, under the run's own prefix; the stage cache's
    # entries under the store's cache prefix, one manifest per stage (asp/ssp/hsp training is not cached).
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(k.endswith("models/train/model.npz") for k in keys)
    assert all(k.startswith((f"mlspec/{record.run_id}/", "mlspec/.cache/")) for k in keys)
    cached = {s for s, stage in record.stages.items() if stage.cache_note == "stored"}
    assert cached == ({"prep", "train", "eval"} if protocol == "bsp" else {"prep"})
    assert sum(k.startswith("mlspec/.cache/") and k.endswith("/manifest.json") for k in keys) == len(cached)
    # Per-run keys in Redis are garbage-collected at the end.
    import redis

    assert not list(redis.Redis.from_url(redis_url).scan_iter(match=f"{record.run_id}*"))
