"""Object store on Azure Blob Storage (or Azurite), via azure-storage-blob.

Credentials: a connection string read from the environment variable the spec names (the secret never
sits in the spec), or, given `account_url`, DefaultAzureCredential (managed identity, az login, ...).
"""

from __future__ import annotations

import os
from typing import Any

from mlspec.errors import UsageError
from mlspec.storage.base import ObjectStore

# The most blobs one batch delete request may name.
_BATCH_LIMIT = 256


class AzureBlobObjectStore(ObjectStore):
    def __init__(
        self, container: str, prefix: str = "", connection_string: str | None = None, account_url: str | None = None
    ) -> None:
        super().__init__()
        from azure.core.exceptions import ResourceNotFoundError
        from azure.storage.blob import ContainerClient

        if account_url:
            from azure.identity import DefaultAzureCredential

            self.client = ContainerClient(account_url, container, credential=DefaultAzureCredential())
        elif connection_string:
            self.client = ContainerClient.from_connection_string(connection_string, container)
        else:
            raise ValueError("an Azure Blob object store needs a connection string or an account URL")
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._not_found = ResourceNotFoundError

    def _key(self, key: str) -> str:
        return self.prefix + key.lstrip("/")

    def _put(self, key: str, data: bytes) -> None:
        self.client.upload_blob(self._key(key), data, overwrite=True)

    def _get(self, key: str) -> bytes:
        try:
            data: bytes = self.client.download_blob(self._key(key)).readall()
        except self._not_found:
            raise KeyError(key) from None
        return data

    def exists(self, key: str) -> bool:
        return bool(self.client.get_blob_client(self._key(key)).exists())

    def list(self, prefix: str) -> list[str]:
        names = self.client.list_blob_names(name_starts_with=self._key(prefix))
        return sorted(name[len(self.prefix) :] for name in names)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        for start in range(0, len(keys), _BATCH_LIMIT):
            # A key deleted meanwhile is not an error: deleting is idempotent, as on S3.
            self.client.delete_blobs(
                *(self._key(k) for k in keys[start : start + _BATCH_LIMIT]), raise_on_any_failure=False
            )
        return len(keys)


def open_azure_blob_object_store(config: dict[str, Any]) -> ObjectStore:
    account_url = config.get("account_url")
    connection_string = None
    if not account_url:
        variable = config.get("connection_string_env") or "AZURE_STORAGE_CONNECTION_STRING"
        connection_string = os.environ.get(variable)
        if not connection_string:
            raise UsageError(
                f"azure_blob object store: environment variable {variable} (connection_string_env) "
                "is not set; set it to the storage account's connection string, or give account_url"
            )
    return AzureBlobObjectStore(config["container"], config.get("prefix", ""), connection_string, account_url)
