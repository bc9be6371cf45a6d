"""Google Cloud Run, tier-1 region (us-central1): offerings ``service`` (default) and ``job``.

- ``service``: request-based billing ("CPU only allocated during request processing"): vCPU-seconds
  AND GiB-seconds while a request is handled, rounded up to 100 ms, plus a per-request fee.
- ``job``: instance-based billing: vCPU-seconds and GiB-seconds for the whole task, no request fee.

Memory is billed in GiB (2^30 bytes): ``memory_mb`` is MiB, as Cloud Run's own ``--memory 2048Mi``.
"""

from __future__ import annotations

from mlspec.providers.catalog import (
    BandedVcpu,
    CloudServices,
    FreeTier,
    Offering,
    Provider,
    assumed,
    official,
    third_party,
)
from mlspec.providers.platform import ImageFacts, Platform

READ = "2026-11-23"
MiB = 2**20

PRICING = "https://cloud.google.com/run/pricing"
PRICES_3P = "https://cloudwebschool.com/tools/cloud-run-cost-calculator/"
SERVICE_CPU = "https://docs.cloud.google.com/run/docs/configuring/services/cpu"
JOB_CPU = "https://docs.cloud.google.com/run/docs/configuring/jobs/cpu"
JOB_MEMORY = "https://docs.cloud.google.com/run/docs/configuring/jobs/memory-limits"
REQUEST_TIMEOUT = "https://cloud.google.com/run/docs/configuring/request-timeout"
TASK_TIMEOUT = "https://docs.cloud.google.com/run/docs/configuring/task-timeout"
QUOTAS = "https://cloud.google.com/run/quotas"
FUNCTIONS_QUOTAS = "https://docs.cloud.google.com/functions/quotas"
MAX_INSTANCES = "https://cloud.google.com/run/docs/configuring/max-instances"
GCS_3P = "https://raw.githubusercontent.com/api-evangelist/gcp-cloud-storage/refs/heads/main/plans/gcp-cloud-storage-plans-pricing.yml"

GCS_NOTE = "transcribed from https://cloud.google.com/storage/pricing on 2026-09-20 by a 3rd party; unconfirmed"

CLOUD = CloudServices(
    object_store="Google Cloud Storage Standard (single region)",
    put_per_1k_usd=third_party(0.005, GCS_3P, READ, f"Class A operations per 1,000; {GCS_NOTE}"),
    get_per_1k_usd=third_party(0.0004, GCS_3P, READ, f"Class B operations per 1,000; {GCS_NOTE}"),
    storage_per_gb_month_usd=third_party(
        0.02, GCS_3P, READ, f"stated as $0.000027397 per GiB-hour (x 730 h = $0.020 per GiB-month); {GCS_NOTE}"
    ),
    egress_per_gb_usd=third_party(0.12, GCS_3P, READ, f"internet egress, premium tier, 0-10 TiB, per GiB; {GCS_NOTE}"),
    egress_free_gb=official(
        1.0, PRICING, READ, "1 GiB/month of internet egress within North America is free for Cloud Run"
    ),
)

MB_PER_GIB = official(
    1024,
    PRICING,
    READ,
    "billed in GiB-seconds: 'running a 1 gibibyte instance for 1 second, or a 256 mebibyte instance for 4 seconds'",
)

MEMORY_STEP = assumed(1, "mlspec assumption", READ, "Cloud Run takes memory in MiB; no coarser step is documented")

SERVICE_BANDS = BandedVcpu(
    bands=official(
        (
            (0.08, 0.5, 128, 512),
            (0.5, 1.0, 128, 1024),
            (1.0, 1.0, 128, 4096),
            (2.0, 2.0, 128, 8192),
            (4.0, 4.0, 2048, 16384),
            (6.0, 6.0, 4096, 24576),
            (8.0, 8.0, 4096, 32768),
        ),
        SERVICE_CPU,
        READ,
        "(vCPU low, vCPU high, min MiB, max MiB): .08 vCPU up to 512 MiB, .5 vCPU up to 1 GiB, 1 vCPU up "
        "to 4 GiB, 2 vCPU up to 8 GiB, 4 vCPU 2-16 GiB, 6 vCPU 4-24 GiB, 8 vCPU 4-32 GiB; values above 1 "
        "must be integers; below 1 vCPU, concurrency must be 1 and billing request-based",
    ),
    fractional_step=official(0.001, JOB_CPU, READ, "between 0.08 and 1 vCPU in increments of 0.001"),
)

