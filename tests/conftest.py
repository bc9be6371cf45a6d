"""Shared fixtures: the repository's paths and the real datasets beside it (skipped when absent)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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

    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
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
