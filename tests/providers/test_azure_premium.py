"""Azure Functions Elastic Premium in the catalog: the plan `mlspec deploy --target azure-functions` creates."""

from __future__ import annotations

import pytest

from mlspec.providers import get_offering
from mlspec.providers.azure_functions import always_ready_usd_per_hour
from mlspec.providers.catalog import ProviderLimitError, iter_facts
from mlspec.providers.pricing import price


def test_premium_bills_vcpu_and_memory_seconds_of_the_instance_size() -> None:
    """EP2 (2 vCPU, 7 GB; learn.microsoft.com functions-premium-plan, official, read 2026-11-23), 12.4 s
    x 4 invocations: billed per second, so 13 s each (assumed: the price page says per second).
    vCPU-s = 2 x 13 x 4 = 104 x $0.173/3600; GB-s = 7 x 13 x 4 = 364 x $0.0123/3600 (both assumed:
    recalled East US list prices). No execution charge (official)."""
    o = get_offering("azure-functions:premium")
    b = price(o, 7168, 12.4, 4)
    assert (b.vcpu, b.billed_seconds_per_invocation) == (2.0, 13.0)
    assert (b.billed_vcpu_seconds, b.billed_gb_seconds) == (pytest.approx(104.0), pytest.approx(364.0))
    assert b.compute_usd == pytest.approx(104 * 0.173 / 3600 + 364 * 0.0123 / 3600)
    assert b.requests_usd == 0.0
    assert b.compute.label == "assumed"


def test_premium_sizes_are_the_ep_skus_only() -> None:
    o = get_offering("azure-functions:premium")
    assert [o.vcpus_for(m) for m in (3584, 7168, 14336)] == [1.0, 2.0, 4.0]
    with pytest.raises(ProviderLimitError, match="memory_mb 2048 is outside 3584–14336 MB"):
        o.vcpus_for(2048)


def test_the_always_ready_instance_is_priced_per_hour_and_its_prices_are_marked_assumed() -> None:
    # EP1: 1 vCPU x $0.173 + 3.5 GB x $0.0123 per hour.
    assert always_ready_usd_per_hour(3584) == pytest.approx(0.173 + 3.5 * 0.0123)
    facts = dict(iter_facts(get_offering("azure-functions:premium")))
    assert facts["price_per_vcpu_second"].status == "assumed"
    assert facts["price_per_gb_second"].status == "assumed"
    assert facts["price_per_million_requests"].status == "official"
