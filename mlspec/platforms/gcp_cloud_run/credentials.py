"""Google Cloud credentials from the SDK's own standard chain. Only where they came from is ever reported,
never a key, secret or token. The SDK is imported inside the function that needs it: `mlspec doctor`
reports a missing SDK with the command that installs it instead of failing on import."""

from __future__ import annotations

import os
from typing import Any

from mlspec.deploy.base import CredentialsError, InvalidCredentialsError
from mlspec.errors import one_line

GCP_CHAIN = (
    "GOOGLE_APPLICATION_CREDENTIALS, gcloud application-default credentials "
    "(~/.config/gcloud/application_default_credentials.json), the GCE metadata server"
)
GCP_FIX = "run `gcloud auth application-default login`, or set GOOGLE_APPLICATION_CREDENTIALS to a key file"


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


def describe_credentials() -> str:
    """Where the credentials were found (for `mlspec doctor`); raises CredentialsError when there are none."""
    _, project = gcp_credentials()
    where = (
        f"project {project}"
        if project
        else "no project: set `project` in the gcp-cloud-run target or GOOGLE_CLOUD_PROJECT"
    )
    return f"found (application-default credentials; {where}; not verified against Google Cloud)"
