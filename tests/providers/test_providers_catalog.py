"""The catalog's envelope rules (memory -> vCPU, limits) and the provenance of every figure."""

from __future__ import annotations

import json
import math
import re

import pytest

from mlspec.errors import UsageError
from mlspec.providers import (
    STATUSES,
    Fact,
    ProviderLimitError,
    all_offerings,
    all_providers,
    get_offering,
    iter_facts,
)

# ---------------------------------------------------------------- every figure has provenance


def test_every_fact_has_source_date_and_status() -> None:
    """Walk the whole catalog: no bare numbers, every Fact cites a source and the date it was read."""
    facts = list(iter_facts(all_providers()))
    assert len(facts) > 150
    for path, fact in facts:
        assert isinstance(fact, Fact)
        assert fact.source.strip(), path
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", fact.date), path
        assert fact.status in STATUSES, path
        if fact.status != "official":
            assert fact.note, f"{path}: a {fact.status} figure must say why in its note"


def test_every_offering_field_that_holds_a_number_is_a_fact() -> None:
    """Numbers live in Facts, never as bare attributes of an offering."""
    for o in all_offerings():
        for name, value in vars(o).items():
            assert not isinstance(value, int | float) or isinstance(value, bool), f"{o.id}.{name} is bare"


def test_unconfirmed_figures_are_marked_as_such() -> None:
    """Secondary-source figures say so: their citation reads 'unconfirmed'."""
    lam = get_offering("aws-lambda:arm64")
    assert lam.price_per_gb_second.status == "3rd-party"
    assert lam.price_per_gb_second.cite().endswith("unconfirmed")
    assert "unconfirmed" in (lam.price_per_gb_second.note or "")
    assert get_offering("aws-lambda").memory_max_mb.cite() == lam.memory_max_mb.source


def test_fact_validation() -> None:
    with pytest.raises(ValueError, match="source"):
        Fact(1, " ", "2026-11-23", "official")
    with pytest.raises(ValueError, match="ISO date"):
        Fact(1, "x", "23/11/2026", "official")
    with pytest.raises(ValueError, match="status"):
        Fact(1, "x", "2026-11-23", "guess")  # type: ignore[arg-type]


def test_catalog_serialises_to_json() -> None:
    data = json.loads(json.dumps([p.to_dict() for p in all_providers()]))
    lam = next(p for p in data if p["key"] == "aws-lambda")
    assert lam["offerings"][0]["price_per_gb_second"]["value"] == 0.0000166667
    assert lam["offerings"][0]["vcpu_rule"]["rule"] == "ProportionalVcpu"


# ---------------------------------------------------------------- vCPU rules


def test_lambda_vcpu_is_proportional_to_memory() -> None:
    """1,769 MB = 1 vCPU (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html, read
    2026-11-23). The rule is linear, so the 10,240 MB maximum gives 10240/1769 = 5.79 vCPU of credits;
    AWS's 'up to 6 vCPU' (6 visible cores) is a cap that never binds."""
    o = get_offering("aws-lambda")
    assert o.vcpus_for(1769) == pytest.approx(1.0)
    assert o.vcpus_for(10240) == pytest.approx(5.79, abs=0.005)
    assert o.vcpus_for(10240) <= o.vcpu_rule.max_vcpu.value  # type: ignore[attr-defined]
    assert o.vcpus_for(128) == pytest.approx(128 / 1769)
    assert o.vcpus_for(3538, requested_vcpu=2) == pytest.approx(2.0)
    with pytest.raises(ProviderLimitError, match="not set separately"):
        o.vcpus_for(1769, requested_vcpu=2)
    assert o.memory_bounds_for_vcpu(1) == (1769, 1769)


