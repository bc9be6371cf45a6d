"""The provider catalog's data model: every number is a `Fact` that carries its source and date.

A platform module (``aws_lambda.py``, ``gcp_cloud_run.py``, ...) builds one `Provider` out of these
frozen dataclasses; nothing here knows any platform by name. The rules that differ between
platforms (how memory maps to vCPU) are small strategy objects (`VcpuRule` subclasses) holding
their own facts, so adding a platform never means adding a branch here.

Conventions, applied by every platform module:

- ``memory_mb`` is the number a user writes in ``pipeline.yaml`` and the number the platform's own
  console takes: for every platform here that is a count of 2^20-byte units (AWS and Azure call
  them "MB", Google "MiB"). How many of them make one *billed* GB (AWS, Azure, IBM, Oracle) or GiB
  (Google) is the offering's ``mb_per_billed_gb`` fact.
- Prices are USD, US-East / tier-1 region, on demand, first pricing tier. Request prices are per
  million requests, object-store operations per 1,000 operations, storage per GB-month, egress per
  GB: the field name carries the unit, and a fact's note says when the source states another unit.
- ``Fact.status``: ``official`` (read in the platform's own documentation or price page),
  ``3rd-party`` (found only in a secondary source: *unconfirmed*), ``assumed`` (no source gives
  the figure; mlspec's own assumption, explained in the note).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Generic, Literal, TypeVar

from mlspec.errors import UsageError

T = TypeVar("T")

Status = Literal["official", "3rd-party", "assumed"]
STATUSES: tuple[Status, ...] = ("official", "3rd-party", "assumed")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EPS = 1e-9


# ---------------------------------------------------------------- facts


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One catalog figure with its provenance. ``value`` may be ``None`` where the platform sets
    no limit (the note says so)."""

    value: T
    source: str
    date: str
    status: Status
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.source.strip():
            raise ValueError("a Fact needs a source (URL or document name)")
        if not _ISO_DATE.match(self.date):
            raise ValueError(f"Fact.date must be an ISO date (YYYY-MM-DD), got {self.date!r}")
        if self.status not in STATUSES:
            raise ValueError(f"Fact.status must be one of {STATUSES}, got {self.status!r}")

    @property
    def confirmed(self) -> bool:
        return self.status == "official"

    def cite(self) -> str:
        """Short provenance for messages: ``source`` plus ``, unconfirmed`` or ``, assumed``."""
        if self.status == "official":
            return self.source
        label = "unconfirmed" if self.status == "3rd-party" else "assumed"
        return f"{self.source}, {label}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": _jsonable(self.value),
            "source": self.source,
            "date": self.date,
            "status": self.status,
            "note": self.note,
        }


def official(value: T, source: str, date: str, note: str | None = None) -> Fact[T]:
    return Fact(value, source, date, "official", note)


def third_party(value: T, source: str, date: str, note: str | None = None) -> Fact[T]:
    return Fact(value, source, date, "3rd-party", note)


def assumed(value: T, source: str, date: str, note: str | None = None) -> Fact[T]:
    return Fact(value, source, date, "assumed", note)


# ---------------------------------------------------------------- errors


class ProviderLimitError(ValueError, UsageError):
    """A setting outside a platform's envelope (memory, vCPU, workers, time limit)."""


