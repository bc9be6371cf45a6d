"""AWS: an S3 bucket for the object store, an IAM execution role, one ECR repository per function and
one Lambda function (PackageType=Image) per stage, with the planned memory, timeout and reserved
concurrency.

Every resource is tagged `mlspec:pipeline=<name>`; destroy removes only resources carrying that tag,
so a bucket or role that existed before deploy is never deleted. Functions are also tagged with their
build context's hash: an unchanged image is no change. boto3 clients come from the default credential
chain and honour AWS_ENDPOINT_URL (the tests point it at moto).

Two steps are more than one SDK call and appear in the call list under their own names:
`ecr.push_image` (get_authorization_token, then the container engine's `login --password-stdin`, `tag`
and `push`; the token goes through stdin only) and `s3.empty_bucket` (list_objects_v2 + delete_objects,
before delete_bucket)."""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlspec.deploy.base import ApiCall, CredentialsError, DeployError, Deployment, FunctionDeployment, Unreachable
from mlspec.deploy.deployment import resource_name
from mlspec.deploy.images import RegistryLogin, pinned, push_with_engine, repository_of, split_image
from mlspec.errors import UsageError
from mlspec.platforms.aws_lambda.credentials import (
    AWS_CHAIN,
    AWS_FIX,
    AWS_REJECTED_CODES,
    aws_credentials_source,
    aws_rejected,
    aws_session,
)
from mlspec.providers.aws_lambda import PLATFORM

