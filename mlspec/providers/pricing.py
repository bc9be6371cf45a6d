"""Cost of a batch of invocations on one offering: pure functions over catalog data.

One formula serves every platform; the offering's facts decide what it charges for:

- billed duration per invocation = the duration rounded *up* to ``billing_granularity_ms``, and at
  least ``min_billed_ms`` (Lambda: 1 ms / 1 ms; Cloud Run: 100 ms; Azure Consumption: 1 ms with a
  100 ms minimum; Azure Flex: 100 ms with a 1,000 ms minimum);
- billed memory = ``memory_mb`` rounded up to ``billed_memory_step_mb`` (Azure Consumption: 128 MB),
  divided by ``mb_per_billed_gb`` to get GB (or GiB, for Google);
- compute = billed GB-seconds x ``price_per_gb_second`` + billed vCPU-seconds x
  ``price_per_vcpu_second`` (vCPU-seconds are only counted where that price is not zero: Lambda,
  Azure and Oracle bill memory only, vCPU being implied by it);
- requests = invocations x ``price_per_million_requests`` / 1e6 (zero for Cloud Run jobs);
- storage operations, storage and egress at the prices of the offering's cloud.

Every component is labelled ``assumed`` (DESIGN.md: a figure computed from catalog constants, not
measured on the platform) and lists the facts it used, so a table can cite them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlspec.providers.catalog import Fact, Offering

LABEL = "assumed"
STORAGE_OPERATIONS = ("put", "get")


@dataclass(frozen=True)
class CostComponent:
    name: str
    usd: float
    label: str
    facts: tuple[tuple[str, Fact[Any]], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "usd": self.usd,
            "label": self.label,
            "facts": {name: fact.to_dict() for name, fact in self.facts},
        }


@dataclass(frozen=True)
class CostBreakdown:
    provider: str
    offering: str
    invocations: int
    memory_mb: float
    billed_memory_mb: float
    vcpu: float
    seconds_per_invocation: float
    billed_seconds_per_invocation: float
    billed_gb_seconds: float
    billed_vcpu_seconds: float
    free_tier: bool
    compute: CostComponent
    requests: CostComponent
    storage_ops: CostComponent
    storage: CostComponent
    egress: CostComponent

    @property
    def compute_usd(self) -> float:
        return self.compute.usd

    @property
    def requests_usd(self) -> float:
        return self.requests.usd

    @property
    def storage_ops_usd(self) -> float:
        return self.storage_ops.usd

    @property
    def storage_usd(self) -> float:
        return self.storage.usd

    @property
    def egress_usd(self) -> float:
        return self.egress.usd

    @property
    def total_usd(self) -> float:
        return sum(c.usd for c in self.components)

    @property
    def billed_ms_per_invocation(self) -> float:
        return self.billed_seconds_per_invocation * 1000.0

    @property
    def components(self) -> tuple[CostComponent, ...]:
        return (self.compute, self.requests, self.storage_ops, self.storage, self.egress)

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "offering": self.offering,
            "invocations": self.invocations,
            "memory_mb": self.memory_mb,
            "billed_memory_mb": self.billed_memory_mb,
            "vcpu": self.vcpu,
            "seconds_per_invocation": self.seconds_per_invocation,
            "billed_seconds_per_invocation": self.billed_seconds_per_invocation,
            "billed_gb_seconds": self.billed_gb_seconds,
            "billed_vcpu_seconds": self.billed_vcpu_seconds,
            "free_tier": self.free_tier,
            "compute_usd": self.compute_usd,
            "requests_usd": self.requests_usd,
            "storage_ops_usd": self.storage_ops_usd,
            "storage_usd": self.storage_usd,
            "egress_usd": self.egress_usd,
            "total_usd": self.total_usd,
            "components": {c.name: c.to_dict() for c in self.components},
        }


def billed_seconds(offering: Offering, seconds: float) -> float:
    """One invocation's billed duration: rounded up to the granularity, at least the minimum."""
    if seconds < 0:
        raise ValueError(f"seconds_per_invocation must not be negative, got {seconds:g}")
    gran = offering.billing_granularity_ms.value
    # round() first so 10 s is 10000 ms, not 10000.000000000002 -> one extra unit
    units = math.ceil(round(seconds * 1000.0 / gran, 6))
    return max(units * gran, offering.min_billed_ms.value) / 1000.0


def billed_memory_mb(offering: Offering, memory_mb: float) -> float:
    step = offering.billed_memory_step_mb.value
    return float(max(math.ceil(round(memory_mb / step, 6)) * step, step))


