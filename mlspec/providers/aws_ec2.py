"""Amazon EC2, us-east-1: one serverful offering, ``m7i.xlarge`` (a cluster of on-demand Linux VMs).

A VM cluster (Ray, as the Lithops and LambdaML papers compare against) is priced with the one formula of
`mlspec.providers.pricing`, without a branch of its own: a worker is billed for the share of a VM it
occupies, while it runs. A share is 1, 2 or 4 of the VM's 4 vCPUs with memory at the VM's own ratio (4 GiB
per vCPU), so ``price_per_vcpu_second`` = the VM's hourly price / 4 vCPUs / 3,600 s and memory is not
billed separately (it comes with the vCPUs, as on the VM). EC2 bills Linux on-demand instances per second
with a 60-second minimum, applied here to each worker's share (``billing_granularity_ms`` 1,000,
``min_billed_ms`` 60,000). No request price; storage and egress are S3's, as for Lambda (same cloud).

What this leaves out, so a VM cluster's real bill is higher: the VMs' idle time (between stages, while a
stage's workers wait for the slowest, and shares no worker uses), a cluster kept up for a whole run or
longer, the head node, the time to boot the nodes (billed from the running state), and EBS volumes. It is
the price of the work on VMs sized to it, the lower bound a serverful cluster can reach. Communication is
modelled through the store, as for functions: direct transfers between a cluster's nodes are faster, so a
communication-heavy model's time on VMs is overstated (LambdaML's finding that FaaS is rarely much cheaper
for such models holds the more).

Priced only: mlspec neither provisions VMs nor deploys to them, and `mlspec plan` never places a stage here
(not even with --priced-only: functions and VMs are billed too differently to mix in one plan); it prices
the chosen plan's stages here and says when that would cost less. `mlspec compare` prices every run here,
and a run made on a Ray cluster (`cluster_executors`) at its measured times.
"""

from __future__ import annotations

from mlspec.providers.aws_lambda import CLOUD
from mlspec.providers.catalog import (
    FreeTier,
    Offering,
    PairedVcpu,
    Provider,
    assumed,
    official,
    third_party,
)
from mlspec.providers.platform import Platform

READ = "2026-12-07"  # date every source below was read

PRICING = "https://aws.amazon.com/ec2/pricing/on-demand/"
PRICE_3P = "https://c3x.dev/blog/m5-vs-m6i-vs-m7i-cost-performance"
PER_SECOND = "https://aws.amazon.com/about-aws/whats-new/2017/10/announcing-amazon-ec2-per-second-billing/"
INSTANCE_TYPES = "https://aws.amazon.com/ec2/instance-types/m7i/"
QUOTAS_DOC = "https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-quotas.html"
FREE_TIER = "https://aws.amazon.com/free/"

VM_VCPUS = 4
VM_HOURLY_USD = 0.2016  # m7i.xlarge, Linux, on demand, us-east-1
RECALLED = "the instance-type page was not read: recalled, unconfirmed"

SHARES = PairedVcpu(
    pairs=assumed(
        ((1.0, 4096), (2.0, 8192), (4.0, 16384)),
        INSTANCE_TYPES,
        READ,
        "a worker's share of an m7i.xlarge (4 vCPU, 16 GiB): 1, 2 or all 4 vCPUs with 4 GiB each, the VM's "
        f"ratio; the OS and the cluster's own processes also need some of the 16 GiB; {RECALLED}",
    ),
    preferred_mb_per_vcpu=assumed(4096.0, INSTANCE_TYPES, READ, f"4 GiB per vCPU, as every M family; {RECALLED}"),
)

FREE = FreeTier(
    gb_seconds=assumed(0.0, FREE_TIER, READ, "memory is not billed apart from the VM"),
    vcpu_seconds=assumed(
        0.0,
        FREE_TIER,
        READ,
        "the EC2 free tier covers micro instances (and credits for new accounts), not m7i on-demand hours; "
        "page not read: unconfirmed",
    ),
    requests=assumed(0.0, FREE_TIER, READ, "no requests are billed"),
)

