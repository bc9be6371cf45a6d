"""`mlspec run --target aws-lambda` up to Lambda (moto cannot execute an image function without Docker:
its Invoke answers with an error, which the run must report), the checks before a run, credential
hygiene across build, deploy, run and destroy, and `mlspec doctor`."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from mlspec.cli import main
from tests.deploy.conftest import AWS_SPEC, FAKE_KEY_ID, FAKE_SECRET
from tests.servers import free_port

S3_STORE = "{kind: s3, bucket: mlspec-deploytest-objects}"
GCS_STORE = "{kind: gcs, bucket: elsewhere}"


def test_build_deploy_run_destroy_leave_no_credential_anywhere(aws_env: str, redis_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(AWS_SPEC.format(redis_url=redis_url))
    runner = CliRunner()
    outputs = []
    for args, status in (
        (["build", str(spec), "--target", "aws-lambda", "--engine", "none", "--out", str(tmp_path / "build")], 0),
        (["deploy", str(spec), "--target", "aws-lambda", "--build-dir", str(tmp_path / "build")], 0),
        (["run", str(spec), "--target", "aws-lambda", "--runs-dir", str(tmp_path / "runs"), "--json"], 1),
        (["destroy", str(spec), "--target", "aws-lambda", "--yes"], 0),
    ):
        result = runner.invoke(main, args)
        assert result.exit_code == status, result.output
        outputs.append(result.output)

    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    record = json.loads((run_dir / "record.json").read_text())
    assert (record["target"], record["executor"], record["status"]) == ("aws-lambda", "aws-lambda", "failed")
    [invocation] = record["invocations"]
    assert invocation["target"] == "aws-lambda" and invocation["status"] == "error"
    assert "stage 'prep' failed" in record["error"] and "stage 'prep' failed" in outputs[2]

    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "function.json" for p in written) and any(p.name == "record.json" for p in written)
    for secret in (FAKE_KEY_ID, FAKE_SECRET):
        assert not [p for p in written if secret.encode() in p.read_bytes()]
        assert not [o for o in outputs if secret in o]


def test_run_on_lambda_before_deploy_says_to_deploy(aws_env: str, redis_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(AWS_SPEC.format(redis_url=redis_url))
    result = CliRunner().invoke(main, ["run", str(spec), "--target", "aws-lambda", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert (
        "error: not deployed on aws-lambda (us-east-1): mlspec-deploytest-prep, mlspec-deploytest-train, "
        "mlspec-deploytest-eval; run `mlspec deploy SPEC --target aws-lambda` first"
    ) in result.output


def test_run_on_lambda_needs_a_network_param_store(aws_env: str, tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(AWS_SPEC.format(redis_url="").replace('{kind: redis, url: ""}', "{kind: local}"))
    result = CliRunner().invoke(main, ["run", str(spec), "--target", "aws-lambda", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2 and "needs storage.param_store of kind redis" in result.output


def test_a_local_object_store_runs_on_lambda_with_the_bucket_deploy_made(
    aws_env: str, redis_url: str, tmp_path: Path
) -> None:
    """The default: a spec with a local object store deploys an S3 bucket of its own and runs with it."""
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(AWS_SPEC.format(redis_url=redis_url).replace(S3_STORE, "{kind: local}"))
    runner = CliRunner()
    build = ["build", str(spec), "--target", "aws-lambda", "--engine", "none", "--out", str(tmp_path / "build")]
    assert runner.invoke(main, build).exit_code == 0
    deployed = runner.invoke(
        main, ["deploy", str(spec), "--target", "aws-lambda", "--build-dir", str(tmp_path / "build")]
    )
    assert deployed.exit_code == 0, deployed.output
    assert boto3.client("s3").head_bucket(Bucket="mlspec-deploytest")
    # moto cannot run the image, so the run fails at the first invocation; its record says what it used.
    result = runner.invoke(main, ["run", str(spec), "--target", "aws-lambda", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 1, result.output
    [run_dir] = [p for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")]
    record = json.loads((run_dir / "record.json").read_text())
    store = record["spec"]["storage"]["object_store"]
    assert (store["kind"], store["bucket"], store["region"]) == ("s3", "mlspec-deploytest", "us-east-1")
    # The images carry the store's SDK although the spec's store is local.
    assert "boto3==" in next((tmp_path / "build").rglob("prep-aws-lambda/requirements.txt")).read_text()


def test_another_clouds_store_gets_no_bucket_here(aws_env: str, tmp_path: Path) -> None:
    """A GCS object store for functions on Lambda: deploy makes no S3 bucket (the run reaches GCS, priced
    as egress)."""
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(AWS_SPEC.format(redis_url="redis://127.0.0.1:6379/0").replace(S3_STORE, GCS_STORE))
    runner = CliRunner()
    build = ["build", str(spec), "--target", "aws-lambda", "--engine", "none", "--out", str(tmp_path / "build")]
    assert runner.invoke(main, build).exit_code == 0
    deploy = ["deploy", str(spec), "--target", "aws-lambda", "--build-dir", str(tmp_path / "build"), "--dry-run"]
    result = runner.invoke(main, deploy)
    assert result.exit_code == 0, result.output
    assert "create_role" in result.output and "create_bucket" not in result.output


def test_doctor_reports_each_check_with_its_fix_and_no_credential(
    aws_env: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["doctor", "--redis-url", redis_url])
    assert result.exit_code == 0, result.output
    lines = {line.split()[1]: line for line in result.output.splitlines()}
    assert set(lines) >= {"docker", "podman", "buildah", "redis-server", "redis", "aws", "gcp", "azure"}
    assert lines["aws"].startswith("ok") and "found (from env; not verified against AWS)" in lines["aws"]
    assert lines["redis"].startswith("ok") and "reachable (PING)" in lines["redis"]
    for line in lines.values():
        assert line.startswith(("ok ", "missing ")) and (line.startswith("ok") or " " in line.split(None, 2)[2])
    assert FAKE_KEY_ID not in result.output and FAKE_SECRET not in result.output

    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    strict = runner.invoke(main, ["doctor", "--strict", "--redis-url", f"redis://127.0.0.1:{free_port()}/0"])
    assert strict.exit_code == 1
    missing = {line.split()[1]: line for line in strict.output.splitlines() if line.startswith("missing")}
    assert "run `aws configure`" in missing["aws"] and "start redis-server or fix the URL" in missing["redis"]


def test_doctor_reports_cloud_sdks_and_debootstrap() -> None:
    from mlspec.actions import doctor
    from mlspec.providers.registry import all_platforms

    names = [c.name for c in doctor.checks(None)]
    assert names[:4] == ["docker", "podman", "buildah", "debootstrap"]
    assert [n for n in names if n.split()[0] in ("aws", "gcp", "azure")] == [
        "aws sdk",
        "aws credentials",
        "gcp sdk",
        "gcp credentials",
        "azure sdk",
        "azure credentials",
    ]
    # An SDK that is not installed names the extra that installs it; its credentials are then not checked.
    platforms = [
        replace(p, sdk_modules=("google.cloud.run_v2", "mlspec_no_such_sdk.sub")) if p.cloud == "gcp" else p
        for p in all_platforms()
    ]
    found = {c.name: c for c in doctor.checks(None, platforms)}
    assert not found["gcp sdk"].ok and found["gcp sdk"].detail == (
        "missing mlspec_no_such_sdk.sub: pip install 'mlspec[gcp]'"
    )
    assert not found["gcp credentials"].ok and "install the gcp SDK first" in found["gcp credentials"].detail


def test_doctor_says_which_optional_executors_are_installed_and_how_to_add_one() -> None:
    from mlspec.actions import doctor

    found = {c.name: c for c in doctor.checks(None)}
    assert found["ray executor"].ok and found["ray executor"].detail == "installed: mlspec run SPEC --executor ray"
    missing = doctor._executor("ray", "mlspec_no_such_ray")
    assert not missing.ok and missing.detail == "missing mlspec_no_such_ray: pip install 'mlspec[ray]'"
