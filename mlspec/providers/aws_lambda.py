"""AWS Lambda, us-east-1: offerings ``x86_64`` (default) and ``arm64``.

Billing: configured memory x duration in GB-seconds (GB = 1,024 MB, as in AWS's own examples),
rounded up to 1 ms, plus a per-request fee. vCPU is implied by memory and not billed separately.
"""

from __future__ import annotations

from mlspec.providers.catalog import (
    CloudServices,
    FreeTier,
    Offering,
    ProportionalVcpu,
    Provider,
    assumed,
    official,
    third_party,
)
from mlspec.providers.platform import ImageFacts, Platform

READ = "2026-11-23"  # date every source below was read
MiB = 2**20

PRICING = "https://aws.amazon.com/lambda/pricing/"
PRICING_WHITEPAPER = "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html"
PRICES_3P = "https://cloudchipr.com/blog/aws-lambda-pricing"
MEMORY_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
TIMEOUT_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html"
QUOTAS_DOC = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
INVOKE_DOC = "https://docs.aws.amazon.com/cli/latest/reference/lambda/invoke.html"
LIMITS_3P = "https://gist.github.com/yogeshnile/31933101645f182252f088a1a43d318e"
VCPU_3P = "https://hakk.gg/optimizing-aws-lambda-cost-with-multi-threading/"
S3_PRICING = "https://aws.amazon.com/s3/pricing/"
S3_3P = "https://deepeshsoni.com/archives/256"
EGRESS_3P = "https://wring.co/blog/aws-data-transfer-pricing-guide"

UNROUNDED = (
    "the official pages state the rate rounded ($0.00001667 per GB-s in the AWS pricing whitepaper); "
    "the pricing page renders its rate table client-side, so the unrounded first-tier rate was read "
    "only in 3rd-party transcriptions: unconfirmed beyond 4 significant digits"
)

CLOUD = CloudServices(
    object_store="Amazon S3 Standard",
    put_per_1k_usd=assumed(
        0.005,
        S3_PRICING,
        READ,
        "PUT/COPY/POST/LIST per 1,000 requests; the S3 pricing page renders rates client-side and the "
        "figure could not be read there or in a 3rd-party source: widely published list price, unconfirmed",
    ),
    get_per_1k_usd=assumed(
        0.0004,
        S3_PRICING,
        READ,
        "GET/SELECT per 1,000 requests; not readable on the page (client-side rates): unconfirmed",
    ),
    storage_per_gb_month_usd=third_party(0.023, S3_3P, READ, "S3 Standard, first 50 TB/month; unconfirmed"),
    egress_per_gb_usd=third_party(
        0.09, EGRESS_3P, READ, "data transfer out to the internet, first 10 TB/month; unconfirmed"
    ),
    egress_free_gb=third_party(
        100.0,
        EGRESS_3P,
        READ,
        "100 GB/month free across AWS services (also stated in a re:Post answer); unconfirmed",
    ),
)

FREE = FreeTier(
    gb_seconds=official(400_000.0, PRICING_WHITEPAPER, READ, "per month, shared by x86 and Arm"),
    vcpu_seconds=official(0.0, PRICING_WHITEPAPER, READ, "vCPU is not billed separately"),
    requests=official(1_000_000.0, PRICING_WHITEPAPER, READ, "per month"),
)

VCPU = ProportionalVcpu(
    mb_per_vcpu=official(
        1769.0,
        MEMORY_DOC,
        READ,
        "'At 1,769 MB, a function has the equivalent of one vCPU (one vCPU-second of credits per second)'; "
        "CPU scales linearly with memory, so 10,240 MB gives 10240/1769 = 5.79 vCPU of credits",
    ),
    max_vcpu=third_party(
        6.0,
        VCPU_3P,
        READ,
        "AWS announced 'up to 6 vCPUs' at 10,240 MB (6 cores are visible from 8,846 MB on); the linear "
        "credit rule never reaches 6 (5.79 at the 10,240 MB maximum), so this cap never binds; unconfirmed",
    ),
)


