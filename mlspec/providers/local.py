"""This machine: each invocation is an OS process (mlspec's ``local`` executor).

Nothing is billed; memory and vCPU are bounded by the host, read from the operating system when the
catalog is first loaded; time is bounded only by the user's own ``timeout_s``.
"""

from __future__ import annotations

import datetime
import os

from mlspec.providers.catalog import (
    CloudServices,
    FreeTier,
    HostVcpu,
    Offering,
    Provider,
    assumed,
    official,
)
from mlspec.providers.platform import ImageFacts, Platform

TODAY = datetime.date.today().isoformat()
HERE = "mlspec local executor"
NO_CHARGE = "running on this machine costs nothing per invocation; hardware and energy are not modelled"


def _host_memory_mb() -> tuple[int, str]:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 1 << 20, "the OS did not report physical memory; 1 TiB assumed"
    total = int(pages * page_size // 2**20)
    how = "os.sysconf(SC_PHYS_PAGES x SC_PAGE_SIZE) on this host"
    try:  # a container's cgroup (v2) limit, when lower, is the real bound
        with open("/sys/fs/cgroup/memory.max") as f:
            limit = f.read().strip()
        if limit.isdigit() and int(limit) // 2**20 < total:
            return int(limit) // 2**20, "/sys/fs/cgroup/memory.max on this host"
    except OSError:
        pass
    return total, how


def _host_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


_MEMORY_MB, _MEMORY_HOW = _host_memory_mb()
_FREE = assumed(0.0, HERE, TODAY, "nothing to discount")
_ZERO = assumed(0.0, HERE, TODAY, NO_CHARGE)

CLOUD = CloudServices(
    object_store="local directory",
    put_per_1k_usd=_ZERO,
    get_per_1k_usd=_ZERO,
    storage_per_gb_month_usd=_ZERO,
    egress_per_gb_usd=_ZERO,
    egress_free_gb=_FREE,
)

PROCESS = Offering(
    provider_key="local",
    key="process",
    display_name="This machine (one process per invocation)",
    description="mlspec's embedded executor: separate OS processes talking only through storage",
    price_per_gb_second=_ZERO,
    price_per_vcpu_second=_ZERO,
    price_per_million_requests=_ZERO,
    billing_granularity_ms=assumed(1, HERE, TODAY, "durations are measured, not billed"),
    min_billed_ms=assumed(1, HERE, TODAY, "durations are measured, not billed"),
    billed_memory_step_mb=assumed(1, HERE, TODAY, "memory is enforced, not billed"),
    mb_per_billed_gb=assumed(1024, HERE, TODAY, "for GB-second figures only"),
    memory_min_mb=assumed(64, HERE, TODAY, "the smallest memory_mb pipeline.yaml accepts"),
    memory_max_mb=official(_MEMORY_MB, _MEMORY_HOW, TODAY, "physical memory of this host"),
    memory_step_mb=assumed(1, HERE, TODAY, "any whole number of MB"),
    allowed_memory_mb=None,
    vcpu_rule=HostVcpu(host_vcpus=official(_host_cpus(), "os.sched_getaffinity / os.cpu_count on this host", TODAY)),
    timeout_default_s=assumed(None, HERE, TODAY, "no limit beyond the user's timeout_s"),
    timeout_max_s=assumed(None, HERE, TODAY, "no limit beyond the user's timeout_s"),
    sync_request_limit_bytes=assumed(None, HERE, TODAY, "events travel through local storage"),
    sync_response_limit_bytes=assumed(None, HERE, TODAY, "results travel through local storage"),
    concurrency_limit=assumed(None, HERE, TODAY, "bounded by the user's max_workers and the host"),
    image_size_limit_bytes=assumed(None, HERE, TODAY, "no image is needed"),
    cold_start_s=assumed(0.5, HERE, TODAY, "starting a Python process that imports the ML stack; measure to refine"),
    free_tier=FreeTier(gb_seconds=_FREE, vcpu_seconds=_FREE, requests=_FREE),
    cloud=CLOUD,
)

PROVIDER = Provider(key="local", display_name="This machine", offerings=(PROCESS,))

PLATFORM = Platform(
    key=PROVIDER.key,
    target="mlspec.spec.targets:LocalTarget",
    rank=0,
    image=ImageFacts("mlspec.platforms.local:image", "python:3.11-slim"),
)
