"""Azure Functions, East US: offerings ``flex`` (Flex Consumption, default), ``consumption`` and
``premium`` (Elastic Premium, the plan `mlspec deploy` creates: the only one here that runs a full
Functions container image).

- ``consumption`` (legacy): observed memory rounded up to 128 MB (at most 1,536 MB) x execution
  time, with a 100 ms minimum, in GB-seconds, plus a per-execution fee. One instance is about one
  core; memory is not configured.
- ``flex``: the chosen instance memory (512, 2,048 or 4,096 MB) x execution time, at least 1,000 ms
  and then rounded up to 100 ms, plus a per-execution fee (on-demand mode; always-ready instances
  are not modelled).
- ``premium``: the instance size's vCPUs and memory (EP1 1 vCPU / 3.5 GB, EP2 2 / 7 GB, EP3 4 / 14 GB)
  x the time instances are allocated, per second, in vCPU-seconds and GB-seconds; no execution fee.
  A plan always keeps at least one instance allocated and billed, idle or not: that always-ready
  charge (`always_ready_usd_per_hour`) is per plan and per hour, not per run, so run costs leave it out.
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
from mlspec.providers.platform import ImageFacts, Platform

READ = "2026-11-23"
MiB = 2**20

PRICING = "https://azure.microsoft.com/pricing/details/functions/"
PRICES_3P = "https://modal.com/blog/azure-function-pricing-guide"
SECONDARY = "/work/shared/PROVIDERS.md"
FLEX_DOC = "https://learn.microsoft.com/azure/azure-functions/flex-consumption-plan"
PREMIUM_DOC = "https://learn.microsoft.com/azure/azure-functions/functions-premium-plan"
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
        0.005,
        BLOB_PRICING,
        READ,
        "write operations, stated per 10,000 ($0.05) and stored per 1,000; the page renders prices "
        "client-side and no 3rd-party source was read: recalled list price, unconfirmed",
    ),
    get_per_1k_usd=assumed(
        0.0004, BLOB_PRICING, READ, "read operations, $0.004 per 10,000 stored per 1,000; unconfirmed"
    ),
    storage_per_gb_month_usd=third_party(0.018, BLOB_3P, READ, "'~1.8 cents per GB', hot tier; unconfirmed"),
    egress_per_gb_usd=assumed(
        0.087,
        BANDWIDTH_PRICING,
        READ,
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
        1,
        PRICING,
        READ,
        "the official sentence was cut off when read ('execution time calculated by rounding up to th...'); "
        "1 ms as recalled, unconfirmed",
    ),
    min_billed_ms=third_party(100, SECONDARY, READ, "'billed minimum 100 ms'; unconfirmed"),
    billed_memory_step_mb=official(
        128,
        PRICING,
        READ,
        "'Memory used by a function is measured by rounding up to the nearest 128 MB, up to the maximum "
        "memory size of 1,536 MB'",
    ),
    mb_per_billed_gb=official(
        1024, COSTS_DOC, READ, "memory buckets of 128 MB; 1,536 MB is the 1.5 GB per-instance maximum"
    ),
    memory_min_mb=assumed(
        1,
        "mlspec assumption",
        READ,
        "memory is not configured on Consumption: any observed amount up to the maximum is billed, rounded "
        "up to 128 MB",
    ),
    memory_max_mb=official(1536, PRICING, READ, "1.5 GB per instance"),
    memory_step_mb=assumed(1, "mlspec assumption", READ, "observed memory, any value"),
    allowed_memory_mb=None,
    vcpu_rule=FixedVcpu(
        vcpu=assumed(
            1.0,
            SCALE_DOC,
            READ,
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
        FLEX_DOC,
        READ,
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
        None,
        SCALE_DOC,
        READ,
        f"unbounded, but the platform can recycle a worker (e.g. 60 min idle, upgrades); {HTTP_230}",
    ),
    sync_request_limit_bytes=assumed(
        100 * 2**20, SCALE_DOC, READ, "Flex's request limit was not read; the Consumption figure is used"
    ),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "no response limit is documented"),
    concurrency_limit=official(
        1000,
        FLEX_DOC,
        READ,
        "max instances per app; all Flex apps in a region share a default 250-core (512,000 MB) quota",
    ),
    image_size_limit_bytes=official(None, SCALE_DOC, READ, "no container support on Flex Consumption"),
    cold_start_s=assumed(
        2.0, "mlspec assumption", READ, "Microsoft publishes no figure; always-ready instances mitigate"
    ),
    free_tier=FreeTier(
        gb_seconds=assumed(
            100_000.0,
            PRICING,
            READ,
            "on-demand free grant per month; a 3rd-party summary was cut off at 'first 1...': recalled, unconfirmed",
        ),
        vcpu_seconds=official(0.0, FLEX_DOC, READ, "vCPU is not billed"),
        requests=assumed(250_000.0, PRICING, READ, "on-demand executions per month; recalled, unconfirmed"),
    ),
    cloud=CLOUD,
)

PREMIUM_SIZES = PairedVcpu(
    pairs=official(
        ((1.0, 3584), (2.0, 7168), (4.0, 14336)),
        PREMIUM_DOC,
        READ,
        "instance SKUs: EP1 1 core 3.5 GB, EP2 2 cores 7 GB, EP3 4 cores 14 GB",
    ),
)

PREMIUM_SKU_NAMES = ("EP1", "EP2", "EP3")  # the SKU of each of PREMIUM.allowed_memory_mb, in order

PREMIUM = Offering(
    provider_key="azure-functions",
    key="premium",
    display_name="Azure Functions Elastic Premium",
    description="Elastic Premium plan (Linux, container images); one instance is always allocated and billed",
    price_per_gb_second=assumed(
        0.0123 / 3600,
        PRICING,
        READ,
        "memory duration $0.0123 per GB-hour, East US, stored per second; the page says Premium is 'billed on a "
        "per second basis based on the number of vCPU-s and GB-s' but renders its prices client-side and no "
        "3rd-party source was found: recalled list price, unconfirmed",
    ),
    price_per_vcpu_second=assumed(
        0.173 / 3600,
        PRICING,
        READ,
        "vCPU duration $0.173 per vCPU-hour, East US, stored per second; recalled list price, unconfirmed",
    ),
    price_per_million_requests=official(0.0, PREMIUM_DOC, READ, "'There's no execution charge with the Premium plan'"),
    billing_granularity_ms=official(1000, PRICING, READ, "'billed on a per second basis'"),
    min_billed_ms=assumed(
        1000,
        "mlspec assumption",
        READ,
        "an instance is billed while allocated, not per execution; one second is the billing unit. Instances "
        "added for a run stay allocated (billed) a while after it: not modelled",
    ),
    billed_memory_step_mb=official(1, PREMIUM_DOC, READ, "billed on the instance size's memory"),
    mb_per_billed_gb=assumed(1024, PREMIUM_DOC, READ, "EP1's 3.5 GB taken as 3,584 MB"),
    memory_min_mb=official(3584, PREMIUM_DOC, READ, "EP1"),
    memory_max_mb=official(14336, PREMIUM_DOC, READ, "EP3"),
    memory_step_mb=official(3584, PREMIUM_DOC, READ, "only the instance sizes"),
    allowed_memory_mb=official((3584, 7168, 14336), PREMIUM_DOC, READ, "EP1, EP2, EP3"),
    vcpu_rule=PREMIUM_SIZES,
    timeout_default_s=official(1800.0, SCALE_DOC, READ, "30 minutes"),
    timeout_max_s=official(
        None, SCALE_DOC, READ, f"unbounded (60 minutes guaranteed; the platform can recycle a worker); {HTTP_230}"
    ),
    sync_request_limit_bytes=assumed(
        100 * 2**20, SCALE_DOC, READ, "Premium's request limit was not read; the Consumption figure is used"
    ),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "no response limit is documented"),
    concurrency_limit=assumed(
        100,
        SCALE_DOC,
        READ,
        "max instances per plan (maximum burst); on Linux 20-100 depending on the region: the upper bound, unconfirmed",
    ),
    image_size_limit_bytes=assumed(None, PREMIUM_DOC, READ, "no image size limit was found"),
    cold_start_s=assumed(
        1.0,
        "mlspec assumption",
        READ,
        "Microsoft publishes no figure; always-ready and prewarmed instances start warm, further ones cold",
    ),
    free_tier=FreeTier(
        gb_seconds=official(0.0, PRICING, READ, "'Free grants apply to paid, consumption subscriptions only'"),
        vcpu_seconds=official(0.0, PRICING, READ, "no free grant on Premium"),
        requests=official(0.0, PRICING, READ, "no free grant on Premium"),
    ),
    cloud=CLOUD,
)


def always_ready_usd_per_hour(memory_mb: int) -> float:
    """What a Premium plan's one always-allocated instance of this size costs per hour, idle or not
    (assumed: from the catalog's prices)."""
    vcpu = PREMIUM.vcpus_for(memory_mb)
    gb = memory_mb / PREMIUM.mb_per_billed_gb.value
    return 3600 * (vcpu * PREMIUM.price_per_vcpu_second.value + gb * PREMIUM.price_per_gb_second.value)


PROVIDER = Provider(
    key="azure-functions",
    display_name="Azure Functions",
    offerings=(FLEX, CONSUMPTION, PREMIUM),
    notes=(
        "Prices: East US, pay as you go; always-ready (Flex) and Dedicated plans are not modelled.",
        "Consumption bills observed memory: pass the measured peak memory as memory_mb.",
        "Premium (the plan `mlspec deploy` creates) also bills one always-allocated instance per plan around the "
        f"clock, about ${always_ready_usd_per_hour(3584):.3f}/hour for EP1 (assumed): not part of run costs.",
    ),
)

PLATFORM = Platform(
    key=PROVIDER.key,
    target="mlspec.spec.targets:AzureFunctionsTarget",
    rank=3,
    offering_field="plan",
    image=ImageFacts(
        "mlspec.platforms.azure_functions:image",
        "mcr.microsoft.com/azure-functions/python:4-python3.11",
        ("azure-functions",),
    ),
    deployer="mlspec.platforms.azure_functions.deploy:AzureFunctionsDeployer",
    executor="mlspec.platforms.azure_functions.executor:AzureFunctionsExecutor",
    run_options="mlspec.platforms.azure_functions.run:run_options",
    object_store_kind="azure_blob",
    own_object_store="mlspec.platforms.azure_functions.run:own_object_store",
    undeployable_offerings={
        plan: f"`plan: {plan}` cannot run mlspec's container images (Flex Consumption runs code packages, "
        "Consumption no images); set `plan: premium` (Elastic Premium) to deploy"
        for plan in ("flex", "consumption")
    },
    cloud="azure",
    sdk_modules=(
        "azure.identity",
        "azure.mgmt.web",
        "azure.mgmt.containerregistry",
        "azure.mgmt.authorization",
        "azure.storage.blob",
    ),
    credentials="mlspec.platforms.azure_functions.credentials:describe_credentials",
)
