"""`mlspec run --target gcp-cloud-run|azure-functions` up to the point where a real cloud is needed:
the checks before a run (network stores, functions deployed, credentials, settings) and the executor
options built from the spec. What is deployed is read through the SDKs' real clients against the
canned Google APIs server and Azure transport of this directory's deployer tests (no account can be
reached here)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("google.cloud.run_v2")
pytest.importorskip("azure.mgmt.web")

from mlspec import spec
from mlspec.cli import main
from mlspec.deploy.run_target import cloud_run
from mlspec.executors import make_executor
from mlspec.platforms.azure_functions import deploy as azure_deploy
from mlspec.platforms.azure_functions.deploy import app_name
from mlspec.platforms.azure_functions.executor import AzureFunctionsExecutor
from mlspec.platforms.gcp_cloud_run import deploy as cloud_run_deploy
from mlspec.platforms.gcp_cloud_run.executor import CloudRunExecutor
from tests.deploy import test_azure_functions as azure
from tests.deploy.test_gcp_cloud_run import LOCATION, PROJECT, CannedGoogleApis, Reply, accepting, google

__all__ = ["google"]  # the canned Google APIs fixture, shared with the deployer's tests

SPEC = """\
name: runtest
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 200, test_size: 100, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 500}}
  train: {{kind: train, data: prep, model: logistic_regression, workers: 2, epochs: 1}}
targets:
  gcp-cloud-run: {{memory_mb: 2048, timeout_s: 900, mode: {mode}, project: {project}, max_instances: 8}}
  azure-functions: {{plan: premium, memory_mb: 3584, timeout_s: 600, subscription_id: "{subscription}",
                    resource_group: {group}, storage_account: {account}}}
storage:
  object_store: {object_store}
  param_store: {{kind: redis, url: "redis://127.0.0.1:6379/0"}}
"""


S3 = "{kind: s3, bucket: mlspec-runtest-objects}"


def write_spec(tmp_path: Path, *, mode: str = "service", object_store: str = S3) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        SPEC.format(
            mode=mode,
            project=PROJECT,
            subscription=azure.SUBSCRIPTION,
            group=azure.GROUP,
            account=azure.ACCOUNT,
            object_store=object_store,
        )
    )
    return path


def deployed_on_gcp(
    google: Callable[[Callable[..., Reply]], CannedGoogleApis],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    stages: tuple[str, ...],
) -> CannedGoogleApis:
    """The canned Google APIs with `stages` deployed as `kind` ("services" or "jobs")."""
    existing = {
        f"/v2/{LOCATION}/{kind}/mlspec-runtest-{s}": {"name": f"{LOCATION}/{kind}/mlspec-runtest-{s}"} for s in stages
    }
    server = google(accepting(existing))
    monkeypatch.setattr(cloud_run_deploy, "default_clients", lambda project: server.clients())
    return server


def test_gcp_run_options_name_the_deployed_services_canned(
    google: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed_on_gcp(google, monkeypatch, "services", ("prep", "train"))
    name, options, limits, store = cloud_run(spec.load(write_spec(tmp_path)), "gcp-cloud-run")
    assert name == "gcp-cloud-run"
    assert options == {
        "functions": {"prep": "mlspec-runtest-prep", "train": "mlspec-runtest-train"},
        "region": "us-central1",
        "project": PROJECT,
        "jobs": [],
    }
    assert (limits.memory_mb, limits.timeout_s, limits.max_concurrency) == (2048, 900.0, 8)
    # The spec's S3 store: another cloud's, used as it is (its bytes are priced as egress).
    assert (store["kind"], store["bucket"]) == ("s3", "mlspec-runtest-objects")
    executor = make_executor(name, tmp_path / "logs", options)
    assert isinstance(executor, CloudRunExecutor)
    assert (executor.functions, executor.jobs, executor.project) == (options["functions"], set(), PROJECT)


def test_a_local_object_store_runs_on_cloud_run_with_the_gcs_bucket_deploy_made_canned(
    google: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed_on_gcp(google, monkeypatch, "services", ("prep", "train"))
    store = cloud_run(spec.load(write_spec(tmp_path, object_store="{kind: local}")), "gcp-cloud-run").object_store
    assert store == {"kind": "gcs", "bucket": "mlspec-runtest"}


def test_gcp_job_mode_runs_every_stage_as_a_job_canned(
    google: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed_on_gcp(google, monkeypatch, "jobs", ("prep", "train"))
    _, options, _, _ = cloud_run(spec.load(write_spec(tmp_path, mode="job")), "gcp-cloud-run")
    assert options["jobs"] == ["prep", "train"]


def test_gcp_run_before_deploy_says_to_deploy_canned(
    google: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed_on_gcp(google, monkeypatch, "services", ("prep",))
    result = CliRunner().invoke(
        main, ["run", str(write_spec(tmp_path)), "--target", "gcp-cloud-run", "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert (
        "error: not deployed on gcp-cloud-run (us-central1): mlspec-runtest-train; run `mlspec deploy SPEC "
        "--target gcp-cloud-run` first"
    ) in result.output


def test_gcp_run_without_credentials_is_one_line_naming_the_chain(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    result = CliRunner().invoke(
        main, ["run", str(write_spec(tmp_path)), "--target", "gcp-cloud-run", "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2, result.output
    assert "no Google Cloud credentials found (tried: GOOGLE_APPLICATION_CREDENTIALS" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def deployed_on_azure(monkeypatch: pytest.MonkeyPatch) -> None:
    """The canned Azure transport with both stages' Function Apps deployed."""
    adapter = azure.CannedAzure(azure.accepting({}))
    clients = adapter.clients()
    sites = f"{azure.ARM}/Microsoft.Web/sites"
    apps = [app_name(clients, f"mlspec-runtest-{stage}") for stage in ("prep", "train")]
    adapter.answer = azure.accepting({f"{sites}/{app}": {} for app in apps})
    monkeypatch.setattr(azure_deploy, "default_clients", lambda settings: clients)


