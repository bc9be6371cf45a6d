"""How AWS refusals reach the user: one line each, never a traceback, never a credential. The
refusals are canned with botocore's Stubber (no AWS account can be reached from here)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.deploy.base import ApiCall, CredentialsError, DeployError
from mlspec.platforms.aws_lambda.credentials import aws_session
from mlspec.platforms.aws_lambda.deploy import AwsLambdaDeployer
from tests.deploy.conftest import FAKE_KEY_ID, FAKE_SECRET

CREATE = ApiCall(
    "lambda",
    "create_function",
    {"FunctionName": "f", "Role": "arn:aws:iam::1:role/r", "PackageType": "Image", "Code": {"ImageUri": "x:y"}},
    "missing",
)


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _stubbed(service: str) -> tuple[AwsLambdaDeployer, Stubber, list[float]]:
    client = boto3.client(service, region_name="us-east-1")
    deployer = AwsLambdaDeployer({"region": "us-east-1"}, clients={service: client})
    slept: list[float] = []
    deployer.sleep = slept.append
    return deployer, Stubber(client), slept


def test_access_denied_is_one_clear_line_stubbed(fake_credentials: None) -> None:
    deployer, stub, _ = _stubbed("lambda")
    stub.add_client_error(
        "create_function", "AccessDeniedException", "User: x is not authorized to perform: lambda:CreateFunction", 403
    )
    with stub, pytest.raises(DeployError) as error:
        deployer.apply([CREATE])
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("lambda.create_function: AccessDeniedException: User: x is not authorized")
    assert "grant it to the IAM user or role that deploys" in message


def test_conflicts_are_retried_with_backoff_stubbed(fake_credentials: None) -> None:
    deployer, stub, slept = _stubbed("lambda")
    for _ in range(2):
        stub.add_client_error("create_function", "ResourceConflictException", "An update is in progress", 409)
    stub.add_response("create_function", {"FunctionName": "f"})
    with stub:
        deployer.apply([CREATE])
        stub.assert_no_pending_responses()
    assert slept == [1.0, 2.0]


def test_throttling_that_never_ends_gives_up_with_a_hint_stubbed(fake_credentials: None) -> None:
    deployer, stub, slept = _stubbed("lambda")
    for _ in range(7):
        stub.add_client_error("create_function", "TooManyRequestsException", "Rate exceeded", 429)
    with stub, pytest.raises(DeployError, match=r"TooManyRequestsException: Rate exceeded \(rate limited"):
        deployer.apply([CREATE])
    assert len(slept) == 6


def test_expired_credentials_name_the_chain_not_the_values_stubbed(fake_credentials: None) -> None:
    deployer, stub, _ = _stubbed("sts")
    stub.add_client_error(
        "get_caller_identity", "ExpiredToken", "The security token included in the request is expired", 403
    )
    with stub, pytest.raises(CredentialsError) as error:
        deployer.account()
    message = str(error.value)
    assert "rejected the credentials from env (ExpiredToken)" in message
    assert "AWS_ACCESS_KEY_ID" in message and "shared credentials file" in message
    assert FAKE_KEY_ID not in message and FAKE_SECRET not in message


def test_no_credentials_anywhere_is_one_line_naming_the_chain(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(CredentialsError, match=r"^no AWS credentials found \(tried: environment \(AWS_ACCESS_KEY_ID"):
        aws_session("us-east-1")

    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: p\ndatasets: {d: {format: imdb}}\nstages: {prep: {kind: preprocess, dataset: d}}\n"
        "targets: {aws-lambda: {}}\n"
    )
    result = CliRunner().invoke(main, ["destroy", str(spec), "--target", "aws-lambda", "--yes"])
    assert result.exit_code == 2
    assert result.output.startswith("error: no AWS credentials found (tried: ") and result.output.count("\n") == 1