def price(
    offering: Offering,
    memory_mb: float,
    seconds_per_invocation: float,
    invocations: int,
    vcpu: float | None = None,
    storage_requests: Mapping[str, int] | None = None,
    egress_gb: float = 0.0,
    free_tier: bool = False,
    stored_gb_months: float = 0.0,
    check_limits: bool = True,
) -> CostBreakdown:
    """Price ``invocations`` invocations of ``seconds_per_invocation`` each at ``memory_mb``.

    ``vcpu`` matters only where the platform lets vCPU be chosen (Cloud Run, IBM Code Engine);
    elsewhere it is implied by memory and a different request is an error. ``storage_requests``
    counts object-store operations, e.g. ``{"put": 100, "get": 4000}``; ``egress_gb`` is data sent
    to the internet or another cloud; ``stored_gb_months`` is object storage held. With
    ``free_tier=True`` the platform's monthly free allowances are subtracted first (as if nothing
    else used them this month). ``check_limits`` (default on) refuses memory, vCPU or a duration
    the platform does not allow."""
    if invocations < 0:
        raise ValueError(f"invocations must not be negative, got {invocations}")
    if egress_gb < 0 or stored_gb_months < 0:
        raise ValueError("egress_gb and stored_gb_months must not be negative")
    if check_limits:
        offering.check_memory(memory_mb)
        if seconds_per_invocation > 0:
            offering.check_timeout(seconds_per_invocation)
    cpus = offering.vcpu_rule.vcpus_for(memory_mb, vcpu, offering.label)

    o = offering
    bill_s = billed_seconds(o, seconds_per_invocation)
    bill_mb = billed_memory_mb(o, memory_mb)
    gb_s = bill_mb / o.mb_per_billed_gb.value * bill_s * invocations
    vcpu_billed = o.price_per_vcpu_second.value > 0
    vcpu_s = cpus * bill_s * invocations if vcpu_billed else 0.0
    n_requests = float(invocations)
    egress = egress_gb

    free = o.free_tier
    free_facts: tuple[tuple[str, Fact[Any]], ...] = ()
    if free_tier:
        gb_s_charged = max(0.0, gb_s - free.gb_seconds.value)
        vcpu_s_charged = max(0.0, vcpu_s - free.vcpu_seconds.value)
        requests_charged = max(0.0, n_requests - free.requests.value)
        egress_charged = max(0.0, egress - o.cloud.egress_free_gb.value)
        free_facts = (("free_gb_seconds", free.gb_seconds), ("free_vcpu_seconds", free.vcpu_seconds))
    else:
        gb_s_charged, vcpu_s_charged, requests_charged, egress_charged = gb_s, vcpu_s, n_requests, egress

    compute_facts: tuple[tuple[str, Fact[Any]], ...] = (
        ("price_per_gb_second", o.price_per_gb_second),
        ("price_per_vcpu_second", o.price_per_vcpu_second),
        ("billing_granularity_ms", o.billing_granularity_ms),
        ("min_billed_ms", o.min_billed_ms),
        ("billed_memory_step_mb", o.billed_memory_step_mb),
        ("mb_per_billed_gb", o.mb_per_billed_gb),
        *free_facts,
    )
    compute = CostComponent(
        "compute",
        gb_s_charged * o.price_per_gb_second.value + vcpu_s_charged * o.price_per_vcpu_second.value,
        LABEL,
        compute_facts,
    )
    request_facts: tuple[tuple[str, Fact[Any]], ...] = (
        ("price_per_million_requests", o.price_per_million_requests),
        *((("free_requests", free.requests),) if free_tier else ()),
    )
    requests = CostComponent(
        "requests", requests_charged * o.price_per_million_requests.value / 1e6, LABEL, request_facts
    )

    ops = dict(storage_requests or {})
    unknown = sorted(set(ops) - set(STORAGE_OPERATIONS))
    if unknown:
        raise ValueError(f"storage_requests keys must be {'/'.join(STORAGE_OPERATIONS)}, got {unknown}")
    if any(v < 0 for v in ops.values()):
        raise ValueError("storage_requests counts must not be negative")
    cloud = o.cloud
    storage_ops = CostComponent(
        "storage_ops",
        ops.get("put", 0) * cloud.put_per_1k_usd.value / 1000.0
        + ops.get("get", 0) * cloud.get_per_1k_usd.value / 1000.0,
        LABEL,
        (("put_per_1k_usd", cloud.put_per_1k_usd), ("get_per_1k_usd", cloud.get_per_1k_usd)),
    )
    storage = CostComponent(
        "storage",
        stored_gb_months * cloud.storage_per_gb_month_usd.value,
        LABEL,
        (("storage_per_gb_month_usd", cloud.storage_per_gb_month_usd),),
    )
    egress_facts: tuple[tuple[str, Fact[Any]], ...] = (
        ("egress_per_gb_usd", cloud.egress_per_gb_usd),
        *((("egress_free_gb", cloud.egress_free_gb),) if free_tier else ()),
    )
    egress_c = CostComponent("egress", egress_charged * cloud.egress_per_gb_usd.value, LABEL, egress_facts)

    return CostBreakdown(
        provider=o.provider_key,
        offering=o.key,
        invocations=invocations,
        memory_mb=memory_mb,
        billed_memory_mb=bill_mb,
        vcpu=cpus,
        seconds_per_invocation=seconds_per_invocation,
        billed_seconds_per_invocation=bill_s,
        billed_gb_seconds=gb_s,
        billed_vcpu_seconds=vcpu_s,
        free_tier=free_tier,
        compute=compute,
        requests=requests,
        storage_ops=storage_ops,
        storage=storage,
        egress=egress_c,
    )
