"""AWS fixtures for the deploy tests: moto in server mode on loopback (all AWS services on one port,
started and stopped per test so every test starts from an empty account), fake credentials in the
environment, and a small pipeline built with `--engine none` (contexts only: no image to push)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlspec import spec
from mlspec.compile.build import build
from mlspec.spec.models import Pipeline

FAKE_KEY_ID = "AKIAFAKEFAKEFAKE1234"
FAKE_SECRET = "fake-secret-mlspec-0123456789abcdef"

AWS_SPEC = """\
name: deploytest
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 400, test_size: 200, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 2000, retries: 0}}
  train: {{kind: train, data: prep, model: logistic_regression, workers: 3, epochs: 1, memory_mb: 2048,
          timeout_s: 600}}
  eval: {{kind: evaluate, model: train}}
targets:
  aws-lambda: {{memory_mb: 1024, timeout_s: 300}}
storage:
  object_store: {{kind: s3, bucket: mlspec-deploytest-objects}}
  param_store: {{kind: redis, url: "{redis_url}"}}
"""


@pytest.fixture
def moto_endpoint() -> Iterator[str]:
    from tests.servers import s3_server

    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Fake credentials and moto's endpoint for every boto3 client; no real AWS configuration is read."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": FAKE_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    return moto_endpoint


@pytest.fixture
def aws_spec(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(AWS_SPEC.format(redis_url="redis://127.0.0.1:6379/0"))
    return path


@pytest.fixture
def built(aws_spec: Path, tmp_path: Path) -> tuple[Pipeline, Path]:
    """The pipeline and the build directory holding its aws-lambda contexts (no images)."""
    pipeline = spec.load(aws_spec)
    build(pipeline, tmp_path / "build", ["aws-lambda"], "none")
    return pipeline, tmp_path / "build"