JOB_BANDS = BandedVcpu(
    bands=official(
        (
            (1.0, 1.0, 512, 4096),
            (2.0, 2.0, 512, 8192),
            (4.0, 4.0, 2048, 16384),
            (6.0, 6.0, 4096, 24576),
            (8.0, 8.0, 4096, 32768),
        ),
        JOB_CPU,
        READ,
        "1 vCPU up to 4 GiB, 2 up to 8 GiB, 4: 2-16 GiB, 6: 4-24 GiB, 8: 4-32 GiB; jobs run in the second "
        "generation environment (minimum 512 MiB, see the jobs memory page); fractional vCPU requires "
        "request-based billing, which jobs do not have",
    ),
)

SERVICE = Offering(
    provider_key="gcp-cloud-run",
    key="service",
    display_name="Cloud Run service (request-based billing)",
    description="Cloud Run service invoked over HTTP; CPU allocated only while a request is processed",
    price_per_gb_second=third_party(
        0.0000025,
        PRICES_3P,
        READ,
        "per GiB-second, request-based billing, tier 1 (also cloudchipr.com); the official table's memory "
        "column could not be read: unconfirmed",
    ),
    price_per_vcpu_second=official(0.000024, PRICING, READ, "per vCPU-second beyond free tier, request-based, tier 1"),
    price_per_million_requests=third_party(
        0.40, PRICES_3P, READ, "per million requests beyond free tier (also cloudchipr.com); unconfirmed"
    ),
    billing_granularity_ms=official(100, PRICING, READ, "'rounded up to the nearest 100 millisecond'"),
    min_billed_ms=official(100, PRICING, READ, "one 100 ms unit"),
    billed_memory_step_mb=official(1, PRICING, READ, "configured memory is billed as set"),
    mb_per_billed_gb=MB_PER_GIB,
    memory_min_mb=official(128, SERVICE_CPU, READ, "first generation environment; the second needs 512 MiB"),
    memory_max_mb=official(32768, SERVICE_CPU, READ, "32 GiB, with 8 vCPU"),
    memory_step_mb=MEMORY_STEP,
    allowed_memory_mb=None,
    vcpu_rule=SERVICE_BANDS,
    timeout_default_s=official(300.0, REQUEST_TIMEOUT, READ),
    timeout_max_s=official(
        3600.0, REQUEST_TIMEOUT, READ, "60 minutes; Google recommends retries for timeouts above 15 minutes"
    ),
    sync_request_limit_bytes=official(
        32 * MiB,
        FUNCTIONS_QUOTAS,
        READ,
        "32 MB uncompressed HTTP request; stated on the Cloud Run functions quota page (functions run as "
        "Cloud Run services); HTTP/2 end-to-end lifts it",
    ),
    sync_response_limit_bytes=official(
        32 * MiB, FUNCTIONS_QUOTAS, READ, "32 MB for non-streaming responses (same page)"
    ),
    concurrency_limit=assumed(
        100,
        MAX_INSTANCES,
        READ,
        "default maximum instances per service (not read this session; raise with --max-instances); "
        "Cloud Run sets no direct limit on concurrent requests",
    ),
    image_size_limit_bytes=official(None, QUOTAS, READ, "'There is no direct limit on container image size'"),
    cold_start_s=assumed(
        2.0, "mlspec assumption", READ, "Google publishes no figure, only mitigations (min instances, CPU boost)"
    ),
    free_tier=FreeTier(
        gb_seconds=official(360_000.0, PRICING, READ, "GiB-seconds per month, request-based"),
        vcpu_seconds=official(180_000.0, PRICING, READ, "vCPU-seconds per month, request-based"),
        requests=official(2_000_000.0, PRICING, READ, "requests per month"),
    ),
    cloud=CLOUD,
)

