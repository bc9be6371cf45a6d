"""Shared fixtures: the repository's paths and the real datasets beside it (skipped when absent)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# A shell without job control (a CI script, `cmd &`) starts background jobs with SIGINT ignored, every child
# inherits that, and Python then installs no KeyboardInterrupt handler: a test's Ctrl-C to `mlspec run` or
# `mlspec serve` would never arrive. A handler, unlike an ignore, is reset to the default in a child at exec,
# so every process the tests start gets Ctrl-C as a terminal's foreground job does.
signal.signal(signal.SIGINT, signal.default_int_handler)

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 set; the tests of output mean what a pipe gets
# from a user's shell (no width), as a run without workers has.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)

REPO = Path(__file__).resolve().parents[1]
#: The folder with the real archives: $MLSPEC_DATA, else the team's ../shared/data beside the repository.
SHARED_DATA = Path(os.environ.get("MLSPEC_DATA") or REPO.parent / "shared" / "data")


def shared_archive(*names: str) -> Path:
    """The first of `names` present in the data folder; the test is skipped when none is."""
    for name in names:
        path = SHARED_DATA / name
        if path.is_file():
            return path
    pytest.skip(f"real dataset {' or '.join(names)} absent from {SHARED_DATA} (set MLSPEC_DATA to its folder)")


#: The smallest real pipeline: a k-means stage on a synthetic CIFAR twin, a few seconds end to end.
TINY_KMEANS = """\
name: tinykm
seed: 3
datasets:
  data: {format: cifar10, synthetic: {train_size: 300, test_size: 60, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: data}
  fit: {kind: iterative, data: prep, algorithm: kmeans, clusters: 3, workers: 1, iterations: 3}
"""


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str = "the condition") -> Any:
    """Poll `condition` until it is truthy (its value is returned) or `timeout_s` passes (AssertionError)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.servers import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as server:
        yield server.url


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    import os

    from tests.servers import s3_server

    for var, value in (
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ):
        os.environ.setdefault(var, value)
    with s3_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def gcs_endpoint() -> Iterator[str]:
    from tests.servers import gcs_server

    with gcs_server() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def azurite_connection_string(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.servers import azurite_server

    with azurite_server(tmp_path_factory.mktemp("azurite")) as connection_string:
        yield connection_string