class UnknownProviderError(KeyError, UsageError):
    """A provider or offering key the catalog does not know; the message lists the known keys."""

    def __init__(self, message: str, known: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.known = known

    def __str__(self) -> str:  # KeyError would print the message quoted
        return self.message


# ---------------------------------------------------------------- vCPU rules


@dataclass(frozen=True)
class VcpuRule:
    """How a platform turns a memory setting (and an optional vCPU request) into vCPUs."""

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        raise NotImplementedError

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        raise NotImplementedError

    def describe(self) -> str:
        """The rule in a few words, for tables (`mlspec providers`)."""
        raise NotImplementedError

    def _implied(self, implied: float, requested: float | None, where: str, fact: Fact[Any]) -> float:
        if requested is not None and not math.isclose(requested, implied, rel_tol=1e-3, abs_tol=1e-3):
            raise ProviderLimitError(
                f"{where}: vCPU is not set separately; memory gives {implied:.3g} vCPU, "
                f"not the requested {requested:g} (source: {fact.cite()})"
            )
        return implied


@dataclass(frozen=True)
class ProportionalVcpu(VcpuRule):
    """vCPU = memory_mb / mb_per_vcpu, capped at max_vcpu (AWS Lambda: 1,769 MB per vCPU)."""

    mb_per_vcpu: Fact[float]
    max_vcpu: Fact[float]

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        implied = min(memory_mb / self.mb_per_vcpu.value, self.max_vcpu.value)
        return self._implied(implied, requested_vcpu, where, self.mb_per_vcpu)

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        if vcpu <= 0 or vcpu > self.max_vcpu.value + _EPS:
            raise ProviderLimitError(
                f"{where}: vCPU {vcpu:g} is outside 0–{self.max_vcpu.value:g} (source: {self.max_vcpu.cite()})"
            )
        exact = math.ceil(vcpu * self.mb_per_vcpu.value - _EPS)
        return exact, exact

    def describe(self) -> str:
        return f"1 per {self.mb_per_vcpu.value:g} MB of memory, at most {self.max_vcpu.value:g}"


@dataclass(frozen=True)
class FixedVcpu(VcpuRule):
    """One vCPU figure whatever the memory (Azure Consumption: one instance, about one core)."""

    vcpu: Fact[float]

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        return self._implied(self.vcpu.value, requested_vcpu, where, self.vcpu)

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        raise ProviderLimitError(
            f"{where}: vCPU is fixed at {self.vcpu.value:g} and does not bound memory (source: {self.vcpu.cite()})"
        )

    def describe(self) -> str:
        return f"{self.vcpu.value:g} whatever the memory"


@dataclass(frozen=True)
class PairedVcpu(VcpuRule):
    """A fixed list of valid (vCPU, memory_mb) pairs (IBM Code Engine; Azure Flex instance sizes).

    Without a vCPU request, memory picks the pair with ``preferred_mb_per_vcpu`` if it exists,
    else the pair with the fewest vCPUs (the cheapest valid one)."""

    pairs: Fact[tuple[tuple[float, int], ...]]
    preferred_mb_per_vcpu: Fact[float] | None = None

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        choices = sorted(v for v, m in self.pairs.value if m == memory_mb)
        if not choices:
            raise ProviderLimitError(
                f"{where}: memory_mb {memory_mb:g} is not one of the sizes "
                f"{_list_mb(sorted({m for _, m in self.pairs.value}))} (source: {self.pairs.cite()})"
            )
        if requested_vcpu is not None:
            if any(math.isclose(v, requested_vcpu, abs_tol=1e-6) for v in choices):
                return float(requested_vcpu)
            raise ProviderLimitError(
                f"{where}: {requested_vcpu:g} vCPU with {memory_mb:g} MB is not a valid combination; "
                f"with {memory_mb:g} MB use {_list_num(choices)} vCPU (source: {self.pairs.cite()})"
            )
        if self.preferred_mb_per_vcpu is not None:
            for v in choices:
                if math.isclose(memory_mb / v, self.preferred_mb_per_vcpu.value, rel_tol=1e-6):
                    return float(v)
        return float(choices[0])

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        mems = [m for v, m in self.pairs.value if math.isclose(v, vcpu, abs_tol=1e-6)]
        if not mems:
            raise ProviderLimitError(
                f"{where}: {vcpu:g} vCPU is not offered; choose one of "
                f"{_list_num(sorted({v for v, _ in self.pairs.value}))} (source: {self.pairs.cite()})"
            )
        return min(mems), max(mems)

    def memory_choices(self) -> tuple[int, ...]:
        return tuple(sorted({m for _, m in self.pairs.value}))

    def describe(self) -> str:
        pairs = sorted(self.pairs.value)
        if len(pairs) <= 4:
            return "set by the size: " + ", ".join(f"{v:g} with {m} MB" for v, m in pairs)
        return f"one of {len(pairs)} vCPU/memory pairs, {pairs[0][0]:g} to {pairs[-1][0]:g}"


@dataclass(frozen=True)
class BandedVcpu(VcpuRule):
    """Explicit vCPU with memory bounds per vCPU band (Google Cloud Run).

    Each band is ``(vcpu_low, vcpu_high, min_mb, max_mb)``: a band with ``low == high`` is one exact
    vCPU value; otherwise it covers ``low <= vcpu < high`` in steps of ``fractional_step``. Without a
    vCPU request, memory picks the smallest exact vCPU whose band admits it."""

    bands: Fact[tuple[tuple[float, float, int, int], ...]]
    fractional_step: Fact[float] | None = None

    def _band(self, vcpu: float, where: str) -> tuple[float, float, int, int]:
        for band in self.bands.value:
            low, high, _, _ = band
            if math.isclose(low, high) and math.isclose(vcpu, low, abs_tol=1e-9):
                return band
            if not math.isclose(low, high) and low - _EPS <= vcpu < high - _EPS:
                step = self.fractional_step.value if self.fractional_step is not None else None
                if step is not None and not _is_multiple(vcpu, step):
                    raise ProviderLimitError(
                        f"{where}: vCPU {vcpu:g} must be a multiple of {step:g} below 1 "
                        f"(source: {self.fractional_step.cite() if self.fractional_step else self.bands.cite()})"
                    )
                return band
        raise ProviderLimitError(
            f"{where}: vCPU {vcpu:g} is not offered; choose {self._describe()} (source: {self.bands.cite()})"
        )

    def _describe(self) -> str:
        parts = []
        for low, high, _, _ in self.bands.value:
            parts.append(f"{low:g}" if math.isclose(low, high) else f"{low:g}–<{high:g}")
        return ", ".join(parts)

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        if requested_vcpu is not None:
            _, _, lo, hi = self._band(requested_vcpu, where)
            if not lo <= memory_mb <= hi:
                raise ProviderLimitError(
                    f"{where}: memory_mb {memory_mb:g} is outside {lo}–{hi} MB allowed with "
                    f"{requested_vcpu:g} vCPU (source: {self.bands.cite()})"
                )
            return float(requested_vcpu)
        for low, high, lo, hi in sorted(self.bands.value):
            if math.isclose(low, high) and lo <= memory_mb <= hi:
                return float(low)
        raise ProviderLimitError(
            f"{where}: no vCPU setting admits memory_mb {memory_mb:g} (source: {self.bands.cite()})"
        )

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        _, _, lo, hi = self._band(vcpu, where)
        return lo, hi

    def describe(self) -> str:
        return f"chosen ({self._describe()}); each bounds the memory"


@dataclass(frozen=True)
class HostVcpu(VcpuRule):
    """This machine: any vCPU count up to the host's CPUs; memory does not constrain it."""

    host_vcpus: Fact[int]

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None, where: str) -> float:
        if requested_vcpu is None:
            return float(self.host_vcpus.value)
        if not 0 < requested_vcpu <= self.host_vcpus.value:
            raise ProviderLimitError(
                f"{where}: vCPU {requested_vcpu:g} is outside 0–{self.host_vcpus.value} "
                f"(this host's CPUs; source: {self.host_vcpus.cite()})"
            )
        return float(requested_vcpu)

    def memory_bounds_for_vcpu(self, vcpu: float, where: str) -> tuple[int, int]:
        raise ProviderLimitError(f"{where}: vCPU does not bound memory on this machine")

    def describe(self) -> str:
        return f"up to this host's {self.host_vcpus.value} CPUs"


