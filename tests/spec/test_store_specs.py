"""The object store kinds per cloud in the spec: what loads, and what is refused with one located message."""

from __future__ import annotations

import pytest

from mlspec import spec
from mlspec.errors import SpecError
from mlspec.spec.models import AzureBlobObjectStoreSpec, GcsObjectStoreSpec

SPEC = """\
name: demo
datasets:
  imdb: {format: imdb}
stages:
  prep: {kind: preprocess, dataset: imdb}
storage:
  object_store: %s
"""


def test_gcs_store_loads_with_defaults() -> None:
    store = spec.load_text(SPEC % "{kind: gcs, bucket: my-runs}", "p.yaml").storage.object_store
    assert isinstance(store, GcsObjectStoreSpec)
    assert (store.bucket, store.prefix, store.endpoint_url, store.project) == ("my-runs", "mlspec", None, None)


def test_azure_blob_store_reads_its_connection_string_from_a_named_variable() -> None:
    default = spec.load_text(SPEC % "{kind: azure_blob, container: my-runs}", "p.yaml").storage.object_store
    assert isinstance(default, AzureBlobObjectStoreSpec)
    assert default.connection_string_env == "AZURE_STORAGE_CONNECTION_STRING" and default.account_url is None
    named = spec.load_text(
        SPEC % "{kind: azure_blob, container: my-runs, connection_string_env: MY_CONN}", "p.yaml"
    ).storage.object_store
    assert isinstance(named, AzureBlobObjectStoreSpec) and named.connection_string_env == "MY_CONN"
    url = spec.load_text(
        SPEC % "{kind: azure_blob, container: my-runs, account_url: 'https://a.blob.core.windows.net'}", "p.yaml"
    ).storage.object_store
    assert isinstance(url, AzureBlobObjectStoreSpec) and url.account_url == "https://a.blob.core.windows.net"


@pytest.mark.parametrize(
    ("store", "message"),
    [
        (
            "{kind: azure_blob, container: runs, connection_string_env: 'DefaultEndpointsProtocol=https;AccountKey=x'}",
            "connection_string_env is the name of an environment variable (e.g. AZURE_STORAGE_CONNECTION_STRING), "
            "not the connection string itself",
        ),
        (
            "{kind: azure_blob, container: runs, connection_string_env: X, account_url: 'https://a.blob.core.windows.net'}",
            "give either account_url (DefaultAzureCredential) or connection_string_env, not both",
        ),
        ("{kind: gcs}", "missing required key 'bucket' in storage.object_store"),
        ("{kind: azure_blob, container: runs, bucket: runs}", "unknown key 'bucket' in storage.object_store"),
    ],
)
def test_bad_cloud_store_is_one_located_message(store: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        spec.load_text(SPEC % store, "p.yaml")
    found = [str(p) for p in info.value.problems]
    assert len(found) == 1 and found[0].startswith("p.yaml:") and message in found[0], found
