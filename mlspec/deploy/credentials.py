"""Credentials from each cloud SDK's own standard chain. Only where they came from is ever reported
(e.g. "env", "shared-credentials-file"), never a key, secret or token.

Each SDK is imported inside the function that needs it: `mlspec doctor` reports a missing SDK with the
command that installs it instead of failing on import."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from mlspec.deploy.base import CredentialsError, InvalidCredentialsError, Unreachable, one_line

AWS_CHAIN = (
    "environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), AWS_PROFILE and the "
    "shared credentials file (~/.aws/credentials), the config file (~/.aws/config: profiles, SSO, "
    "credential_process, assume-role), web identity (AWS_WEB_IDENTITY_TOKEN_FILE), container "
    "credentials (ECS), EC2 instance metadata"
)
AWS_FIX = "run `aws configure` (or `aws sso login`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
GCP_CHAIN = (
    "GOOGLE_APPLICATION_CREDENTIALS, gcloud application-default credentials "
    "(~/.config/gcloud/application_default_credentials.json), the GCE metadata server"
)
GCP_FIX = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file"
AZURE_CHAIN = (
    "DefaultAzureCredential: environment (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_CLIENT_SECRET...), "
    "workload identity, managed identity, Azure CLI, Azure PowerShell, Azure Developer CLI"
)
AZURE_FIX = "run `az login`, or set AZURE_CLIENT_ID, AZURE_TENANT_ID and AZURE_CLIENT_SECRET"
# How azure-identity words a link of the chain that found credentials but could not reach its endpoint
# (the chain's error keeps only each link's message).
AZURE_UNREACHABLE = re.compile(
    r"Failed to (establish a new connection|resolve)|Connection (refused|reset)|timed out", re.IGNORECASE
)
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


def gcp_credentials() -> tuple[Any, str | None]:
    """google.auth.default(): (credentials, project)."""
    try:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError
    except ImportError:
        raise CredentialsError("google-auth is not installed: pip install google-auth") from None
    try:
        credentials, project = google.auth.default()
    except (DefaultCredentialsError, OSError) as exc:
        key_file = _gcp_key_file()
        if key_file is None:
            raise CredentialsError(f"no Google Cloud credentials found (tried: {GCP_CHAIN}); {GCP_FIX}") from None
        why = (
            " ".join(one_line(arg) for arg in exc.args)
            if isinstance(exc, DefaultCredentialsError)
            else (f"cannot read it: {exc.strerror}")
        )
        raise InvalidCredentialsError(f"invalid Google Cloud key file {key_file}: {why}; {GCP_FIX}") from None
    return credentials, project


def _gcp_key_file() -> str | None:
    """The credentials file google.auth.default() read, if one exists: GOOGLE_APPLICATION_CREDENTIALS when set,
    else gcloud's application-default credentials file."""
    from google.auth._cloud_sdk import get_application_default_credentials_path

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or get_application_default_credentials_path()
    return key_file if os.path.exists(key_file) else None


def azure_credential(**options: Any) -> Any:
    """DefaultAzureCredential, checked by asking it for an Azure Resource Manager token. `options` go to
    every link of the chain (a dry run's: no retries, short timeouts)."""
    try:
        from azure.core.exceptions import ClientAuthenticationError
        from azure.identity import DefaultAzureCredential
    except ImportError:
        raise CredentialsError("azure-identity is not installed: pip install azure-identity") from None
    try:
        credential = DefaultAzureCredential(exclude_interactive_browser_credential=True, **options)
    except (ValueError, OSError) as exc:  # e.g. AZURE_CLIENT_CERTIFICATE_PATH names a file that is no certificate
        raise InvalidCredentialsError(
            f"invalid Azure credentials in the environment: {one_line(exc)}; {AZURE_FIX}"
        ) from None
    # azure.identity logs every link of the chain that failed as a warning; the error below says it once.
    logger = logging.getLogger("azure.identity")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        credential.get_token("https://management.azure.com/.default")
    except ClientAuthenticationError as exc:
        unreachable = [line.strip() for line in str(exc).splitlines() if AZURE_UNREACHABLE.search(line)]
        if unreachable:
            raise Unreachable(f"Azure credentials: could not get a token: {unreachable[0]}") from None
        raise CredentialsError(f"no Azure credentials found (tried: {AZURE_CHAIN}); {AZURE_FIX}") from None
    finally:
        logger.setLevel(level)
    return credential
