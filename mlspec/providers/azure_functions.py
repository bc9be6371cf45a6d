"""Azure Functions, East US: offerings ``flex`` (Flex Consumption, default) and ``consumption``.

- ``consumption`` (legacy): observed memory rounded up to 128 MB (at most 1,536 MB) x execution
  time, with a 100 ms minimum, in GB-seconds, plus a per-execution fee. One instance is about one
  core; memory is not configured.
- ``flex``: the chosen instance memory (512, 2,048 or 4,096 MB) x execution time, at least 1,000 ms
  and then rounded up to 100 ms, plus a per-execution fee (on-demand mode; always-ready instances
  are not modelled).
"""

from __future__ import annotations

from mlspec.providers.catalog import (
    CloudServices,
    FixedVcpu,
    FreeTier,
    Offering,
    PairedVcpu,
    Provider,
    assumed,
    official,
    third_party,
)

READ = "2026-11-23"
MiB = 2**20

PRICING = "https://azure.microsoft.com/pricing/details/functions/"
PRICES_3P = "https://modal.com/blog/azure-function-pricing-guide"
SECONDARY = "/work/shared/PROVIDERS.md"
FLEX_DOC = "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan"
SCALE_DOC = "https://learn.microsoft.com/azure/azure-functions/functions-scale"
COSTS_DOC = "https://learn.microsoft.com/azure/azure-functions/functions-consumption-costs"
BLOB_PRICING = "https://azure.microsoft.com/pricing/details/storage/blobs/"
BLOB_3P = "https://2kabhishek.github.io/AZ-900/Notes/Azure-Storage-Resources"
BANDWIDTH_PRICING = "https://azure.microsoft.com/pricing/details/bandwidth/"
BANDWIDTH_3P = "https://anodot.com/blog/azure-bandwidth-pricing"

HTTP_230 = (
    "an HTTP-triggered function must respond within 230 s whatever the timeout (Azure Load Balancer idle "
    "timeout); longer work must be started asynchronously"
)

CLOUD = CloudServices(
    object_store="Azure Blob Storage (block blob, hot, LRS)",
    put_per_1k_usd=assumed(
        0.005, BLOB_PRICING, READ,
        "write operations, stated per 10,000 ($0.05) and stored per 1,000; the page renders prices "
        "client-side and no 3rd-party source was read: recalled list price, unconfirmed",
    ),
    get_per_1k_usd=assumed(
        0.0004, BLOB_PRICING, READ, "read operations, $0.004 per 10,000 stored per 1,000; unconfirmed"
    ),
    storage_per_gb_month_usd=third_party(0.018, BLOB_3P, READ, "'~1.8 cents per GB', hot tier; unconfirmed"),
    egress_per_gb_usd=assumed(
        0.087, BANDWIDTH_PRICING, READ,
        "internet egress (Microsoft premium network), 100 GB-10 TB tier; recalled list price, unconfirmed",
    ),
    egress_free_gb=third_party(100.0, BANDWIDTH_3P, READ, "first 100 GB/month free; unconfirmed"),
)

CONSUMPTION = Offering(
    provider_key="azure-functions",
    key="consumption",
    display_name="Azure Functions Consumption (legacy)",
    description="Consumption plan (Windows); memory is observed, not configured",
    price_per_gb_second=third_party(0.000016, PRICES_3P, READ, "execution time, East US; unconfirmed"),
    price_per_vcpu_second=official(0.0, PRICING, READ, "billed on GB-s and executions only"),
    price_per_million_requests=third_party(0.20, PRICES_3P, READ, "total executions, East US; unconfirmed"),
    billing_granularity_ms=assumed(
        1, PRICING, READ,
        "the official sentence was cut off when read ('execution time calculated by rounding up to th...'); "
        "1 ms as recalled, unconfirmed",
    ),
    min_billed_ms=third_party(100, SECONDARY, READ, "'billed minimum 100 ms'; unconfirmed"),
    billed_memory_step_mb=official(
        128, PRICING, READ,
        "'Memory used by a function is measured by rounding up to the nearest 128 MB, up to the maximum "
        "memory size of 1,536 MB'",
    ),
    mb_per_billed_gb=official(
        1024, COSTS_DOC, READ, "memory buckets of 128 MB; 1,536 MB is the 1.5 GB per-instance maximum"
    ),
    memory_min_mb=assumed(
        1, "mlspec assumption", READ,
        "memory is not configured on Consumption: any observed amount up to the maximum is billed, rounded "
        "up to 128 MB",
    ),
    memory_max_mb=official(1536, PRICING, READ, "1.5 GB per instance"),
    memory_step_mb=assumed(1, "mlspec assumption", READ, "observed memory, any value"),
    allowed_memory_mb=None,
    vcpu_rule=FixedVcpu(
        vcpu=assumed(
            1.0, SCALE_DOC, READ,
            "the limits table gives 100 ACU per Consumption instance (Azure's unit for one core of its "
            "reference VM); instances may share cores",
        )
    ),
    timeout_default_s=official(300.0, SCALE_DOC, READ, "5 minutes"),
    timeout_max_s=official(600.0, SCALE_DOC, READ, f"10 minutes; {HTTP_230}"),
    sync_request_limit_bytes=official(100 * 2**20, SCALE_DOC, READ, "max request size 100 MB (HTTP trigger)"),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "no response limit is documented"),
    concurrency_limit=official(
        200, SCALE_DOC, READ, "max instances per app: 200 on Windows (Linux Consumption is retired)"
    ),
    image_size_limit_bytes=official(None, SCALE_DOC, READ, "no container support on Consumption"),
    cold_start_s=assumed(3.0, "mlspec assumption", READ, "Microsoft publishes no figure; cold starts are expected"),
    free_tier=FreeTier(
        gb_seconds=official(400_000.0, PRICING, READ, "per month per subscription"),
        vcpu_seconds=official(0.0, PRICING, READ, "vCPU is not billed"),
        requests=official(1_000_000.0, PRICING, READ, "executions per month per subscription"),
    ),
    cloud=CLOUD,
)

