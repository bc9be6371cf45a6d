"""Oracle Cloud Infrastructure (OCI) Functions, us-ashburn-1: one offering, ``default``.

Billing: memory x execution time in GB memory-seconds plus a per-invocation fee. Memory is one of a
few fixed sizes; OCI does not document how much CPU each size gets.
"""

from __future__ import annotations

from mlspec.providers.catalog import (
    CloudServices,
    FreeTier,
    Offering,
    ProportionalVcpu,
    Provider,
    assumed,
    official,
    third_party,
)
from mlspec.providers.platform import Platform

READ = "2026-11-23"
MiB = 2**20

PRICE_LIST = "https://www.oracle.com/cloud/price-list/"
PRICES_3P = "https://raw.githubusercontent.com/api-evangelist/oracle/refs/heads/main/plans/oracle-plans-pricing.yml"
SETTINGS_DOC = "https://docs.oracle.com/iaas/Content/Functions/Tasks/functionscustomizing.htm"
RELEASE_3GB = "https://docs.oracle.com/iaas/releasenotes/functions/functions-3gb-functions-support.htm"
INVOKE_DOC = "https://docs.oracle.com/iaas/tools/oci-cli/latest/oci_cli_docs/cmdref/fn/function/invoke.html"
LIMITS_3P = "https://harishkm.in/2020/07/07/functions-in-oracle-cloud-infrastructure/"
CAPACITY_DOC = "https://docs.oracle.com/iaas/Content/Functions/Tasks/functionsmonitoringcapacityusage.htm"
OS_PRICING = "https://www.oracle.com/cloud/storage/pricing/"
OS_3P = "https://cloudtoolstack.com/learn/oci-object-storage-guide"

TRANSCRIBED = "transcribed verbatim from the OCI price list on 2026-09-20 by a 3rd party; unconfirmed"

CLOUD = CloudServices(
    object_store="OCI Object Storage (Standard)",
    put_per_1k_usd=assumed(
        0.00034, OS_PRICING, READ, "requests are priced per 10,000 ($0.0034), stored per 1,000; not read: unconfirmed"
    ),
    get_per_1k_usd=assumed(0.00034, OS_PRICING, READ, "same request price for reads; not read: unconfirmed"),
    storage_per_gb_month_usd=assumed(0.0255, OS_PRICING, READ, "Standard tier; not read: unconfirmed"),
    egress_per_gb_usd=assumed(0.0085, OS_PRICING, READ, "outbound data transfer beyond 10 TB; not read: unconfirmed"),
    egress_free_gb=third_party(
        10240.0, OS_3P, READ, "first 10 TB/month of outbound transfer free across OCI services; unconfirmed"
    ),
)

DEFAULT = Offering(
    provider_key="oracle-functions",
    key="default",
    display_name="OCI Functions",
    description="OCI Functions (Fn Project) function, synchronous invocation",
    price_per_gb_second=third_party(0.00001417, PRICES_3P, READ, f"execution time per GB memory-second; {TRANSCRIBED}"),
    price_per_vcpu_second=official(0.0, PRICE_LIST, READ, "billed on memory-seconds and invocations only"),
    price_per_million_requests=third_party(
        0.20, PRICES_3P, READ, f"stated as US$0.0000002 per invocation; {TRANSCRIBED}"
    ),
    billing_granularity_ms=assumed(100, "mlspec assumption", READ, "OCI documents no rounding rule"),
    min_billed_ms=assumed(100, "mlspec assumption", READ, "OCI documents no minimum"),
    billed_memory_step_mb=official(1, SETTINGS_DOC, READ, "billed on the configured memory size"),
    mb_per_billed_gb=assumed(1024, "mlspec assumption", READ, "OCI sizes are powers of two in MB; 1 GB = 1,024 MB"),
    memory_min_mb=official(128, SETTINGS_DOC, READ),
    memory_max_mb=official(3072, RELEASE_3GB, READ, "3 GB since December 2024 (was 2 GB)"),
    memory_step_mb=official(128, SETTINGS_DOC, READ, "only the listed sizes"),
    allowed_memory_mb=official((128, 256, 512, 1024, 2048, 3072), SETTINGS_DOC, READ, "default 128 MB"),
    vcpu_rule=ProportionalVcpu(
        mb_per_vcpu=assumed(
            1024.0,
            "mlspec assumption",
            READ,
            "OCI allocates CPU with memory but publishes no ratio; 1 vCPU per GB assumed",
        ),
        max_vcpu=assumed(3.0, "mlspec assumption", READ, "follows from the assumed ratio at 3,072 MB"),
    ),
    timeout_default_s=official(30.0, SETTINGS_DOC, READ, "synchronous invocation"),
    timeout_max_s=official(
        300.0, SETTINGS_DOC, READ, "synchronous invocation; detached invocations may run up to 3,600 s"
    ),
    sync_request_limit_bytes=official(6 * MiB, INVOKE_DOC, READ, "'This limit is currently 6MB'"),
    sync_response_limit_bytes=third_party(6 * MiB, LIMITS_3P, READ, "request and response 6 MB; unconfirmed"),
    concurrency_limit=assumed(
        60,
        CAPACITY_DOC,
        READ,
        "OCI limits concurrency by total memory (total-concurrency-mb, per region) whose default was not "
        "read; 60 concurrent 1 GB functions assumed, unconfirmed",
    ),
    image_size_limit_bytes=assumed(None, "mlspec assumption", READ, "no image size limit was found"),
    cold_start_s=assumed(
        2.0, "mlspec assumption", READ, "Oracle publishes no figure; provisioned concurrency mitigates"
    ),
    free_tier=FreeTier(
        gb_seconds=third_party(400_000.0, PRICES_3P, READ, f"per month; {TRANSCRIBED}"),
        vcpu_seconds=official(0.0, PRICE_LIST, READ, "vCPU is not billed"),
        requests=third_party(2_000_000.0, PRICES_3P, READ, f"invocations per month; {TRANSCRIBED}"),
    ),
    cloud=CLOUD,
)

PROVIDER = Provider(key="oracle-functions", display_name="Oracle Cloud Functions", offerings=(DEFAULT,))

# Priced only: mlspec neither builds for nor deploys to it.
PLATFORM = Platform(key=PROVIDER.key, target="mlspec.spec.targets:OracleFunctionsTarget", rank=5)
