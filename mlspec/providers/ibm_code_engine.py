"""IBM Cloud Code Engine, us-south: one offering, ``app`` (an application invoked over HTTP).

Billing: vCPU-seconds and GB-seconds of running instances, plus incoming HTTP calls. vCPU and memory
come in fixed combinations. IBM Cloud Functions, its predecessor, is shut down.

IBM states sizes in decimal GB ("4 G"); mlspec writes a size of N GB as ``memory_mb = N x 1024``
(4 GB -> 4096, matching ``pipeline.yaml``'s default) and bills ``memory_mb / 1024`` GB, so the billed
GB count equals the size IBM bills.
"""

from __future__ import annotations

from mlspec.providers.catalog import (
    CloudServices,
    FreeTier,
    Offering,
    PairedVcpu,
    Provider,
    assumed,
    official,
)
from mlspec.providers.platform import Platform

READ = "2026-11-23"

PRICING = "https://www.ibm.com/products/code-engine/pricing"
BILLING_DOC = "https://cloud.ibm.com/docs/codeengine?topic=codeengine-pricing"
COMBOS_DOC = "https://cloud.ibm.com/docs/codeengine?topic=codeengine-mem-cpu-combo"
LIMITS_DOC = "https://cloud.ibm.com/docs/codeengine?topic=codeengine-limits"
COS_PRICING = "https://www.ibm.com/products/cloud-object-storage/pricing"

NOT_FOUND = (
    "IBM's docs state the billing units (vCPU-s, GB-s, HTTP calls) but defer the numbers to the pricing "
    "page, which could not be read; no 3rd-party source found: recalled US list price, unconfirmed"
)

# (vCPU, GB) combinations from the docs' table (revision 2024-09-03): CPU-intensive, balanced and
# memory-intensive columns; GB sizes become memory_mb = GB x 1024.
_COMBOS_GB: tuple[tuple[float, float], ...] = (
    (0.125, 0.25),
    (0.125, 0.5),
    (0.125, 1),
    (0.25, 0.5),
    (0.25, 1),
    (0.25, 2),
    (0.5, 1),
    (0.5, 2),
    (0.5, 4),
    (1, 2),
    (1, 4),
    (1, 8),
    (2, 4),
    (2, 8),
    (2, 16),
    (4, 8),
    (4, 16),
    (4, 32),
    (6, 12),
    (6, 24),
    (6, 48),
    (8, 16),
    (8, 32),
    (10, 20),
    (10, 40),
    (12, 24),
    (12, 48),
)
_COMBOS = tuple((float(v), int(gb * 1024)) for v, gb in _COMBOS_GB)

COMBOS = PairedVcpu(
    pairs=official(
        _COMBOS,
        COMBOS_DOC,
        READ,
        "valid vCPU/memory combinations for apps and jobs (page revision 2024-09-03); default 1 vCPU / 4 GB; "
        "memory written as GB x 1024",
    ),
    preferred_mb_per_vcpu=official(
        4096.0, COMBOS_DOC, READ, "the 'balanced' column: 4 GB per vCPU (the default 1 vCPU / 4 GB)"
    ),
)

CLOUD = CloudServices(
    object_store="IBM Cloud Object Storage (Standard, regional)",
    put_per_1k_usd=assumed(0.005, COS_PRICING, READ, "Class A requests per 1,000; not read: unconfirmed"),
    get_per_1k_usd=assumed(0.0004, COS_PRICING, READ, "Class B requests per 1,000; not read: unconfirmed"),
    storage_per_gb_month_usd=assumed(0.023, COS_PRICING, READ, "Standard regional, first tier; not read: unconfirmed"),
    egress_per_gb_usd=assumed(0.09, COS_PRICING, READ, "public outbound bandwidth, first tier; not read: unconfirmed"),
    egress_free_gb=assumed(0.0, COS_PRICING, READ, "no free allowance assumed"),
)

APP = Offering(
    provider_key="ibm-code-engine",
    key="app",
    display_name="IBM Cloud Code Engine (application)",
    description="Code Engine application invoked over HTTP; billed for running instances",
    price_per_gb_second=assumed(0.00000356, PRICING, READ, NOT_FOUND),
    price_per_vcpu_second=assumed(0.00003431, PRICING, READ, NOT_FOUND),
    price_per_million_requests=assumed(0.538, PRICING, READ, f"incoming HTTP calls; {NOT_FOUND}"),
    billing_granularity_ms=assumed(
        1000,
        BILLING_DOC,
        READ,
        "billed per vCPU-second and GB-second; finer granularity is not documented. Instances also bill "
        "while idle before scaling down, which mlspec does not model",
    ),
    min_billed_ms=assumed(1000, BILLING_DOC, READ, "one billing second; image pull time is also billed"),
    billed_memory_step_mb=official(1, COMBOS_DOC, READ, "billed on the configured combination"),
    mb_per_billed_gb=assumed(
        1024,
        COMBOS_DOC,
        READ,
        "IBM's GB is decimal; mlspec maps an N GB size to N x 1024 memory_mb, so memory_mb / 1024 is the "
        "GB count IBM bills",
    ),
    memory_min_mb=official(256, COMBOS_DOC, READ, "0.25 GB (with 0.125 vCPU)"),
    memory_max_mb=official(49152, COMBOS_DOC, READ, "48 GB (with 6 or 12 vCPU)"),
    memory_step_mb=official(256, COMBOS_DOC, READ, "only the listed combinations"),
    allowed_memory_mb=official(
        tuple(sorted({m for _, m in _COMBOS})), COMBOS_DOC, READ, "memory sizes of the valid combinations"
    ),
    vcpu_rule=COMBOS,
    timeout_default_s=official(
        300.0, LIMITS_DOC, READ, "application request timeout; read in the docs' 2021 revision of this page"
    ),
    timeout_max_s=official(
        600.0,
        LIMITS_DOC,
        READ,
        "application request timeout maximum (2021 revision; the current page was not read in full). Code "
        "Engine jobs allow far longer runs but are not modelled here",
    ),
    sync_request_limit_bytes=assumed(None, "mlspec assumption", READ, "no request size limit was found"),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "no response size limit was found"),
    concurrency_limit=official(
        250, LIMITS_DOC, READ, "active instances per project (2021 revision); all apps and jobs together"
    ),
    image_size_limit_bytes=assumed(None, "mlspec assumption", READ, "no image size limit was found"),
    cold_start_s=assumed(5.0, "mlspec assumption", READ, "IBM publishes no figure"),
    free_tier=FreeTier(
        gb_seconds=assumed(
            200_000.0, BILLING_DOC, READ, "the docs confirm a free tier exists; amount recalled, unconfirmed"
        ),
        vcpu_seconds=assumed(100_000.0, BILLING_DOC, READ, "amount recalled, unconfirmed"),
        requests=assumed(100_000.0, BILLING_DOC, READ, "HTTP calls; amount recalled, unconfirmed"),
    ),
    cloud=CLOUD,
)

PROVIDER = Provider(
    key="ibm-code-engine",
    display_name="IBM Cloud Code Engine",
    offerings=(APP,),
    notes=("IBM Cloud Functions accepted no new entities after December 2023; Code Engine replaces it.",),
)

# Priced only: mlspec neither builds for nor deploys to it.
PLATFORM = Platform(key=PROVIDER.key, target="mlspec.spec.targets:IbmCodeEngineTarget", rank=4)
