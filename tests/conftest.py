"""Shared fixtures: the repository's paths and the real datasets beside it (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def shared_archive(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"real dataset {path} is absent (see ../shared/data/README.md)")
    return path


@pytest.fixture
def repo() -> Path:
    return REPO