def test_cloud_run_memory_bounds_per_vcpu() -> None:
    """Cloud Run memory per vCPU (https://docs.cloud.google.com/run/docs/configuring/services/cpu and
    .../jobs/cpu, read 2026-11-23): 1 vCPU up to 4 GiB, 2 up to 8 GiB, 4: 2-16 GiB, 6: 4-24 GiB,
    8: 4-32 GiB; services may use 0.08-1 vCPU (up to 512 MiB below 0.5, up to 1 GiB below 1)."""
    svc = get_offering("gcp-cloud-run:service")
    assert svc.memory_bounds_for_vcpu(1) == (128, 4096)
    assert svc.memory_bounds_for_vcpu(2) == (128, 8192)
    assert svc.memory_bounds_for_vcpu(4) == (2048, 16384)
    assert svc.memory_bounds_for_vcpu(6) == (4096, 24576)
    assert svc.memory_bounds_for_vcpu(8) == (4096, 32768)
    assert svc.memory_bounds_for_vcpu(0.5) == (128, 1024)
    assert svc.memory_bounds_for_vcpu(0.25) == (128, 512)
    with pytest.raises(ProviderLimitError, match="not offered"):
        svc.memory_bounds_for_vcpu(3)
    with pytest.raises(ProviderLimitError, match=r"multiple of 0\.001"):
        svc.memory_bounds_for_vcpu(0.0805)
    # without a request, memory picks the smallest whole vCPU that admits it
    assert svc.vcpus_for(512) == 1.0
    assert svc.vcpus_for(6144) == 2.0
    assert svc.vcpus_for(12288) == 4.0
    assert svc.vcpus_for(20480) == 6.0
    assert svc.vcpus_for(32768) == 8.0
    assert svc.vcpus_for(2048, requested_vcpu=4) == 4.0
    assert svc.vcpus_for(512, requested_vcpu=0.25) == 0.25
    with pytest.raises(ProviderLimitError, match="outside 2048–16384 MB allowed with 4 vCPU"):
        svc.vcpus_for(1024, requested_vcpu=4)
    with pytest.raises(ProviderLimitError, match="memory_mb 40000"):
        svc.vcpus_for(40000)

    job = get_offering("gcp-cloud-run:job")
    assert job.memory_bounds_for_vcpu(1) == (512, 4096)
    with pytest.raises(ProviderLimitError):
        job.vcpus_for(1024, requested_vcpu=0.5)  # jobs have no fractional vCPU
    with pytest.raises(ProviderLimitError, match="outside 512–32768"):
        job.check_memory(256)


def test_azure_flex_sizes_map_to_cores() -> None:
    """Flex instance sizes 512/2,048/4,096 MB = 0.25/1/2 cores
    (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan, read 2026-11-23)."""
    o = get_offering("azure-functions:flex")
    assert [o.vcpus_for(m) for m in (512, 2048, 4096)] == [0.25, 1.0, 2.0]
    assert o.allowed_memory_mb is not None and o.allowed_memory_mb.value == (512, 2048, 4096)
    with pytest.raises(ProviderLimitError, match="not one of the sizes 512/2048/4096 MB"):
        o.check_memory(1024)
    assert o.memory_bounds_for_vcpu(2) == (4096, 4096)


def test_azure_consumption_is_one_core_up_to_1_5_gb() -> None:
    o = get_offering("azure-functions:consumption")
    assert o.vcpus_for(1536) == 1.0
    assert o.memory_max_mb.value == 1536
    with pytest.raises(ProviderLimitError, match="outside 1–1536 MB"):
        o.check_memory(2048)


def test_ibm_code_engine_fixed_combinations() -> None:
    """Valid vCPU/memory pairs (https://cloud.ibm.com/docs/codeengine?topic=codeengine-mem-cpu-combo,
    revision 2024-09-03, read 2026-11-23); default 1 vCPU / 4 GB; up to 12 vCPU / 48 GB."""
    o = get_offering("ibm-code-engine")
    assert o.vcpus_for(4096) == 1.0  # balanced: 4 GB per vCPU
    assert o.vcpus_for(256) == 0.125  # only the CPU-intensive pair has 0.25 GB
    assert o.vcpus_for(2048) == 0.5  # balanced, not 0.25 (memory-intensive) or 1 (CPU-intensive)
    assert o.vcpus_for(49152) == 12.0  # balanced 12 vCPU / 48 GB rather than memory-intensive 6 vCPU
    assert o.vcpus_for(4096, requested_vcpu=2) == 2.0
    assert o.vcpus_for(49152, requested_vcpu=12) == 12.0
    assert o.memory_bounds_for_vcpu(1) == (2048, 8192)
    assert o.memory_bounds_for_vcpu(12) == (24576, 49152)
    with pytest.raises(ProviderLimitError, match="not a valid combination"):
        o.vcpus_for(4096, requested_vcpu=4)
    with pytest.raises(ProviderLimitError, match="not one of the sizes"):
        o.check_memory(3000)
    with pytest.raises(ProviderLimitError, match="not offered"):
        o.memory_bounds_for_vcpu(3)