JOB = Offering(
    provider_key="gcp-cloud-run",
    key="job",
    display_name="Cloud Run job (instance-based billing)",
    description="Cloud Run job task: runs to completion, billed for the whole task, no request fee",
    price_per_gb_second=assumed(
        0.000002,
        PRICING,
        READ,
        "per GiB-second, instance-based billing and jobs, tier 1; the official table's memory column could "
        "not be read and no 3rd-party source was found: recalled list price, unconfirmed",
    ),
    price_per_vcpu_second=official(
        0.000018, PRICING, READ, "'Services with CPU always allocated, Jobs: $0.00001800 / vCPU-second'"
    ),
    price_per_million_requests=official(0.0, PRICING, READ, "jobs pay no request fee"),
    billing_granularity_ms=official(100, PRICING, READ, "'rounded up to the nearest 100 millisecond'"),
    min_billed_ms=official(100, PRICING, READ, "one 100 ms unit"),
    billed_memory_step_mb=official(1, PRICING, READ, "configured memory is billed as set"),
    mb_per_billed_gb=MB_PER_GIB,
    memory_min_mb=official(512, JOB_MEMORY, READ, "second generation execution environment"),
    memory_max_mb=official(32768, JOB_MEMORY, READ, "32 GiB"),
    memory_step_mb=MEMORY_STEP,
    allowed_memory_mb=None,
    vcpu_rule=JOB_BANDS,
    timeout_default_s=official(600.0, TASK_TIMEOUT, READ, "10 minutes per task attempt"),
    timeout_max_s=official(604800.0, TASK_TIMEOUT, READ, "168 hours (7 days); 1 hour for tasks with GPUs"),
    sync_request_limit_bytes=assumed(
        None, "mlspec assumption", READ, "jobs take no request; input travels via storage"
    ),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "jobs return no response"),
    concurrency_limit=assumed(
        100,
        QUOTAS,
        READ,
        "parallel tasks per execution: the quota row could not be read in full this session; unconfirmed",
    ),
    image_size_limit_bytes=official(None, QUOTAS, READ, "'There is no direct limit on container image size'"),
    cold_start_s=assumed(
        5.0, "mlspec assumption", READ, "Google publishes no figure; a job task starts a fresh instance each time"
    ),
    free_tier=FreeTier(
        gb_seconds=assumed(
            450_000.0,
            PRICING,
            READ,
            "GiB-seconds per month for instance-based billing and jobs; the row was cut off ('Free: First "
            "24...') when read: recalled figure, unconfirmed",
        ),
        vcpu_seconds=assumed(
            240_000.0, PRICING, READ, "vCPU-seconds per month ('First 24...' was all that could be read); unconfirmed"
        ),
        requests=official(0.0, PRICING, READ, "no request fee, so no request allowance"),
    ),
    cloud=CLOUD,
)

PROVIDER = Provider(
    key="gcp-cloud-run",
    display_name="Google Cloud Run",
    offerings=(SERVICE, JOB),
    notes=(
        "Prices: tier-1 regions, on demand, no committed-use discounts.",
        "Request-based billing also bills instance startup and shutdown time; mlspec counts it through "
        "the measured duration, not separately.",
    ),
)

PLATFORM = Platform(
    key=PROVIDER.key,
    target="mlspec.spec.targets:GcpCloudRunTarget",
    rank=2,
    offering_field="mode",
    # no shim requirements: the shim serves HTTP with the standard library's WSGI server
    image=ImageFacts("mlspec.platforms.gcp_cloud_run:image", "python:3.11-slim"),
    deployer="mlspec.platforms.gcp_cloud_run.deploy:CloudRunDeployer",
    executor="mlspec.platforms.gcp_cloud_run.executor:CloudRunExecutor",
    run_options="mlspec.platforms.gcp_cloud_run.run:run_options",
    object_store_kind="gcs",
    own_object_store="mlspec.platforms.gcp_cloud_run.run:own_object_store",
    cloud="gcp",
    sdk_modules=("google.cloud.run_v2", "google.cloud.artifactregistry_v1", "google.cloud.storage", "google.auth"),
    credentials="mlspec.platforms.gcp_cloud_run.credentials:describe_credentials",
)