PIPELINE_TAG = "mlspec:pipeline"
HASH_TAG = "mlspec:context-hash"
POLICY_NAME = "mlspec-run"
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
# Calls worth repeating: a function still being updated by the previous call, rate limits, and a role
# created a moment ago that Lambda cannot assume yet (IAM is eventually consistent).
RETRY_CODES = frozenset({"ResourceConflictException", "TooManyRequestsException", "ThrottlingException", "Throttling"})
RETRY_MESSAGES = ("cannot be assumed",)
RETRY_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 10.0, 10.0)
HINTS = {
    "AccessDenied": "the credentials lack this permission: grant it to the IAM user or role that deploys",
    "AccessDeniedException": "the credentials lack this permission: grant it to the IAM user or role that deploys",
    "ResourceConflictException": "an earlier change to it is still in progress: deploy again in a minute",
    "TooManyRequestsException": "rate limited: deploy again in a minute",
    "ThrottlingException": "rate limited: deploy again in a minute",
    "LimitExceededException": "an account quota is reached: ask AWS for a higher quota or lower the stage's workers",
    "BucketAlreadyExists": "bucket names are global: choose another storage.object_store.bucket",
}
# A dry run's reads: fail fast offline instead of retrying with backoff for tens of seconds.
DRY_RUN_CONFIG = {"connect_timeout": 3, "read_timeout": 10, "retries": {"total_max_attempts": 1}}
ACCOUNT_PLACEHOLDER = "<account-id>"  # where the account could not be read
NOT_FOUND = frozenset(
    {
        "404",
        "NoSuchBucket",
        "NoSuchEntity",
        "ResourceNotFoundException",
        "RepositoryNotFoundException",
        "ImageNotFoundException",
        "NoSuchTagSet",
    }
)


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _message(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Message", "") or exc)


def _tags(pipeline: str, **extra: str) -> dict[str, str]:
    return {PIPELINE_TAG: pipeline, **extra}


def role_name(deployment: Deployment) -> str:
    return resource_name("mlspec", deployment.pipeline, "lambda", max_length=64)


def run_policy(bucket: str) -> dict[str, Any]:
    """What the functions may do: write their logs, and read and write the run's bucket."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": "*",
            },
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": f"arn:aws:s3:::{bucket}"},
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/*",
            },
        ],
    }


class AwsLambdaDeployer:
    target = "aws-lambda"

    def __init__(self, settings: dict[str, Any], session: Any = None, clients: dict[str, Any] | None = None) -> None:
        self.pushed: dict[str, str] = {}  # pushed image uri -> its reference by digest
        """`session` and `clients` (service -> boto3 client) replace the default chain's, e.g. in tests."""
        self.settings = settings
        self.region = str(settings.get("region") or "us-east-1")
        self._session = session
        self._clients: dict[str, Any] = dict(clients or {})
        self._s3_endpoint: str | None = None
        self._client_config: dict[str, Any] = {}
        self._blind = False  # assume_nothing_deployed: no reads at all
        self.sleep: Callable[[float], None] = time.sleep

    # ------------------------------------------------------------ clients and errors

    @property
    def session(self) -> Any:
        if self._session is None:
            self._session = aws_session(self.region)
        return self._session

    def client(self, service: str) -> Any:
        if service not in self._clients:
            # The spec's S3 endpoint (an S3-speaking server) wins for S3; otherwise boto3's own resolution.
            endpoint = self._s3_endpoint if service == "s3" else None
            config = None
            if self._client_config:
                from botocore.config import Config

                config = Config(**self._client_config)
            self._clients[service] = self.session.client(
                service, region_name=self.region, endpoint_url=endpoint, config=config
            )
        return self._clients[service]

    def for_dry_run(self) -> None:
        self._client_config = DRY_RUN_CONFIG

    def assume_nothing_deployed(self) -> None:
        self._blind = True

    def _bind(self, deployment: Deployment) -> None:
        if deployment.object_store.get("kind") == "s3":
            self._s3_endpoint = deployment.object_store.get("endpoint_url")

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """botocore's errors as one line: rejected credentials name the chain; the rest say what failed."""
        from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError, NoCredentialsError
        from botocore.exceptions import ConnectionError as EndpointUnreachable

        try:
            yield
        except ClientError as exc:
            code = _code(exc)
            if code in AWS_REJECTED_CODES:
                raise aws_rejected(code, aws_credentials_source(self.session)) from None
            hint = f" ({HINTS[code]})" if code in HINTS else ""
            raise DeployError(f"{doing}: {code}: {_message(exc)}{hint}") from None
        except NoCredentialsError:
            raise CredentialsError(f"no AWS credentials found (tried: {AWS_CHAIN}); {AWS_FIX}") from None
        except (EndpointUnreachable, HTTPClientError) as exc:  # refused, timed out, no route, no DNS
            raise Unreachable(f"{doing}: {exc}") from None
        except BotoCoreError as exc:  # endpoint unreachable, bad parameters caught before sending
            raise DeployError(f"{doing}: {exc}") from None

    def _lookup(self, service: str, operation: str, **params: Any) -> dict[str, Any] | None:
        """The response, or None when the resource does not exist (or, assuming nothing deployed, always)."""
        from botocore.exceptions import ClientError

        if self._blind:
            return None
        with self.errors(f"{service}.{operation}"):
            try:
                response: dict[str, Any] = getattr(self.client(service), operation)(**params)
            except ClientError as exc:
                if _code(exc) in NOT_FOUND:
                    return None
                raise
        return response

    def account(self) -> str:
        if self._blind:
            return ACCOUNT_PLACEHOLDER
        with self.errors("sts.get_caller_identity"):
            return str(self.client("sts").get_caller_identity()["Account"])

    # ------------------------------------------------------------ deploy

    def plan_calls(self, deployment: Deployment) -> list[ApiCall]:
        problem = PLATFORM.deploy_problem(deployment.settings)
        if problem:
            raise UsageError(f"aws-lambda: {problem}")
        self._bind(deployment)
        account = self.account()
        role_arn = f"arn:aws:iam::{account}:role/{role_name(deployment)}"
        calls = [*self._bucket_calls(deployment), *self._role_calls(deployment)]
        for function in deployment.functions:
            calls += self._image_calls(deployment, function, account)
            calls += self._function_calls(deployment, function, account, role_arn)
        return calls

    def _bucket_calls(self, deployment: Deployment) -> list[ApiCall]:
        bucket = deployment.bucket
        if not deployment.own_store or self._exists_bucket(bucket):
            return []
        create: dict[str, Any] = {"Bucket": bucket}
        if self.region != "us-east-1":  # us-east-1 rejects an explicit location constraint
            create["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        tagging = {"TagSet": [{"Key": k, "Value": v} for k, v in _tags(deployment.pipeline).items()]}
        return [
            ApiCall("s3", "create_bucket", create, f"missing: object store bucket {bucket}"),
            ApiCall("s3", "put_bucket_tagging", {"Bucket": bucket, "Tagging": tagging}, "tag it as mlspec's"),
        ]

    def _exists_bucket(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        if self._blind:
            return False
        with self.errors(f"s3.head_bucket {bucket}"):
            try:
                self.client("s3").head_bucket(Bucket=bucket)
                return True
            except ClientError as exc:
                if _code(exc) == "403":
                    raise DeployError(
                        f"bucket {bucket!r} exists but these credentials cannot use it (another "
                        "account's?): choose another storage.object_store.bucket"
                    ) from None
                if _code(exc) != "404":
                    raise
        return False

    def _role_calls(self, deployment: Deployment) -> list[ApiCall]:
        name = role_name(deployment)
        policy = json.dumps(run_policy(deployment.bucket), sort_keys=True)
        put_policy = {"RoleName": name, "PolicyName": POLICY_NAME, "PolicyDocument": policy}
        if self._lookup("iam", "get_role", RoleName=name) is None:
            create = {
                "RoleName": name,
                "AssumeRolePolicyDocument": json.dumps(LAMBDA_TRUST, sort_keys=True),
                "Description": f"mlspec {deployment.pipeline}: Lambda execution role",
                "Tags": [{"Key": k, "Value": v} for k, v in _tags(deployment.pipeline).items()],
            }
            return [
                ApiCall("iam", "create_role", create, f"missing: execution role {name}"),
                ApiCall("iam", "put_role_policy", put_policy, "logs and the run bucket"),
            ]
        current = self._lookup("iam", "get_role_policy", RoleName=name, PolicyName=POLICY_NAME)
        if current is None:
            return [ApiCall("iam", "put_role_policy", put_policy, f"missing: policy {POLICY_NAME}")]
        document = current["PolicyDocument"]
        if isinstance(document, str):  # URL-encoded JSON on the wire; boto3 usually decodes it
            from urllib.parse import unquote

            document = json.loads(unquote(document))
        if document != run_policy(deployment.bucket):
            return [ApiCall("iam", "put_role_policy", put_policy, f"policy {POLICY_NAME} differs")]
        return []

    def image_uri(self, function: FunctionDeployment, account: str) -> str:
        repository, tag = split_image(function.image)
        return f"{account}.dkr.ecr.{self.region}.amazonaws.com/{repository}:{tag}"

    def _image_calls(self, deployment: Deployment, function: FunctionDeployment, account: str) -> list[ApiCall]:
        repository, tag = split_image(function.image)
        calls = []
        if self._lookup("ecr", "describe_repositories", repositoryNames=[repository]) is None:
            tags = [{"Key": k, "Value": v} for k, v in _tags(deployment.pipeline).items()]
            calls.append(
                ApiCall(
                    "ecr",
                    "create_repository",
                    {"repositoryName": repository, "tags": tags},
                    f"missing: image repository {repository}",
                )
            )
            in_registry = False
        else:
            in_registry = (
                self._lookup("ecr", "describe_images", repositoryName=repository, imageIds=[{"imageTag": tag}])
                is not None
            )
        # An image never built here cannot be pushed; deploy() notes it (the function still points at
        # the URI it will have).
        if function.image_built and not in_registry:
            calls.append(
                ApiCall(
                    "ecr",
                    "push_image",
                    {"image": function.image, "uri": self.image_uri(function, account)},
                    "not in ECR: get_authorization_token, then the engine's login, tag, push",
                )
            )
        return calls

    def _function_calls(
        self, deployment: Deployment, function: FunctionDeployment, account: str, role_arn: str
    ) -> list[ApiCall]:
        name, uri = function.name, self.image_uri(function, account)
        memory, timeout = function.memory_mb, math.ceil(function.timeout_s)
        concurrency = {"FunctionName": name, "ReservedConcurrentExecutions": function.concurrency}
        current = self._lookup("lambda", "get_function", FunctionName=name)
        if current is None:
            create = {
                "FunctionName": name,
                "Role": role_arn,
                "PackageType": "Image",
                "Code": {"ImageUri": uri},
                "MemorySize": memory,
                "Timeout": timeout,
                "Architectures": [str(deployment.settings.get("architecture", "x86_64"))],
                "Description": f"mlspec {deployment.pipeline} / {function.stage} ({function.function})",
                "Tags": _tags(deployment.pipeline, **{HASH_TAG: function.context_hash}),
            }
            return [
                ApiCall("lambda", "create_function", create, f"missing: {name}, {memory} MB, {timeout} s"),
                ApiCall(
                    "lambda",
                    "put_function_concurrency",
                    concurrency,
                    f"reserve {function.concurrency} for the stage's workers",
                ),
            ]
        config = current["Configuration"]
        calls = []
        changes = [
            f"{what} {old} -> {new}"
            for what, old, new in (
                ("memory", config.get("MemorySize"), memory),
                ("timeout", config.get("Timeout"), timeout),
                ("role", config.get("Role"), role_arn),
            )
            if old != new
        ]
        if changes:
            update = {"FunctionName": name, "MemorySize": memory, "Timeout": timeout, "Role": role_arn}
            calls.append(ApiCall("lambda", "update_function_configuration", update, ", ".join(changes)))
        deployed_hash = current.get("Tags", {}).get(HASH_TAG)
        # The function runs its image by digest once pushed (deploy.images.pinned): the repository and the
        # build context's hash say whether it is this build's image.
        deployed_uri = str(current.get("Code", {}).get("ImageUri", ""))
        if repository_of(deployed_uri) != repository_of(uri) or deployed_hash != function.context_hash:
            calls.append(
                ApiCall(
                    "lambda",
                    "update_function_code",
                    {"FunctionName": name, "ImageUri": uri},
                    f"image -> {function.image}",
                )
            )
            calls.append(
                ApiCall(
                    "lambda",
                    "tag_resource",
                    {"Resource": config["FunctionArn"], "Tags": {HASH_TAG: function.context_hash}},
                    "record the context hash",
                )
            )
        reserved = current.get("Concurrency", {}).get("ReservedConcurrentExecutions")
        if reserved != function.concurrency:
            calls.append(
                ApiCall(
                    "lambda",
                    "put_function_concurrency",
                    concurrency,
                    f"reserved concurrency {reserved} -> {function.concurrency}",
                )
            )
        return calls

    def missing_functions(self, deployment: Deployment) -> list[str]:
        """The functions of `deployment` that are not deployed."""
        return [
            f.name for f in deployment.functions if self._lookup("lambda", "get_function", FunctionName=f.name) is None
        ]

    # ------------------------------------------------------------ destroy

    def destroy_calls(self, deployment: Deployment) -> list[ApiCall]:
        self._bind(deployment)
        pipeline = deployment.pipeline
        calls = []
        for function in deployment.functions:
            current = self._lookup("lambda", "get_function", FunctionName=function.name)
            if current is not None and current.get("Tags", {}).get(PIPELINE_TAG) == pipeline:
                calls.append(ApiCall("lambda", "delete_function", {"FunctionName": function.name}, "deployed"))
        for repository in dict.fromkeys(split_image(f.image)[0] for f in deployment.functions):
            found = self._lookup("ecr", "describe_repositories", repositoryNames=[repository])
            if found is None:
                continue
            arn = found["repositories"][0]["repositoryArn"]
            tags = (self._lookup("ecr", "list_tags_for_resource", resourceArn=arn) or {}).get("tags", [])
            if {"Key": PIPELINE_TAG, "Value": pipeline} in tags:
                calls.append(
                    ApiCall(
                        "ecr",
                        "delete_repository",
                        {"repositoryName": repository, "force": True},
                        "deployed, with its images",
                    )
                )
        role = self._lookup("iam", "get_role", RoleName=role_name(deployment))
        if role is not None and {"Key": PIPELINE_TAG, "Value": pipeline} in role["Role"].get("Tags", []):
            name = role_name(deployment)
            if self._lookup("iam", "get_role_policy", RoleName=name, PolicyName=POLICY_NAME) is not None:
                calls.append(
                    ApiCall(
                        "iam",
                        "delete_role_policy",
                        {"RoleName": name, "PolicyName": POLICY_NAME},
                        "a role's policies go before it",
                    )
                )
            calls.append(ApiCall("iam", "delete_role", {"RoleName": name}, "deployed"))
        tagging = self._lookup("s3", "get_bucket_tagging", Bucket=deployment.bucket)
        if tagging is not None and {"Key": PIPELINE_TAG, "Value": pipeline} in tagging.get("TagSet", []):
            calls.append(
                ApiCall(
                    "s3",
                    "empty_bucket",
                    {"Bucket": deployment.bucket},
                    "every object in it: list_objects_v2 + delete_objects",
                )
            )
            calls.append(ApiCall("s3", "delete_bucket", {"Bucket": deployment.bucket}, "deployed"))
        return calls

    # ------------------------------------------------------------ apply

    def apply(self, calls: list[ApiCall]) -> None:
        steps: dict[tuple[str, str], Callable[[ApiCall], None]] = {
            ("ecr", "push_image"): self.push_image,
            ("s3", "empty_bucket"): self.empty_bucket,
        }
        for call in calls:
            step = steps.get((call.service, call.operation))
            if step is not None:
                step(call)
            else:
                self._call_with_retries(dataclasses.replace(call, params=pinned(call.params, self.pushed)))

    def _call_with_retries(self, call: ApiCall) -> None:
        from botocore.exceptions import ClientError

        with self.errors(f"{call.service}.{call.operation}"):
            for delay in (*RETRY_DELAYS_S, None):
                try:
                    getattr(self.client(call.service), call.operation)(**call.params)
                    return
                except ClientError as exc:
                    transient = _code(exc) in RETRY_CODES or any(m in _message(exc) for m in RETRY_MESSAGES)
                    if not transient or delay is None:
                        raise
                self.sleep(delay)

    def empty_bucket(self, call: ApiCall) -> None:
        s3 = self.client("s3")
        with self.errors(f"s3.empty_bucket {call.params['Bucket']}"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=call.params["Bucket"]):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=call.params["Bucket"], Delete={"Objects": keys, "Quiet": True})

    def registry_login(self) -> RegistryLogin:
        """ECR's authorization token is base64 `AWS:<password>`, valid for 12 hours."""
        with self.errors("ecr.get_authorization_token"):
            data = self.client("ecr").get_authorization_token()["authorizationData"][0]
        password = base64.b64decode(data["authorizationToken"]).decode().partition(":")[2]
        return RegistryLogin(str(data["proxyEndpoint"]).removeprefix("https://"), "AWS", password)

    def push_image(self, call: ApiCall) -> None:
        uri = call.params["uri"]
        self.pushed[uri] = push_with_engine(call.params["image"], uri, self.registry_login())