# ---------------------------------------------------------------- offering parts


@dataclass(frozen=True)
class FreeTier:
    """Monthly free allowances. `pricing.price` subtracts them only when asked (``free_tier=True``):
    a plan cannot know how much of the month's allowance other work has already used."""

    gb_seconds: Fact[float]
    vcpu_seconds: Fact[float]
    requests: Fact[float]


@dataclass(frozen=True)
class CloudServices:
    """The object store and internet egress of the cloud an offering runs in."""

    object_store: str
    put_per_1k_usd: Fact[float]
    get_per_1k_usd: Fact[float]
    storage_per_gb_month_usd: Fact[float]
    egress_per_gb_usd: Fact[float]
    egress_free_gb: Fact[float]


@dataclass(frozen=True)
class Offering:
    """One way to run a function on a platform, with its prices and limits."""

    provider_key: str
    key: str
    display_name: str
    description: str
    # ---- prices (USD)
    price_per_gb_second: Fact[float]
    price_per_vcpu_second: Fact[float]
    price_per_million_requests: Fact[float]
    # ---- billing rules
    billing_granularity_ms: Fact[int]
    min_billed_ms: Fact[int]
    billed_memory_step_mb: Fact[int]
    mb_per_billed_gb: Fact[int]
    # ---- memory envelope
    memory_min_mb: Fact[int]
    memory_max_mb: Fact[int]
    memory_step_mb: Fact[int]
    allowed_memory_mb: Fact[tuple[int, ...]] | None
    vcpu_rule: VcpuRule
    # ---- time, payload, scale, image
    timeout_default_s: Fact[float | None]
    timeout_max_s: Fact[float | None]
    sync_request_limit_bytes: Fact[int | None]
    sync_response_limit_bytes: Fact[int | None]
    concurrency_limit: Fact[int | None]
    image_size_limit_bytes: Fact[int | None]
    cold_start_s: Fact[float]
    # ---- the cloud around it
    free_tier: FreeTier
    cloud: CloudServices

    @property
    def id(self) -> str:
        """``provider:offering``, e.g. ``aws-lambda:arm64``; `registry.get_offering` accepts it."""
        return f"{self.provider_key}:{self.key}"

    @property
    def label(self) -> str:
        return f"{self.provider_key} ({self.key})"

    # ---------------------------------------------------------- rules and checks

    def vcpus_for(self, memory_mb: float, requested_vcpu: float | None = None) -> float:
        """vCPUs an instance gets with ``memory_mb`` (and ``requested_vcpu`` where the platform
        lets vCPU be chosen). Raises `ProviderLimitError` for a combination the platform refuses."""
        self.check_memory(memory_mb)
        return self.vcpu_rule.vcpus_for(memory_mb, requested_vcpu, self.label)

    def memory_bounds_for_vcpu(self, vcpu: float) -> tuple[int, int]:
        """Smallest and largest ``memory_mb`` allowed with ``vcpu`` vCPUs."""
        return self.vcpu_rule.memory_bounds_for_vcpu(vcpu, self.label)

    def check_memory(self, memory_mb: float) -> None:
        lo, hi = self.memory_min_mb, self.memory_max_mb
        if not lo.value <= memory_mb <= hi.value:
            raise ProviderLimitError(
                f"{self.label}: memory_mb {memory_mb:g} is outside {lo.value}–{hi.value} MB (source: {hi.cite()})"
            )
        if self.allowed_memory_mb is not None:
            if memory_mb not in self.allowed_memory_mb.value:
                raise ProviderLimitError(
                    f"{self.label}: memory_mb {memory_mb:g} is not one of the sizes "
                    f"{_list_mb(self.allowed_memory_mb.value)} (source: {self.allowed_memory_mb.cite()})"
                )
        elif not _is_multiple(memory_mb - lo.value, self.memory_step_mb.value):
            raise ProviderLimitError(
                f"{self.label}: memory_mb {memory_mb:g} must be set in steps of {self.memory_step_mb.value} MB "
                f"(source: {self.memory_step_mb.cite()})"
            )

    def check_workers(self, n: int) -> None:
        """``n`` concurrent invocations against the platform's default account/region quota."""
        if n < 1:
            raise ProviderLimitError(f"{self.label}: workers must be at least 1, got {n}")
        limit = self.concurrency_limit
        if limit.value is not None and n > limit.value:
            raise ProviderLimitError(
                f"{self.label}: workers {n} exceeds the default concurrency quota of {limit.value} "
                f"(source: {limit.cite()})"
            )

    def check_timeout(self, seconds: float) -> None:
        if seconds <= 0:
            raise ProviderLimitError(f"{self.label}: timeout_s must be positive, got {seconds:g}")
        limit = self.timeout_max_s
        if limit.value is not None and seconds > limit.value:
            raise ProviderLimitError(
                f"{self.label}: timeout_s {seconds:g} exceeds the platform maximum of {limit.value:g} s "
                f"(source: {limit.cite()})"
            )

    def to_dict(self) -> dict[str, Any]:
        return _dataclass_dict(self)


