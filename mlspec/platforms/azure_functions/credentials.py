"""Azure credentials from the SDK's own standard chain. Only where they came from is ever reported,
never a key, secret or token. The SDK is imported inside the function that needs it: `mlspec doctor`
reports a missing SDK with the command that installs it instead of failing on import."""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from mlspec.deploy.base import CredentialsError, InvalidCredentialsError, Unreachable
from mlspec.errors import one_line

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


def describe_credentials() -> str:
    """Where the credentials were found (for `mlspec doctor`); raises CredentialsError when there are none."""
    azure_credential()
    subscription = (
        "subscription from AZURE_SUBSCRIPTION_ID"
        if os.environ.get("AZURE_SUBSCRIPTION_ID")
        else "no AZURE_SUBSCRIPTION_ID: set `subscription_id` in the azure-functions target"
    )
    return f"found (DefaultAzureCredential issued a management token; {subscription})"