M7I_XLARGE = Offering(
    provider_key="aws-ec2",
    key="m7i.xlarge",
    display_name="Amazon EC2 m7i.xlarge cluster (on-demand VMs)",
    description="a worker on a share of an on-demand m7i.xlarge VM of a running cluster (Ray); serverful",
    price_per_gb_second=official(
        0.0, PRICING, READ, "EC2 bills the instance; its memory comes with it (here: with the vCPU share)"
    ),
    price_per_vcpu_second=third_party(
        VM_HOURLY_USD / VM_VCPUS / 3600.0,
        PRICE_3P,
        READ,
        f"${VM_HOURLY_USD} per hour (m7i.xlarge, Linux, on demand, us-east-1) / {VM_VCPUS} vCPU / 3,600 s: a worker "
        "pays for its share of the VM. The pricing page renders its rates client-side; the rate was read in a "
        "3rd-party table only: unconfirmed",
    ),
    price_per_million_requests=official(0.0, PRICING, READ, "no charge per task or request"),
    billing_granularity_ms=official(
        1000, PER_SECOND, READ, "Linux on-demand instances are 'billed on one second increments' (since 2017-10-02)"
    ),
    min_billed_ms=official(
        60_000,
        PER_SECOND,
        READ,
        "'with a minimum of 60 seconds' per instance start; mlspec applies it to each worker's share, as if "
        "the VMs were sized to the work and stopped after it",
    ),
    billed_memory_step_mb=official(1, PRICING, READ, "memory is not billed apart from the VM"),
    mb_per_billed_gb=assumed(1024, "mlspec assumption", READ, "GiB, as EC2 states memory; no memory price applies"),
    memory_min_mb=assumed(4096, INSTANCE_TYPES, READ, f"a 1-vCPU share: 4 GiB; {RECALLED}"),
    memory_max_mb=assumed(16384, INSTANCE_TYPES, READ, f"the whole VM: 16 GiB; {RECALLED}"),
    memory_step_mb=assumed(4096, INSTANCE_TYPES, READ, "only the shares' sizes"),
    allowed_memory_mb=assumed((4096, 8192, 16384), INSTANCE_TYPES, READ, "memory of the 1-, 2- and 4-vCPU shares"),
    vcpu_rule=SHARES,
    timeout_default_s=assumed(None, "mlspec assumption", READ, "a VM runs until it is stopped: no time limit"),
    timeout_max_s=assumed(None, "mlspec assumption", READ, "a VM runs until it is stopped: no time limit"),
    sync_request_limit_bytes=assumed(None, "mlspec assumption", READ, "tasks are not invoked over an HTTP API"),
    sync_response_limit_bytes=assumed(None, "mlspec assumption", READ, "tasks are not invoked over an HTTP API"),
    concurrency_limit=assumed(
        None,
        QUOTAS_DOC,
        READ,
        "EC2 caps the vCPUs of running on-demand instances per region, per account (default not read); "
        "not modelled: workers are bounded by the plan's --max-workers only",
    ),
    image_size_limit_bytes=assumed(None, "mlspec assumption", READ, "no image: the nodes run mlspec's environment"),
    cold_start_s=assumed(
        1.0,
        "mlspec assumption",
        READ,
        "starting a task's worker process on a running cluster (Ray), not measured; adding a node to the "
        "cluster (booting a VM, a minute or more) is paid once per cluster, not per invocation, and is not "
        "modelled",
    ),
    free_tier=FREE,
    cloud=CLOUD,
)

PROVIDER = Provider(
    key="aws-ec2",
    display_name="Amazon EC2 (serverful)",
    offerings=(M7I_XLARGE,),
    notes=(
        "Prices: us-east-1, Linux, on demand; Savings Plans, Reserved and Spot Instances are not modelled.",
        "A worker pays for its share of a VM while it runs; idle VMs, the head node and boot time are not counted.",
    ),
)

# Priced only, serverful: mlspec neither provisions VMs nor deploys to them; a Ray run's time is priced here.
PLATFORM = Platform(
    key=PROVIDER.key,
    target="mlspec.spec.targets:AwsEc2Target",
    rank=6,
    object_store_kind="s3",  # its cloud's store: a run's bytes to S3 stay inside AWS, no egress
    serverful=True,
    cluster_executors=("ray",),
)
