"""`mlspec deploy --dry-run` works with no account and no network: with no credentials at all, and with
dummy credentials whose endpoint is a closed port on loopback, it lists every call a first deploy would
make, each marked "existing state unknown" with the reason, quickly (one try, no backoff), and makes none."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main

QUICKSTART = Path(__file__).parents[2] / "examples" / "quickstart.yaml"
SETTINGS = {
    "aws-lambda": ["memory_mb=2048"],
    "gcp-cloud-run": ["memory_mb=2048", "project=mlspec-dry-run"],
    "azure-functions": [
        "memory_mb=2048",
        "plan=premium",
        "subscription_id=00000000-1111-2222-3333-444444444444",
        "resource_group=mlspec-rg",
        "storage_account=mlspecdata",
    ],
}
# What each target would create first, whatever the platform holds.
FIRST_CALLS = {
    "aws-lambda": ["s3.create_bucket", "iam.create_role", "ecr.create_repository", "lambda.create_function"],
    "gcp-cloud-run": [
        "artifactregistry.v1.create_repository",
        "storage.Buckets.create_bucket",
        "run.v2.Services.create_service",
    ],
    "azure-functions": [
        "containerregistry.Registries.begin_create",
        "blob.create_container",
        "web.AppServicePlans.begin_create_or_update",
        "web.WebApps.begin_create_or_update",
    ],
}
QUICK_S = 60  # one try per read: far less than the minutes a retrying SDK would wait


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No cloud credentials anywhere: the SDKs' variables cleared, HOME an empty folder, no proxy."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "GOOGLE_", "AZURE_", "CLOUDSDK_", "IDENTITY_", "MSI_")) or name.lower() in (
            "http_proxy",
            "https_proxy",
            "all_proxy",
            "no_proxy",
        ):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata off EC2
    return home


def dummy_credentials(target: str, port: int, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials that look real, for an endpoint at `port` on loopback where nothing listens."""
    if target == "aws-lambda":
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE1234")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-for-tests")
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    elif target == "gcp-cloud-run":
        # gcloud's application-default credentials; Google's token endpoint is reached through the proxy.
        adc = home / ".config" / "gcloud" / "application_default_credentials.json"
        adc.parent.mkdir(parents=True)
        adc.write_text(
            json.dumps(
                {
                    "type": "authorized_user",
                    "client_id": "fake.apps.googleusercontent.com",
                    "client_secret": "fake",
                    "refresh_token": "fake",
                }
            )
        )
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{port}")
    else:
        # A managed identity (as on App Service): its token endpoint is the closed port.
        monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/msi/token")
        monkeypatch.setenv("IDENTITY_HEADER", "fake")


def files(root: Path) -> set[Path]:
    """Everything under `root` but HOME, where the SDKs keep their own caches (gcloud, azure-identity)."""
    return {p for p in root.rglob("*") if not p.is_relative_to(root / "home")}


def dry_run(target: str, tmp_path: Path) -> tuple[str, str, float]:
    overrides = [arg for setting in SETTINGS[target] for arg in ("--set", f"targets.{target}.{setting}")]
    build_dir = tmp_path / "build"
    runner = CliRunner()
    built = runner.invoke(
        main, ["build", str(QUICKSTART), "--target", target, "--engine", "none", "--out", str(build_dir), *overrides]
    )
    assert built.exit_code == 0, built.output
    before = files(tmp_path)
    started = time.monotonic()
    result = runner.invoke(
        main, ["deploy", str(QUICKSTART), "--target", target, "--dry-run", "--build-dir", str(build_dir), *overrides]
    )
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.output + result.stderr
    assert result.exception is None
    assert files(tmp_path) == before  # it wrote nothing (and, reaching nothing, created nothing anywhere)
    return result.stdout, result.stderr, elapsed


def check_listing(target: str, stdout: str, stderr: str, reason: str) -> None:
    assert f"existing state unknown: {reason}" in stdout.splitlines()[0]
    calls = [line.strip() for line in stdout.splitlines() if line.startswith("  ") and not line.startswith("     ")]
    for call in FIRST_CALLS[target]:
        assert any(line.startswith(f"{call}  (") for line in calls), (call, stdout)
    assert all(line.endswith(f"existing state unknown: {reason})") for line in calls)
    assert "dry run: nothing was changed" in stdout
    assert "note: existing state unknown: " in stderr
    assert "Traceback" not in stdout + stderr


@pytest.mark.parametrize("target", list(SETTINGS))
def test_dry_run_with_no_credentials_lists_every_call(target: str, offline: Path, tmp_path: Path) -> None:
    stdout, stderr, elapsed = dry_run(target, tmp_path)
    check_listing(target, stdout, stderr, "no credentials")
    assert elapsed < QUICK_S


@pytest.mark.parametrize("target", list(SETTINGS))
def test_dry_run_that_cannot_connect_lists_every_call(
    target: str, offline: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    dummy_credentials(target, port, offline, monkeypatch)
    stdout, stderr, elapsed = dry_run(target, tmp_path)
    check_listing(target, stdout, stderr, "could not connect")
    # The note says what could not be reached: the endpoint (for Google's token endpoint, the proxy before it).
    assert "127.0.0.1" in stderr and str(port) in stderr
    assert elapsed < QUICK_S
