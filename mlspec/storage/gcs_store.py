"""Object store on Google Cloud Storage (or a GCS emulator through `endpoint_url`), via google-cloud-storage."""

from __future__ import annotations

from typing import Any

from mlspec.storage.base import ObjectStore


class GCSObjectStore(ObjectStore):
    def __init__(
        self, bucket: str, prefix: str = "", endpoint_url: str | None = None, project: str | None = None
    ) -> None:
        super().__init__()
        from google.api_core.exceptions import NotFound
        from google.cloud import storage
        from google.cloud.storage.retry import DEFAULT_RETRY

        if endpoint_url:
            # Emulators take no credentials; the client still wants a project name.
            from google.auth.credentials import AnonymousCredentials

            self.client = storage.Client(
                project=project or "mlspec",
                credentials=AnonymousCredentials(),
                client_options={"api_endpoint": endpoint_url},
            )
        else:
            self.client = storage.Client(project=project)
        self.bucket = self.client.bucket(bucket)
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self._not_found = NotFound
        # The client retries unconditional uploads only when told to; a put rewrites the whole object with
        # the same bytes, so retrying one is safe.
        self._upload_retry = DEFAULT_RETRY

    def _key(self, key: str) -> str:
        return self.prefix + key.lstrip("/")

    def _put(self, key: str, data: bytes) -> None:
        self.bucket.blob(self._key(key)).upload_from_string(
            data, content_type="application/octet-stream", retry=self._upload_retry
        )

    def _get(self, key: str) -> bytes:
        try:
            data: bytes = self.bucket.blob(self._key(key)).download_as_bytes()
        except self._not_found:
            raise KeyError(key) from None
        return data

    def exists(self, key: str) -> bool:
        return bool(self.bucket.blob(self._key(key)).exists())

    def list(self, prefix: str) -> list[str]:
        blobs = self.client.list_blobs(self.bucket, prefix=self._key(prefix))
        return sorted(blob.name[len(self.prefix) :] for blob in blobs)

    def delete_prefix(self, prefix: str) -> int:
        keys = self.list(prefix)
        # A key deleted meanwhile is not an error: deleting is idempotent, as on S3.
        self.bucket.delete_blobs([self._key(k) for k in keys], on_error=lambda blob: None)
        return len(keys)


def open_gcs_object_store(config: dict[str, Any]) -> ObjectStore:
    return GCSObjectStore(config["bucket"], config.get("prefix", ""), config.get("endpoint_url"), config.get("project"))