def test_oracle_fixed_sizes() -> None:
    """Memory one of 128/256/512/1,024/2,048/3,072 MB
    (https://docs.oracle.com/iaas/Content/Functions/Tasks/functionscustomizing.htm, read 2026-11-23)."""
    o = get_offering("oracle-functions")
    o.check_memory(3072)
    with pytest.raises(ProviderLimitError, match="not one of the sizes"):
        o.check_memory(1000)
    assert o.vcpu_rule.mb_per_vcpu.status == "assumed"  # type: ignore[attr-defined]


def test_local_is_bounded_by_this_host() -> None:
    o = get_offering("local")
    host_mb = o.memory_max_mb.value
    assert host_mb > 64
    o.check_memory(min(2048, host_mb))
    with pytest.raises(ProviderLimitError):
        o.check_memory(host_mb + 1)
    host_cpus = o.vcpus_for(64)
    assert host_cpus >= 1
    with pytest.raises(ProviderLimitError, match="this host's CPUs"):
        o.vcpus_for(64, requested_vcpu=host_cpus + 1)
    o.check_timeout(10 * 24 * 3600)  # no limit beyond the user's
    o.check_workers(10_000)


# ---------------------------------------------------------------- limit errors


def test_memory_error_message_names_platform_range_and_source() -> None:
    o = get_offering("aws-lambda:x86_64")
    with pytest.raises(ProviderLimitError) as err:
        o.check_memory(20000)
    assert str(err.value) == (
        "aws-lambda (x86_64): memory_mb 20000 is outside 128–10240 MB "
        "(source: https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)"
    )
    assert isinstance(err.value, ValueError) and isinstance(err.value, UsageError)
    assert err.value.exit_code == 2


def test_workers_against_concurrency_quota() -> None:
    """Lambda's default concurrency is 1,000 per region
    (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, read 2026-11-23)."""
    o = get_offering("aws-lambda")
    o.check_workers(1000)
    with pytest.raises(ProviderLimitError, match=r"workers 1001 exceeds the default concurrency quota of 1000"):
        o.check_workers(1001)
    with pytest.raises(ProviderLimitError, match="at least 1"):
        o.check_workers(0)
    with pytest.raises(ProviderLimitError, match=r"unconfirmed|assumed"):
        get_offering("oracle-functions").check_workers(61)  # the citation says how sure the figure is


def test_timeouts() -> None:
    """Lambda 900 s; Cloud Run services 3,600 s and jobs 168 h; Azure Consumption 10 min; Flex
    unbounded; OCI 300 s synchronous (official pages, read 2026-11-23)."""
    get_offering("aws-lambda").check_timeout(900)
    with pytest.raises(ProviderLimitError, match="timeout_s 901 exceeds the platform maximum of 900 s"):
        get_offering("aws-lambda").check_timeout(901)
    get_offering("gcp-cloud-run:service").check_timeout(3600)
    with pytest.raises(ProviderLimitError):
        get_offering("gcp-cloud-run:service").check_timeout(3601)
    get_offering("gcp-cloud-run:job").check_timeout(168 * 3600)
    with pytest.raises(ProviderLimitError):
        get_offering("gcp-cloud-run:job").check_timeout(168 * 3600 + 1)
    with pytest.raises(ProviderLimitError):
        get_offering("azure-functions:consumption").check_timeout(601)
    get_offering("azure-functions:flex").check_timeout(24 * 3600)
    with pytest.raises(ProviderLimitError):
        get_offering("oracle-functions").check_timeout(301)
    with pytest.raises(ProviderLimitError, match="positive"):
        get_offering("local").check_timeout(0)


def test_envelopes_are_consistent() -> None:
    """Sanity over every offering: defaults within limits, discrete sizes within the range."""
    for o in all_offerings():
        lo, hi = o.memory_min_mb.value, o.memory_max_mb.value
        assert 0 < lo <= hi, o.id
        if o.allowed_memory_mb is not None:
            assert all(lo <= m <= hi for m in o.allowed_memory_mb.value), o.id
        default, maximum = o.timeout_default_s.value, o.timeout_max_s.value
        if default is not None and maximum is not None:
            assert default <= maximum, o.id
        assert o.min_billed_ms.value >= 1 and o.billing_granularity_ms.value >= 1, o.id
        assert o.mb_per_billed_gb.value == 1024, o.id
        assert o.cold_start_s.status in ("assumed", "official"), o.id
        for price_fact in (o.price_per_gb_second, o.price_per_vcpu_second, o.price_per_million_requests):
            assert price_fact.value >= 0 and math.isfinite(price_fact.value), o.id