@dataclass(frozen=True)
class Provider:
    """A platform: one or more offerings (the first is the default) and its cloud's services."""

    key: str
    display_name: str
    offerings: tuple[Offering, ...]
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.offerings:
            raise ValueError(f"provider {self.key!r} has no offerings")
        keys = [o.key for o in self.offerings]
        if len(set(keys)) != len(keys):
            raise ValueError(f"provider {self.key!r} has duplicate offering keys: {keys}")
        for o in self.offerings:
            if o.provider_key != self.key:
                raise ValueError(f"offering {o.key!r} claims provider {o.provider_key!r}, not {self.key!r}")

    @property
    def default(self) -> Offering:
        return self.offerings[0]

    @property
    def offering_keys(self) -> tuple[str, ...]:
        return tuple(o.key for o in self.offerings)

    def offering(self, key: str | None = None) -> Offering:
        if key is None:
            return self.default
        for o in self.offerings:
            if o.key == key:
                return o
        known = tuple(f"{self.key}:{k}" for k in self.offering_keys)
        raise UnknownProviderError(
            f"unknown offering {key!r} for provider {self.key!r}; known: {', '.join(known)}", known
        )

    def to_dict(self) -> dict[str, Any]:
        return _dataclass_dict(self)


# ---------------------------------------------------------------- walking the catalog


