"""A platform added from outside mlspec: tests/toy_platform registers "toy-cloud" through the
``mlspec.platforms`` entry point (a dist-info directory put on PYTHONPATH), the way a third-party package
would, without editing anything under mlspec/. Every command then sees it through the registries: plan
prices it, build renders its image from its own templates, deploy makes its calls against its fake cloud
(a JSON file), run invokes its "deployed" functions through its executor (mlspec's local shim, with real
S3 on moto and real Redis), and compare prices the run on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from tests.conftest import REPO

SITE = REPO / "tests" / "toy_platform" / "site"

SPEC = """\
name: toy
datasets:
  reviews: {{format: imdb, synthetic: {{train_size: 300, test_size: 100, seed: 0}}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 500}}
  train: {{kind: train, data: prep, model: logistic_regression, workers: 2, epochs: 2}}
  check: {{kind: evaluate, model: train}}
targets:
  toy-cloud: {{memory_mb: 1024, timeout_s: 300, max_instances: 4}}
storage:
  object_store: {{kind: s3, bucket: toy-objects, endpoint_url: "{endpoint}"}}
  param_store: {{kind: redis, url: "{redis}"}}
"""


def mlspec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(SITE)]), "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


@pytest.fixture
def spec_file(tmp_path: Path, s3_endpoint: str, redis_url: str) -> Path:
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="toy-objects")
    path = tmp_path / "pipeline.yaml"
    path.write_text(SPEC.format(endpoint=s3_endpoint, redis=redis_url))
    return path


def test_without_the_entry_point_mlspec_does_not_know_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0 and "toy-cloud" not in result.stdout


def test_a_platform_from_another_package_is_seen_by_every_command(tmp_path: Path, spec_file: Path) -> None:
    # The command line's choices come from the registry.
    assert "toy-cloud" in ok(mlspec(tmp_path, "run", "--help"))
    assert "toy-cloud" in ok(mlspec(tmp_path, "build", "--help"))
    ok(mlspec(tmp_path, "validate", str(spec_file)))

    # plan: the toy cloud is a target of the spec, priced from its catalog entry.
    plan = json.loads(ok_stdout(mlspec(tmp_path, "plan", str(spec_file), "--profile", "--json")))
    assert {stage["platform"] for stage in plan["plan"]["stages"]} == {"toy-cloud:standard"}, plan
    assert plan["plan"]["labels"]["cost_usd"] == "modelled" and plan["plan"]["cost_usd"] > 0

    # build --engine none: contexts rendered from the toy platform's own templates.
    ok(mlspec(tmp_path, "build", str(spec_file), "--engine", "none", "--target", "toy-cloud", "--out", "build"))
    dockerfile = (tmp_path / "build" / "toy" / "train-toy-cloud" / "Dockerfile").read_text()
    assert "for the toy cloud (tests)" in dockerfile
    function = json.loads((tmp_path / "build" / "toy" / "train-toy-cloud" / "function.json").read_text())
    assert function["platform"] == "toy-cloud" and function["target"]["max_instances"] == 4

    # deploy --dry-run lists the calls against the fake cloud; deploy makes them; a second deploy makes none.
    dry = ok(mlspec(tmp_path, "deploy", str(spec_file), "--target", "toy-cloud", "--dry-run", "--build-dir", "build"))
    assert dry.count("toy.Functions.create_function") == 3, dry
    assert not (tmp_path / "toy-cloud-state.json").exists()
    ok(mlspec(tmp_path, "deploy", str(spec_file), "--target", "toy-cloud", "--build-dir", "build"))
    state = json.loads((tmp_path / "toy-cloud-state.json").read_text())
    assert sorted(state) == ["mlspec-toy-check", "mlspec-toy-prep", "mlspec-toy-train"]
    assert state["mlspec-toy-train"]["concurrency"] == 2
    again = ok(mlspec(tmp_path, "deploy", str(spec_file), "--target", "toy-cloud", "--dry-run", "--build-dir", "build"))
    assert "create_function" not in again

    # run --target: through the toy executor, on the deployed functions, with real stores.
    record = json.loads(ok_stdout(mlspec(tmp_path, "run", str(spec_file), "--target", "toy-cloud", "--json")))
    assert record["status"] == "succeeded"
    assert record["target"] == "toy-cloud" and record["executor"] == "toy-cloud"
    assert record["stages"]["check"]["metrics"]["test_accuracy"] > 0.6
    assert {i["function"] for i in record["invocations"]} >= {"preprocess", "train_worker", "evaluate"}

    # compare: the run is priced on the toy cloud too, and runs side by side can be priced on it.
    table = json.loads(ok_stdout(mlspec(tmp_path, "compare", "--format", "json")))
    assert any(p["id"].startswith("toy-cloud") for p in table["platforms"]), table["platforms"]
    runs = ok(mlspec(tmp_path, "compare", "--view", "runs", "--platform", "toy-cloud:standard", "--format", "csv"))
    assert record["run_id"] in runs

    # A function removed from the fake cloud: run refuses before anything starts, naming it.
    state.pop("mlspec-toy-check")
    (tmp_path / "toy-cloud-state.json").write_text(json.dumps(state))
    refused = mlspec(tmp_path, "run", str(spec_file), "--target", "toy-cloud")
    assert refused.returncode == 2
    assert "not deployed on toy-cloud" in refused.stderr and "mlspec-toy-check" in refused.stderr


def ok_stdout(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