def _offering(key: str, name: str, gb_s: float, gb_s_note: str) -> Offering:
    return Offering(
        provider_key="aws-lambda",
        key=key,
        display_name=name,
        description="AWS Lambda function (container image), request/response invocation",
        price_per_gb_second=third_party(gb_s, PRICES_3P, READ, gb_s_note),
        price_per_vcpu_second=official(0.0, PRICING, READ, "vCPU is allocated in proportion to memory, not billed"),
        price_per_million_requests=official(0.20, PRICING_WHITEPAPER, READ, "$0.0000002 per request; same for Arm"),
        billing_granularity_ms=official(
            1, PRICING, READ, "'Duration is calculated ... rounded up to the nearest 1 ms'"
        ),
        min_billed_ms=official(1, PRICING, READ, "no minimum beyond the 1 ms unit"),
        billed_memory_step_mb=official(1, PRICING, READ, "configured memory is billed as set (1 MB steps)"),
        mb_per_billed_gb=official(
            1024,
            "https://aws.amazon.com/lambda/pricing/ (worked examples)",
            READ,
            "AWS's examples compute GB-s as memory_MB / 1024 x seconds",
        ),
        memory_min_mb=official(128, MEMORY_DOC, READ),
        memory_max_mb=official(10240, MEMORY_DOC, READ, "new accounts may get a lower memory quota at first"),
        memory_step_mb=official(1, MEMORY_DOC, READ, "'in 1-MB increments'"),
        allowed_memory_mb=None,
        vcpu_rule=VCPU,
        timeout_default_s=official(3.0, TIMEOUT_DOC, READ),
        timeout_max_s=official(900.0, TIMEOUT_DOC, READ, "15 minutes"),
        sync_request_limit_bytes=official(
            6 * MiB, INVOKE_DOC, READ, "'For synchronous invocations, the maximum payload size is 6 MB'"
        ),
        sync_response_limit_bytes=third_party(6 * MiB, LIMITS_3P, READ, "6 MB response; unconfirmed"),
        concurrency_limit=official(
            1000,
            QUOTAS_DOC,
            READ,
            "default concurrent executions per region, can be raised; new accounts may start lower",
        ),
        image_size_limit_bytes=third_party(
            10 * 2**30, LIMITS_3P, READ, "container image code package 10 GB (uncompressed); unconfirmed"
        ),
        cold_start_s=assumed(
            1.0,
            "mlspec assumption",
            READ,
            "AWS documents cold starts on under 1% of invocations lasting from under 100 ms to over 1 s "
            "(see /work/shared/PROVIDERS.md); an ML container with torch is at the slow end",
        ),
        free_tier=FREE,
        cloud=CLOUD,
    )


X86_64 = _offering(
    "x86_64",
    "AWS Lambda (x86_64)",
    0.0000166667,
    f"x86 first tier (first 6 billion GB-s/month); {UNROUNDED}",
)
ARM64 = _offering(
    "arm64",
    "AWS Lambda (arm64, Graviton)",
    0.0000133334,
    "Arm first tier (first 7.5 billion GB-s/month); no official page read states it (pricing page "
    "renders rates client-side): unconfirmed",
)

PROVIDER = Provider(
    key="aws-lambda",
    display_name="AWS Lambda",
    offerings=(X86_64, ARM64),
    notes=(
        "Prices: us-east-1, on demand, first duration tier; Compute Savings Plans and tiered discounts "
        "above 6 billion GB-s/month are not modelled.",
        "/tmp ephemeral storage above 512 MB is billed separately and not modelled.",
    ),
)

PLATFORM = Platform(
    key=PROVIDER.key,
    target="mlspec.spec.targets:AwsLambdaTarget",
    rank=1,
    offering_field="architecture",
    # + awslambdaric: the runtime interface client works the same from any Python base image
    image=ImageFacts("mlspec.platforms.aws_lambda:image", "python:3.11-slim", ("awslambdaric",)),
    deployer="mlspec.platforms.aws_lambda.deploy:AwsLambdaDeployer",
    executor="mlspec.platforms.aws_lambda.executor:AwsLambdaExecutor",
    run_options="mlspec.platforms.aws_lambda.run:run_options",
    object_store_kind="s3",
    own_object_store="mlspec.platforms.aws_lambda.run:own_object_store",
    undeployable_offerings={
        "arm64": "`architecture: arm64` needs an arm64 image, and mlspec builds x86_64 images; set x86_64 to deploy"
    },
    cloud="aws",
    sdk_modules=("boto3",),
    credentials="mlspec.platforms.aws_lambda.credentials:describe_credentials",
)
