"""Hand-checked prices for every platform offering, plus billing granularity and free tiers.

Each test first asserts the catalog still holds the figures its hand calculation uses, so a price
update fails here loudly instead of silently changing the expected totals. All sources were read on
2026-11-23; "unconfirmed" marks figures found only in secondary sources (see each fact's note).
"""

from __future__ import annotations

import json

import pytest

from mlspec.providers import ProviderLimitError, billed_memory_mb, billed_seconds, get_offering, price


def _approx(x: float) -> object:
    return pytest.approx(x, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------- one test per offering


def test_aws_lambda_x86_64() -> None:
    """Lambda x86 1,024 MB x 10 s x 1,000 invocations = 10,000 GB-s.

    Prices (read 2026-11-23): $0.0000166667 per GB-s (cloudchipr.com, unconfirmed beyond the
    $0.00001667 of AWS's pricing whitepaper), $0.20 per 1M requests (AWS pricing whitepaper,
    https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html).
    compute = 10,000 x 0.0000166667 = $0.166667; requests = 1,000 x 0.20 / 1e6 = $0.0002.
    """
    o = get_offering("aws-lambda:x86_64")
    assert o.price_per_gb_second.value == 0.0000166667
    assert o.price_per_million_requests.value == 0.20
    b = price(o, memory_mb=1024, seconds_per_invocation=10.0, invocations=1000)
    assert b.billed_gb_seconds == _approx(10_000.0)
    assert b.billed_vcpu_seconds == 0.0  # vCPU is implied by memory, not billed
    assert b.compute_usd == _approx(0.166667)
    assert round(b.compute_usd, 4) == 0.1667
    assert b.requests_usd == _approx(0.0002)
    assert b.total_usd == _approx(0.166867)
    assert b.storage_ops_usd == b.egress_usd == b.storage_usd == 0.0


def test_aws_lambda_arm64() -> None:
    """Lambda arm64 1,024 MB x 10 s x 1,000 invocations = 10,000 GB-s.

    Prices (read 2026-11-23): $0.0000133334 per GB-s (cloudchipr.com, unconfirmed), $0.20 per 1M
    requests (AWS pricing whitepaper). compute = $0.133334; requests = $0.0002.
    """
    o = get_offering("aws-lambda", "arm64")
    assert o.price_per_gb_second.value == 0.0000133334
    b = price(o, 1024, 10.0, 1000)
    assert b.compute_usd == _approx(0.133334)
    assert b.requests_usd == _approx(0.0002)
    assert b.total_usd == _approx(0.133534)


def test_gcp_cloud_run_service() -> None:
    """Cloud Run service, request-based: 1 vCPU, 2,048 MiB, 0.25 s x 1,000,000 requests.

    0.25 s is billed as 0.3 s (100 ms steps, https://cloud.google.com/run/pricing, read 2026-11-23).
    vCPU: 1 x 0.3 x 1e6 = 300,000 vCPU-s x $0.000024 (official) = $7.20.
    Memory: 2 GiB x 0.3 x 1e6 = 600,000 GiB-s x $0.0000025 (cloudwebschool.com, unconfirmed) = $1.50.
    Requests: 1e6 x $0.40 per 1M (cloudwebschool.com, unconfirmed) = $0.40. Total $9.10.
    """
    o = get_offering("gcp-cloud-run:service")
    assert o.price_per_vcpu_second.value == 0.000024
    assert o.price_per_gb_second.value == 0.0000025
    assert o.price_per_million_requests.value == 0.40
    b = price(o, memory_mb=2048, seconds_per_invocation=0.25, invocations=1_000_000, vcpu=1)
    assert b.billed_seconds_per_invocation == _approx(0.3)
    assert b.billed_vcpu_seconds == _approx(300_000.0)
    assert b.billed_gb_seconds == _approx(600_000.0)  # GiB-seconds: 2048 MiB = 2 GiB
    assert b.compute_usd == _approx(8.70)
    assert b.requests_usd == _approx(0.40)
    assert b.total_usd == _approx(9.10)


def test_gcp_cloud_run_job() -> None:
    """Cloud Run job, instance-based: 4 vCPU, 8,192 MiB, 1 h x 10 tasks, no request fee.

    vCPU: 4 x 3,600 x 10 = 144,000 vCPU-s x $0.000018 (https://cloud.google.com/run/pricing,
    official, read 2026-11-23) = $2.592. Memory: 8 GiB x 36,000 s = 288,000 GiB-s x $0.000002
    (assumed: the memory column could not be read) = $0.576. Total $3.168.
    """
    o = get_offering("gcp-cloud-run:job")
    assert o.price_per_vcpu_second.value == 0.000018
    assert o.price_per_gb_second.value == 0.000002
    assert o.price_per_million_requests.value == 0.0
    b = price(o, 8192, 3600.0, 10, vcpu=4)
    assert b.billed_vcpu_seconds == _approx(144_000.0)
    assert b.billed_gb_seconds == _approx(288_000.0)
    assert b.compute_usd == _approx(3.168)
    assert b.requests_usd == 0.0
    assert b.total_usd == _approx(3.168)


def test_azure_functions_consumption() -> None:
    """Azure Consumption: 200 MB observed, 50 ms, 1,000,000 executions.

    Memory rounds up to 256 MB (128 MB buckets, https://azure.microsoft.com/pricing/details/functions/,
    official) and 50 ms to the 100 ms minimum (PROVIDERS.md, unconfirmed), read 2026-11-23.
    GB-s = 0.25 x 0.1 x 1e6 = 25,000 x $0.000016 (modal.com, unconfirmed) = $0.40.
    Executions: 1e6 x $0.20 per 1M (modal.com, unconfirmed) = $0.20. Total $0.60.
    """
    o = get_offering("azure-functions:consumption")
    assert o.price_per_gb_second.value == 0.000016
    assert o.price_per_million_requests.value == 0.20
    b = price(o, 200, 0.05, 1_000_000)
    assert b.billed_memory_mb == 256
    assert b.billed_seconds_per_invocation == _approx(0.1)
    assert b.billed_gb_seconds == _approx(25_000.0)
    assert b.compute_usd == _approx(0.40)
    assert b.requests_usd == _approx(0.20)
    assert b.total_usd == _approx(0.60)


def test_azure_functions_flex() -> None:
    """Azure Flex Consumption, on demand: 2,048 MB instance, 1.25 s x 100,000 executions.

    1.25 s bills as 1.3 s (100 ms steps after a 1,000 ms minimum,
    https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan, official, read 2026-11-23).
    GB-s = 2 x 1.3 x 1e5 = 260,000 x $0.000026 (modal.com, unconfirmed) = $6.76.
    Executions: 1e5 x $0.40 per 1M (assumed, PROVIDERS.md 'unverified') = $0.04. Total $6.80.
    """
    o = get_offering("azure-functions:flex")
    assert o.price_per_gb_second.value == 0.000026
    assert o.price_per_million_requests.value == 0.40
    b = price(o, 2048, 1.25, 100_000)
    assert b.vcpu == 1.0
    assert b.billed_seconds_per_invocation == _approx(1.3)
    assert b.billed_gb_seconds == _approx(260_000.0)
    assert b.compute_usd == _approx(6.76)
    assert b.requests_usd == _approx(0.04)
    assert b.total_usd == _approx(6.80)


def test_ibm_code_engine() -> None:
    """IBM Code Engine app: 1 vCPU / 4 GB (memory_mb 4096), 60 s x 100 HTTP calls.

    Prices are assumed (IBM's docs defer the numbers to https://www.ibm.com/products/code-engine/pricing,
    not readable on 2026-11-23): $0.00003431 per vCPU-s, $0.00000356 per GB-s, $0.538 per 1M calls.
    vCPU: 6,000 vCPU-s = $0.20586; memory: 24,000 GB-s = $0.08544; calls: 100 x 0.538 / 1e6 = $0.0000538.
    """
    o = get_offering("ibm-code-engine")
    assert o.price_per_vcpu_second.value == 0.00003431
    assert o.price_per_gb_second.value == 0.00000356
    assert o.price_per_million_requests.value == 0.538
    b = price(o, 4096, 60.0, 100, vcpu=1)
    assert b.billed_vcpu_seconds == _approx(6_000.0)
    assert b.billed_gb_seconds == _approx(24_000.0)
    assert b.compute_usd == _approx(0.20586 + 0.08544)
    assert b.requests_usd == _approx(0.0000538)
    assert b.total_usd == _approx(0.2913538)


def test_oracle_functions() -> None:
    """OCI Functions: 1,024 MB x 2 s x 10,000 invocations = 20,000 GB-s.

    Prices transcribed from https://www.oracle.com/cloud/price-list/ by a 3rd party (unconfirmed),
    read 2026-11-23: $0.00001417 per GB-s, $0.0000002 per invocation.
    compute = 20,000 x 0.00001417 = $0.2834; requests = 10,000 x 0.0000002 = $0.002.
    """
    o = get_offering("oracle-functions")
    assert o.price_per_gb_second.value == 0.00001417
    assert o.price_per_million_requests.value == 0.20
    b = price(o, 1024, 2.0, 10_000)
    assert b.compute_usd == _approx(0.2834)
    assert b.requests_usd == _approx(0.002)
    assert b.total_usd == _approx(0.2854)


def test_aws_ec2_vm_share_per_second_with_a_60_s_minimum() -> None:
    """EC2 m7i.xlarge, us-east-1, Linux on demand: $0.2016 per hour for 4 vCPU (c3x.dev, unconfirmed, read
    2026-12-07), billed per second with a 60-second minimum (AWS, 2017-10-02). A worker pays for its share:
    $0.2016 / 4 / 3,600 = $0.000014 per vCPU-second; memory comes with the vCPUs (4 GiB each); no requests.

    - 3 workers x 10.2 s on a 1-vCPU share (4,096 MB): each billed the 60 s minimum -> 180 vCPU-s = $0.00252;
    - 2 workers x 90.3 s on a 2-vCPU share (8,192 MB): 91 s each (rounded up to the second) x 2 vCPU x 2
      = 364 vCPU-s = $0.005096;
    - 1 worker x 120 s on the whole VM (16,384 MB, 4 vCPU) = 480 vCPU-s = $0.00672 = 120/3,600 x $0.2016."""
    o = get_offering("aws-ec2")
    assert o.id == "aws-ec2:m7i.xlarge"
    assert o.price_per_vcpu_second.value == _approx(0.2016 / 4 / 3600)
    assert o.price_per_gb_second.value == 0.0 and o.price_per_million_requests.value == 0.0
    assert (o.billing_granularity_ms.value, o.min_billed_ms.value) == (1000, 60_000)
    b = price(o, 4096, 10.2, 3)
    assert b.vcpu == 1.0 and b.billed_seconds_per_invocation == 60.0
    assert b.billed_vcpu_seconds == _approx(180.0)
    assert b.total_usd == _approx(0.00252)
    b = price(o, 8192, 90.3, 2)
    assert b.vcpu == 2.0 and b.billed_seconds_per_invocation == 91.0
    assert b.billed_vcpu_seconds == _approx(364.0)
    assert b.compute_usd == _approx(0.005096) and b.requests_usd == 0.0
    b = price(o, 16384, 120.0, 1)
    assert b.total_usd == _approx(0.00672) and b.total_usd == _approx(120 / 3600 * 0.2016)
    with pytest.raises(ProviderLimitError, match="not one of the sizes"):
        price(o, 12288, 10.0, 1)  # a share is 1, 2 or 4 vCPUs with 4 GiB each
    assert o.cloud is get_offering("aws-lambda").cloud  # S3 and AWS egress, the same cloud


def test_local_is_free() -> None:
    """This machine: every price is 0 by definition (source: mlspec local executor, 2026-11-23)."""
    o = get_offering("local")
    b = price(o, 2048, 120.0, 8, storage_requests={"put": 10, "get": 10}, egress_gb=5.0, stored_gb_months=1.0)
    assert b.total_usd == 0.0
    assert b.billed_gb_seconds == _approx(2.0 * 120 * 8)


# ---------------------------------------------------------------- storage, egress, free tier


def test_storage_operations_egress_and_storage() -> None:
    """S3 and AWS egress on the Lambda offering (read 2026-11-23; all unconfirmed or assumed):
    PUT $0.005 and GET $0.0004 per 1,000 (assumed), storage $0.023 per GB-month (deepeshsoni.com),
    egress $0.09 per GB (wring.co). 1,000 PUT + 10,000 GET = $0.005 + $0.004; 10 GB out = $0.90;
    2 GB-months = $0.046."""
    o = get_offering("aws-lambda")
    b = price(o, 1024, 1.0, 0, storage_requests={"put": 1000, "get": 10_000}, egress_gb=10.0, stored_gb_months=2.0)
    assert b.storage_ops_usd == _approx(0.009)
    assert b.egress_usd == _approx(0.90)
    assert b.storage_usd == _approx(0.046)
    assert b.compute_usd == 0.0 and b.requests_usd == 0.0
    assert b.total_usd == _approx(0.955)


def test_azure_blob_operations_are_stated_per_10k() -> None:
    """Azure Blob hot LRS writes $0.05 / reads $0.004 per 10,000 (assumed, read 2026-11-23): the
    catalog stores them per 1,000, so 10,000 writes cost $0.05 and 10,000 reads $0.004."""
    o = get_offering("azure-functions")
    assert "10,000" in (o.cloud.put_per_1k_usd.note or "")
    b = price(o, 2048, 1.0, 0, storage_requests={"put": 10_000, "get": 10_000})
    assert b.storage_ops_usd == _approx(0.054)


def test_free_tier_switched_on_reduces_cost() -> None:
    """Lambda free tier (AWS pricing whitepaper, read 2026-11-23): 400,000 GB-s and 1M requests per
    month; AWS egress 100 GB free (wring.co, unconfirmed). 1,024 MB x 50 s x 10,000 = 500,000 GB-s
    -> 100,000 GB-s billed with the free tier = $1.66667; 10,000 requests are all free."""
    o = get_offering("aws-lambda")
    off = price(o, 1024, 50.0, 10_000, egress_gb=150.0)
    on = price(o, 1024, 50.0, 10_000, egress_gb=150.0, free_tier=True)
    assert off.compute_usd == _approx(500_000 * 0.0000166667)
    assert on.compute_usd == _approx(100_000 * 0.0000166667)
    assert on.requests_usd == 0.0
    assert on.egress_usd == _approx(50 * 0.09)
    assert on.total_usd < off.total_usd
    assert on.free_tier and not off.free_tier
    names = {name for name, _ in on.compute.facts}
    assert "free_gb_seconds" in names


def test_free_tier_cloud_run_counts_vcpu_and_memory_separately() -> None:
    """Cloud Run request-based free tier (https://cloud.google.com/run/pricing, official, read
    2026-11-23): 180,000 vCPU-s, 360,000 GiB-s, 2M requests a month. 1 vCPU, 1 GiB, 1 s x 200,000:
    200,000 vCPU-s -> 20,000 billed ($0.48); 200,000 GiB-s -> 0 billed; requests -> 0 billed."""
    o = get_offering("gcp-cloud-run:service")
    b = price(o, 1024, 1.0, 200_000, free_tier=True)
    assert b.compute_usd == _approx(20_000 * 0.000024)
    assert b.requests_usd == 0.0


def test_free_tier_is_off_by_default() -> None:
    o = get_offering("aws-lambda")
    assert price(o, 128, 0.1, 10).free_tier is False


# ---------------------------------------------------------------- granularity and rounding


def test_lambda_bills_in_1_ms_steps() -> None:
    """Lambda rounds duration up to the nearest 1 ms (https://aws.amazon.com/lambda/pricing/, 2026-11-23)."""
    o = get_offering("aws-lambda")
    assert billed_seconds(o, 0.0010001) == _approx(0.002)
    assert billed_seconds(o, 0.1234) == _approx(0.124)  # 123.4 ms -> 124 ms
    assert billed_seconds(o, 10.0) == _approx(10.0)  # no spurious extra millisecond
    b = price(o, 128, 0.0101, 1)
    assert b.billed_ms_per_invocation == _approx(11.0)


def test_cloud_run_bills_in_100_ms_steps() -> None:
    """Cloud Run rounds up to the nearest 100 ms (https://cloud.google.com/run/pricing, 2026-11-23)."""
    o = get_offering("gcp-cloud-run:service")
    assert billed_seconds(o, 0.1) == _approx(0.1)
    assert billed_seconds(o, 0.101) == _approx(0.2)
    assert billed_seconds(o, 0.001) == _approx(0.1)
    assert billed_seconds(o, 0.0) == _approx(0.1)


def test_azure_consumption_100_ms_minimum_and_128_mb_buckets() -> None:
    """Azure Consumption: memory rounded up to 128 MB (official pricing page) and a 100 ms minimum
    (PROVIDERS.md, unconfirmed), read 2026-11-23."""
    o = get_offering("azure-functions:consumption")
    assert billed_seconds(o, 0.01) == _approx(0.1)
    assert billed_seconds(o, 0.1234) == _approx(0.124)  # 123.4 ms -> 124 ms
    assert billed_memory_mb(o, 1) == 128
    assert billed_memory_mb(o, 128) == 128
    assert billed_memory_mb(o, 129) == 256
    assert billed_memory_mb(o, 1536) == 1536


def test_azure_flex_1_s_minimum_then_100_ms() -> None:
    """Flex: minimum billable period 1,000 ms, then rounded up to 100 ms
    (https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan, read 2026-11-23)."""
    o = get_offering("azure-functions:flex")
    assert billed_seconds(o, 0.2) == _approx(1.0)
    assert billed_seconds(o, 1.01) == _approx(1.1)


# ---------------------------------------------------------------- refusals and output


def test_price_refuses_what_the_platform_refuses() -> None:
    lam = get_offering("aws-lambda")
    with pytest.raises(ProviderLimitError, match="memory_mb 20000"):
        price(lam, 20_000, 1.0, 1)
    with pytest.raises(ProviderLimitError, match="timeout_s 901"):
        price(lam, 1024, 901.0, 1)
    with pytest.raises(ProviderLimitError, match="vCPU"):
        price(lam, 1769, 1.0, 1, vcpu=4)
    with pytest.raises(ProviderLimitError, match="not a valid combination"):
        price(get_offering("ibm-code-engine"), 4096, 1.0, 1, vcpu=4)
    with pytest.raises(ValueError, match="storage_requests keys"):
        price(lam, 1024, 1.0, 1, storage_requests={"list": 3})
    with pytest.raises(ValueError):
        price(lam, 1024, 1.0, -1)
    # check_limits=False prices a hypothetical duration anyway
    assert price(lam, 1024, 1800.0, 1, check_limits=False).billed_gb_seconds == _approx(1800.0)


def test_breakdown_labels_and_json() -> None:
    """Every component is labelled 'assumed' (a catalog-constant figure) and cites its facts."""
    b = price(get_offering("gcp-cloud-run:service"), 2048, 0.25, 1000, storage_requests={"put": 1}, egress_gb=1.0)
    data = json.loads(json.dumps(b.to_dict()))
    assert data["total_usd"] == pytest.approx(b.total_usd)
    assert set(data["components"]) == {"compute", "requests", "storage_ops", "storage", "egress"}
    for comp in data["components"].values():
        assert comp["label"] == "assumed"
        assert comp["facts"]
        for fact in comp["facts"].values():
            assert fact["source"] and fact["date"] == "2026-11-23"
    assert data["components"]["compute"]["facts"]["price_per_vcpu_second"]["status"] == "official"
