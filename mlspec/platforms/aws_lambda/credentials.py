"""AWS credentials from the SDK's own standard chain. Only where they came from is ever reported,
never a key, secret or token. The SDK is imported inside the function that needs it: `mlspec doctor`
reports a missing SDK with the command that installs it instead of failing on import."""

from __future__ import annotations

from typing import Any

from mlspec.deploy.base import CredentialsError, InvalidCredentialsError
from mlspec.errors import one_line

AWS_CHAIN = (
    "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), AWS_PROFILE and the "
    "shared credentials file (~/.aws/credentials), the config file (~/.aws/config: profiles, SSO, "
    "credential_process, assume-role), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), container "
    "credentials (ECS), EC2 instance metadata"
)
AWS_FIX = "run `aws configure` (or `aws sso login`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
# Error codes with which AWS rejects credentials that were found but are not (or no longer) valid.
AWS_REJECTED_CODES = frozenset(
    {
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "RequestExpired",
        "TokenRefreshRequired",
    }
)


def aws_session(region: str | None = None) -> Any:
    """A boto3 Session on the default credential chain (which honours AWS_ENDPOINT_URL for clients).
    Raises CredentialsError when the chain yields nothing."""
    try:
        import boto3
        import botocore.session
        from botocore.exceptions import BotoCoreError, ConfigParseError
    except ImportError:
        raise CredentialsError("boto3 is not installed: pip install 'mlspec[aws]'") from None
    core = botocore.session.get_session()
    # Off AWS the instance-metadata lookup would wait out its default timeouts (1 s x 1 attempt here).
    core.set_config_variable("metadata_service_timeout", 1)
    core.set_config_variable("metadata_service_num_attempts", 1)
    try:
        session = boto3.Session(botocore_session=core, region_name=region)
        credentials = session.get_credentials()
    except (ConfigParseError, OSError) as exc:  # a config or shared credentials file that cannot be read
        raise InvalidCredentialsError(
            f"invalid AWS configuration: {one_line(exc)}; fix or remove the file, or {AWS_FIX}"
        ) from None
    except BotoCoreError as exc:  # a named profile that does not exist
        raise CredentialsError(f"AWS credentials: {exc} (tried: {AWS_CHAIN}); {AWS_FIX}") from None
    if credentials is None:
        raise CredentialsError(f"no AWS credentials found (tried: {AWS_CHAIN}); {AWS_FIX}")
    return session


def aws_credentials_source(session: Any) -> str:
    """Which link of the chain supplied the credentials, e.g. "env" or "shared-credentials-file"."""
    credentials = session.get_credentials()
    return str(getattr(credentials, "method", None) or "unknown")


def aws_rejected(code: str, source: str) -> CredentialsError:
    """The error for credentials that were found but refused (expired, revoked, mistyped)."""
    return CredentialsError(
        f"AWS rejected the credentials from {source} ({code}): they are expired or invalid "
        f"(chain: {AWS_CHAIN}); {AWS_FIX}"
    )


def describe_credentials() -> str:
    """Where the credentials were found (for `mlspec doctor`); raises CredentialsError when there are none."""
    return f"found (from {aws_credentials_source(aws_session())}; not verified against AWS)"