def iter_facts(obj: Any, path: str = "") -> Iterator[tuple[str, Fact[Any]]]:
    """Every `Fact` reachable from ``obj`` (a provider, an offering, ...) with its dotted path."""
    if isinstance(obj, Fact):
        yield path, obj
    elif is_dataclass(obj) and not isinstance(obj, type):
        for f in fields(obj):
            yield from iter_facts(getattr(obj, f.name), f"{path}.{f.name}" if path else f.name)
    elif isinstance(obj, tuple | list):
        for i, item in enumerate(obj):
            yield from iter_facts(item, f"{path}[{i}]")


def _dataclass_dict(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, VcpuRule):
        out["rule"] = type(obj).__name__
    for f in fields(obj):
        out[f.name] = _jsonable(getattr(obj, f.name))
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, Fact):
        return value.to_dict()
    if is_dataclass(value) and not isinstance(value, type):
        return _dataclass_dict(value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _is_multiple(x: float, step: float) -> bool:
    if step <= 0:
        return True
    q = x / step
    return math.isclose(q, round(q), abs_tol=1e-6)


def _list_mb(values: tuple[int, ...] | list[int]) -> str:
    return "/".join(str(v) for v in values) + " MB"


def _list_num(values: list[float]) -> str:
    return "/".join(f"{v:g}" for v in values)
