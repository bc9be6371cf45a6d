"""The quick start, tiny, with its objects in Google Cloud Storage and in Azure Blob Storage: real runs
against gcp-storage-emulator and Azurite on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.servers import azure_blob_names, create_azure_container, create_gcs_bucket, gcs_object_names

TINY = [
    "datasets.images.synthetic.train_size=200",
    "datasets.images.synthetic.test_size=100",
    "datasets.reviews.synthetic.train_size=200",
    "datasets.reviews.synthetic.test_size=100",
    "stages.train_images.epochs=1",
    "stages.train_reviews.epochs=1",
]


def run_quickstart(tmp_path: Path, store: list[str], env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    args = [
        sys.executable,
        "-m",
        "mlspec",
        "run",
        str(REPO / "examples" / "quickstart.yaml"),
        "--json",
        "--runs-dir",
        str(tmp_path / "runs"),
    ]
    for override in TINY + store:
        args += ["--set", override]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr[-3000:]
    record: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    return record


def assert_run_in_store(record: dict, names: list[str]) -> None:  # type: ignore[type-arg]
    assert record["status"] == "succeeded"
    for stage in ("eval_images", "eval_reviews"):
        assert 0 <= record["stages"][stage]["metrics"]["test_accuracy"] <= 1
    # Data, checkpoints and both models went to the emulator, under the run's own prefix; the stage
    # cache's entries under the store's cache prefix, one manifest per stage.
    assert names and all(n.startswith((f"mlspec/{record['run_id']}/", "mlspec/.cache/")) for n in names), names[:5]
    assert sum(n.startswith("mlspec/.cache/") and n.endswith("/manifest.json") for n in names) == len(record["stages"])
    assert any(n.endswith("models/train_images/model.npz") for n in names), names
    assert any(n.endswith("models/train_reviews/model.npz") for n in names), names
    workers = [i for i in record["invocations"] if i["function"] == "train_worker"]
    assert workers and all(i["io"]["object_bytes_read"] > 0 for i in workers)


def test_quickstart_with_objects_in_gcs(tmp_path: Path, gcs_endpoint: str) -> None:
    create_gcs_bucket(gcs_endpoint, "quickstart-gcs")
    record = run_quickstart(
        tmp_path,
        [
            "storage.object_store.kind=gcs",
            "storage.object_store.bucket=quickstart-gcs",
            f"storage.object_store.endpoint_url={gcs_endpoint}",
        ],
        {},
    )
    assert_run_in_store(record, gcs_object_names(gcs_endpoint, "quickstart-gcs"))


def test_quickstart_with_objects_in_azure_blob(tmp_path: Path, azurite_connection_string: str) -> None:
    create_azure_container(azurite_connection_string, "quickstart-azure")
    record = run_quickstart(
        tmp_path,
        [
            "storage.object_store.kind=azure_blob",
            "storage.object_store.container=quickstart-azure",
            "storage.object_store.connection_string_env=MLSPEC_TEST_AZURE",
        ],
        {"MLSPEC_TEST_AZURE": azurite_connection_string},
    )
    assert_run_in_store(record, azure_blob_names(azurite_connection_string, "quickstart-azure"))
