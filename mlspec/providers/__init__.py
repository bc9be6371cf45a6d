"""Provider catalog: prices and limits of each serverless platform, every figure with its source.

One module per platform (``aws_lambda``, ``gcp_cloud_run``, ``azure_functions``,
``ibm_code_engine``, ``oracle_functions``, ``local``) defines ``PROVIDER``; the registry finds them.
Importing this package loads no platform module and nothing heavy (``mlspec plan`` must start fast).

    >>> from mlspec.providers import get_offering, price
    >>> lam = get_offering("aws-lambda:x86_64")
    >>> round(price(lam, 1024, 10.0, 1000).compute_usd, 4)
    0.1667
"""

from mlspec.providers.catalog import (
    STATUSES,
    BandedVcpu,
    CloudServices,
    Fact,
    FixedVcpu,
    FreeTier,
    HostVcpu,
    Offering,
    PairedVcpu,
    ProportionalVcpu,
    Provider,
    ProviderLimitError,
    Status,
    UnknownProviderError,
    VcpuRule,
    iter_facts,
)
from mlspec.providers.pricing import CostBreakdown, CostComponent, billed_memory_mb, billed_seconds, price
from mlspec.providers.registry import (
    all_offerings,
    all_providers,
    get_offering,
    get_provider,
    provider_keys,
)

__all__ = [
    "STATUSES",
    "BandedVcpu",
    "CloudServices",
    "CostBreakdown",
    "CostComponent",
    "Fact",
    "FixedVcpu",
    "FreeTier",
    "HostVcpu",
    "Offering",
    "PairedVcpu",
    "ProportionalVcpu",
    "Provider",
    "ProviderLimitError",
    "Status",
    "UnknownProviderError",
    "VcpuRule",
    "all_offerings",
    "all_providers",
    "billed_memory_mb",
    "billed_seconds",
    "get_offering",
    "get_provider",
    "iter_facts",
    "price",
    "provider_keys",
]