def test_azure_run_options_name_the_deployed_apps_canned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    deployed_on_azure(monkeypatch)
    name, options, limits, _ = cloud_run(spec.load(write_spec(tmp_path)), "azure-functions")
    assert name == "azure-functions"
    assert options == {
        "functions": {"prep": "mlspec-runtest-prep", "train": "mlspec-runtest-train"},
        "subscription_id": azure.SUBSCRIPTION,
        "resource_group": azure.GROUP,
        "storage_account": azure.ACCOUNT,
    }
    assert (limits.memory_mb, limits.timeout_s) == (3584, 600.0)
    assert isinstance(make_executor(name, tmp_path / "logs", options), AzureFunctionsExecutor)


def test_a_local_object_store_runs_on_azure_with_the_container_deploy_made_canned(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployed_on_azure(monkeypatch)
    pipeline = spec.load(write_spec(tmp_path, object_store="{kind: local}"))
    # Through the apps' managed identity (deploy grants it Storage Blob Data Owner): no secret in events.
    assert cloud_run(pipeline, "azure-functions").object_store == {
        "kind": "azure_blob",
        "container": "mlspec-runtest",
        "account_url": f"https://{azure.ACCOUNT}.blob.core.windows.net",
    }


def test_azure_run_before_deploy_says_to_deploy_canned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clients = azure.CannedAzure(azure.accepting({})).clients()
    monkeypatch.setattr(azure_deploy, "default_clients", lambda settings: clients)
    result = CliRunner().invoke(
        main, ["run", str(write_spec(tmp_path)), "--target", "azure-functions", "--runs-dir", str(tmp_path / "runs")]
    )
    assert result.exit_code == 2
    assert (
        "error: not deployed on azure-functions (eastus): mlspec-runtest-prep, mlspec-runtest-train; "
        "run `mlspec deploy SPEC --target azure-functions` first"
    ) in result.output


@pytest.mark.parametrize("target", ["gcp-cloud-run", "azure-functions"])
def test_cloud_runs_need_a_network_param_store(target: str, tmp_path: Path) -> None:
    local = write_spec(tmp_path)
    local.write_text(local.read_text().replace('{kind: redis, url: "redis://127.0.0.1:6379/0"}', "{kind: local}"))
    result = CliRunner().invoke(main, ["run", str(local), "--target", target, "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and f"running on {target} needs storage.param_store of kind redis" in result.output
