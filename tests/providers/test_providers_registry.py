"""Registry discovery and lookup, and the promise that importing the catalog stays light."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlspec.providers as providers
from mlspec.providers import (
    UnknownProviderError,
    all_offerings,
    all_providers,
    get_offering,
    get_provider,
    provider_keys,
    registry,
)

EXPECTED = (
    "aws-ec2",
    "aws-lambda",
    "azure-functions",
    "gcp-cloud-run",
    "ibm-code-engine",
    "local",
    "oracle-functions",
)


def test_discovery_finds_all_seven_platforms() -> None:
    assert provider_keys() == EXPECTED
    assert [p.key for p in all_providers()] == list(EXPECTED)


def test_all_offerings_is_ordered_and_stable() -> None:
    ids = [o.id for o in all_offerings()]
    assert ids == [
        "aws-ec2:m7i.xlarge",
        "aws-lambda:x86_64",
        "aws-lambda:arm64",
        "azure-functions:flex",
        "azure-functions:consumption",
        "azure-functions:premium",
        "gcp-cloud-run:service",
        "gcp-cloud-run:job",
        "ibm-code-engine:app",
        "local:process",
        "oracle-functions:default",
    ]
    assert [o.id for o in all_offerings()] == ids
    assert len(set(ids)) == len(ids)


def test_offerings_match_pipeline_target_options() -> None:
    """The offering keys are the values pipeline.yaml's targets use (architecture, mode, plan)."""
    assert get_provider("aws-lambda").offering_keys == ("x86_64", "arm64")
    assert get_provider("gcp-cloud-run").offering_keys == ("service", "job")
    assert get_provider("azure-functions").offering_keys == ("flex", "consumption", "premium")


def test_lookup_forms() -> None:
    assert get_offering("aws-lambda").key == "x86_64"  # the first offering is the default
    assert get_offering("aws-lambda:arm64") is get_offering("aws-lambda", "arm64")
    assert get_provider("gcp-cloud-run").offering("job").key == "job"
    assert get_provider("local").display_name == "This machine"


def test_unknown_provider_lists_known_keys() -> None:
    with pytest.raises(UnknownProviderError) as err:
        get_provider("aws-lamda")
    assert isinstance(err.value, KeyError)
    message = str(err.value)
    assert message.startswith("unknown provider 'aws-lamda'; known providers: ")
    for key in EXPECTED:
        assert key in message
    assert err.value.known == EXPECTED
    with pytest.raises(KeyError, match="known: aws-lambda:x86_64, aws-lambda:arm64"):
        get_offering("aws-lambda:riscv")


@pytest.fixture
def extra_platform(tmp_path: Path) -> Iterator[str]:
    """A platform module dropped beside the others (here: on the package's search path)."""
    (tmp_path / "zz_test_platform.py").write_text(
        textwrap.dedent(
            """
            from dataclasses import replace
            from mlspec.providers.catalog import Provider
            from mlspec.providers.oracle_functions import DEFAULT
            from mlspec.providers.platform import Platform

            PROVIDER = Provider(
                key="zz-test", display_name="Test", offerings=(replace(DEFAULT, provider_key="zz-test"),)
            )
            PLATFORM = Platform(key="zz-test", target="mlspec.spec.targets:OracleFunctionsTarget")
            """
        )
    )
    providers.__path__.append(str(tmp_path))
    registry._discover.cache_clear()
    try:
        yield "zz-test"
    finally:
        providers.__path__.remove(str(tmp_path))
        sys.modules.pop("mlspec.providers.zz_test_platform", None)
        registry._discover.cache_clear()


def test_adding_a_platform_is_adding_a_module(extra_platform: str) -> None:
    assert extra_platform in provider_keys()
    assert get_offering(f"{extra_platform}:default").provider_key == extra_platform


def test_importing_the_catalog_stays_light() -> None:
    """`mlspec plan` imports this package: no torch, no scikit-learn, even after discovery."""
    code = textwrap.dedent(
        """
        import sys
        import mlspec.providers as p
        p.all_providers()
        p.price(p.get_offering("aws-lambda"), 1024, 1.0, 1)
        heavy = sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "sklearn", "scipy"})
        print("HEAVY", heavy)
        """
    )
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "HEAVY []" in out.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "mlspec.providers" in imported
    assert not {m for m in imported if m.split(".")[0] in {"torch", "sklearn"}}
