"""Fixtures for the tests that build and run real images: podman, and the Debian base image made once
per machine (debootstrap, then cached)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from mlspec.compile.base_image import default_cache, default_tag, ensure_base_image
from mlspec.compile.engines import CliEngine, cli_engine


@pytest.fixture(scope="session")
def podman() -> CliEngine:
    engine = cli_engine("podman")
    if engine is None:
        pytest.skip("podman is not installed (apt-get install podman buildah runc)")
    if subprocess.run([engine.executable, "info"], capture_output=True).returncode != 0:
        pytest.skip("podman is installed but `podman info` fails here")
    return engine


@pytest.fixture(scope="session")
def base_image(podman: CliEngine) -> str:
    """The Debian base, made once per machine: reused from podman's storage or the cached tarball."""
    tag = default_tag()
    cached = any(default_cache().glob("*.tar")) if default_cache().is_dir() else False
    if not podman.image_exists(tag) and not cached:
        if shutil.which("debootstrap") is None:
            pytest.skip("debootstrap is not installed and no base image is cached (apt-get install debootstrap)")
        if os.geteuid() != 0:
            pytest.skip("debootstrap needs root and no base image is cached")
    return ensure_base_image(podman, lambda text: None).tag
