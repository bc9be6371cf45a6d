"""The settings of each platform's entry under `targets:` in pipeline.yaml.

Which class belongs to which platform is the platform's own fact (`Platform.target` in its catalog
module); this file only holds the settings of mlspec's own platforms."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mlspec.spec.fields import MemoryMb, Seconds, StrictModel


class TargetBase(StrictModel):
    memory_mb: MemoryMb = Field(description="Memory per function instance (MB)")
    timeout_s: Seconds = Field(description="Time limit per invocation; longer work is chained")


# The settings that cap a target's concurrent invocations: each target has at most one of them.
CAP_FIELDS = ("max_concurrency", "max_instances", "max_workers")


def worker_cap(target: TargetBase) -> int | None:
    """How many invocations `target` lets run at once, if its settings say."""
    for field in CAP_FIELDS:
        value = getattr(target, field, None)
        if value is not None:
            return int(value)
    return None


class LocalTarget(TargetBase):
    """This machine: each invocation is an OS process with memory and time limits enforced."""

    memory_mb: MemoryMb = 2048
    timeout_s: Seconds = 3600.0
    max_workers: int | None = Field(None, ge=1, description="Cap on concurrent invocations")
    vcpu: float | None = Field(
        None,
        gt=0,
        le=64,
        description="vCPUs per invocation, as a platform gives each function: its math-library threads and "
        "the cores it may run on (CPU affinity, each invocation on cores of its own while there are enough). "
        "Default: the host's cores shared among the invocations running at once",
    )


class AwsLambdaTarget(TargetBase):
    memory_mb: MemoryMb = 1769
    timeout_s: Seconds = 900.0
    architecture: Literal["x86_64", "arm64"] = Field(
        "x86_64", description="Priced for both; `mlspec deploy` needs x86_64 (mlspec builds x86_64 images)"
    )
    max_concurrency: int = Field(1000, ge=1)
    region: str = "us-east-1"


class GcpCloudRunTarget(TargetBase):
    memory_mb: MemoryMb = 2048
    vcpu: float = Field(1.0, gt=0, le=8)
    timeout_s: Seconds = 3600.0
    mode: Literal["service", "job"] = "service"
    max_instances: int = Field(100, ge=1)
    region: str = "us-central1"
    project: str | None = Field(
        None,
        description="Google Cloud project for deploy and run; default: "
        "GOOGLE_CLOUD_PROJECT or the application-default credentials' project",
    )


class AzureFunctionsTarget(TargetBase):
    plan: Literal["consumption", "flex", "premium"] = Field(
        "flex",
        description="Hosting plan priced by the planner; `mlspec deploy` needs premium (Elastic Premium, "
        "memory_mb 3584, 7168 or 14336), the only one that runs mlspec's full Functions container images",
    )
    memory_mb: MemoryMb = 2048
    timeout_s: Seconds = 1800.0
    max_instances: int = Field(100, ge=1)
    region: str = "eastus"
    subscription_id: str | None = Field(None, description="Default: AZURE_SUBSCRIPTION_ID")
    resource_group: str | None = Field(None, description="Existing resource group; default: AZURE_RESOURCE_GROUP")
    storage_account: str | None = Field(
        None,
        description="Existing storage account for the object store and the "
        "Functions host; default: AZURE_STORAGE_ACCOUNT",
    )


class IbmCodeEngineTarget(TargetBase):
    memory_mb: MemoryMb = 4096
    vcpu: float = Field(1.0, gt=0, le=12)
    timeout_s: Seconds = 600.0
    max_instances: int = Field(100, ge=1)
    region: str = "us-south"


class OracleFunctionsTarget(TargetBase):
    memory_mb: MemoryMb = 1024
    timeout_s: Seconds = 300.0
    max_instances: int = Field(100, ge=1)
    region: str = "us-ashburn-1"


class AwsEc2Target(TargetBase):
    """A cluster of on-demand VMs (priced only): each worker on a share of one VM."""

    memory_mb: MemoryMb = Field(4096, description="Memory of a worker's share of a VM: 4096 per vCPU")
    timeout_s: Seconds = 3600.0
    region: str = "us-east-1"