FLEX_SIZES = PairedVcpu(
    pairs=official(
        ((0.25, 512), (1.0, 2048), (2.0, 4096)),
        FLEX_DOC, READ,
        "instance memory 512 MB = 0.25 core, 2,048 MB = 1 core (default), 4,096 MB = 2 cores; typical "
        "allocations, plus 272 MB the platform adds and does not bill",
    ),
)

FLEX = Offering(
    provider_key="azure-functions",
    key="flex",
    display_name="Azure Functions Flex Consumption",
    description="Flex Consumption plan (Linux), on-demand instances",
    price_per_gb_second=third_party(
        0.000026, PRICES_3P, READ, "on-demand execution time, East US (PROVIDERS.md agrees); unconfirmed"
    ),
    price_per_vcpu_second=official(0.0, FLEX_DOC, READ, "billed on instance memory GB-s and executions"),
    price_per_million_requests=assumed(
        0.40, SECONDARY, READ, "on-demand executions; listed there as unverified and not found elsewhere"
    ),
    billing_granularity_ms=official(100, FLEX_DOC, READ, "'rounded up to the nearest 100 ms'"),
    min_billed_ms=official(1000, FLEX_DOC, READ, "'The minimum billable execution period ... is 1,000 ms'"),
    billed_memory_step_mb=official(1, FLEX_DOC, READ, "billed on the configured instance memory size"),
    mb_per_billed_gb=official(1024, FLEX_DOC, READ, "e.g. 512 MB = 0.5 GB; 250 cores = 512,000 MB quota"),
    memory_min_mb=official(512, FLEX_DOC, READ),
    memory_max_mb=official(4096, FLEX_DOC, READ),
    memory_step_mb=official(512, FLEX_DOC, READ, "only the listed sizes"),
    allowed_memory_mb=official((512, 2048, 4096), FLEX_DOC, READ, "2,048 MB is the default"),
    vcpu_rule=FLEX_SIZES,
    timeout_default_s=official(1800.0, SCALE_DOC, READ, "30 minutes"),
    timeout_max_s=official(
        None, SCALE_DOC, READ,
        f"unbounded, but the platform can recycle a worker (e.g. 60 min idle, upgrades); {HTTP_230}",
    ),
    sync_request_limit_bytes=assumed(
        100 * 2**20, SCALE_DOC, READ, "Flex's request limit was not read; the Consumption figure is used"
    ),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "no response limit is documented"),
    concurrency_limit=official(
        1000, FLEX_DOC, READ,
        "max instances per app; all Flex apps in a region share a default 250-core (512,000 MB) quota",
    ),
    image_size_limit_bytes=official(None, SCALE_DOC, READ, "no container support on Flex Consumption"),
    cold_start_s=assumed(
        2.0, "mlspec assumption", READ, "Microsoft publishes no figure; always-ready instances mitigate"
    ),
    free_tier=FreeTier(
        gb_seconds=assumed(
            100_000.0, PRICING, READ,
            "on-demand free grant per month; a 3rd-party summary was cut off at 'first 1...': recalled, unconfirmed",
        ),
        vcpu_seconds=official(0.0, FLEX_DOC, READ, "vCPU is not billed"),
        requests=assumed(250_000.0, PRICING, READ, "on-demand executions per month; recalled, unconfirmed"),
    ),
    cloud=CLOUD,
)

PROVIDER = Provider(
    key="azure-functions",
    display_name="Azure Functions",
    offerings=(FLEX, CONSUMPTION),
    notes=(
        "Prices: East US, pay as you go; always-ready (Flex) and Premium/Dedicated plans are not modelled.",
        "Consumption bills observed memory: pass the measured peak memory as memory_mb.",
    ),
)
