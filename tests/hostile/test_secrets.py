"""Secrets and hostile strings in a spec: credentials in store URLs reach the functions that need them but
no record, file or terminal line; a credential file that is broken is called invalid, not missing; terminal
control sequences in spec strings are shown escaped, never sent to the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port, redis_server

REDIS_PASSWORD = "s3cretRedisPw"
S3_PASSWORD = "s3cretS3Pw"
DOWNLOAD_PASSWORD = "s3cretDownloadPw"
SECRETS = (REDIS_PASSWORD, S3_PASSWORD, DOWNLOAD_PASSWORD)

SPEC = """
name: secretive
seed: 0
datasets:
  reviews: {{format: imdb, {source}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 2000}}
  train: {{kind: train, data: prep, model: logistic_regression, epochs: 1, workers: 2}}
  eval: {{kind: evaluate, model: train}}
storage:
  object_store: {{kind: s3, bucket: hostile-secrets, endpoint_url: "{endpoint}"}}
  param_store: {{kind: redis, url: "{redis}"}}
"""
SYNTHETIC = "synthetic: {train_size: 200, test_size: 64, seed: 0}"


def mlspec(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )


def test_credentials_in_store_urls_are_used_but_never_written_or_shown(s3_endpoint: str, tmp_path: Path) -> None:
    import boto3

    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket="hostile-secrets")
    endpoint = s3_endpoint.replace("http://", f"http://alice:{S3_PASSWORD}@")
    (tmp_path / "redis").mkdir()
    with redis_server(tmp_path / "redis", password=REDIS_PASSWORD) as redis:
        assert REDIS_PASSWORD in redis.url
        (tmp_path / "pipeline.yaml").write_text(SPEC.format(source=SYNTHETIC, endpoint=endpoint, redis=redis.url))
        run = mlspec("run", "pipeline.yaml", "--json", "--runs-dir", "runs", cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        record = json.loads(run.stdout)
        run_id = record["run_id"]
        shown = [run] + [
            mlspec(*args, cwd=tmp_path)
            for args in (
                ("runs", "list", "--runs-dir", "runs"),
                ("runs", "show", run_id, "--runs-dir", "runs"),
                ("compare", run_id, "--runs-dir", "runs"),
                ("compare", run_id, "--runs-dir", "runs", "--format", "json"),
                ("compare", run_id, "--runs-dir", "runs", "--format", "md"),
                ("doctor", "--redis-url", redis.url),
            )
        ]
        # A credential in a download URL, in an error message (the port is closed: the download fails).
        spec = SPEC.format(
            source=f'path: "http://bob:{DOWNLOAD_PASSWORD}@127.0.0.1:{free_port()}/imdb.tar.gz"',
            endpoint=endpoint,
            redis=redis.url,
        )
        (tmp_path / "download.yaml").write_text(spec)
        failed = mlspec("run", "download.yaml", "--runs-dir", "runs", cwd=tmp_path)
    assert failed.returncode != 0 and "download failed" in failed.stderr, failed.stderr[-2000:]
    assert "http://bob:***@127.0.0.1" in failed.stderr
    for proc in [*shown, failed]:
        for secret in SECRETS:
            assert secret not in proc.stdout + proc.stderr, (proc.args, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "redis redis://:***@127.0.0.1" in shown[-1].stdout and "reachable (PING)" in shown[-1].stdout
    # Nothing under the run's directory holds a secret: record, spec.json, logs, local stores.
    files = [path for path in (tmp_path / "runs").rglob("*") if path.is_file()]
    assert any(path.name == "spec.json" for path in files) and any(path.suffix == ".log" for path in files)
    for path in files:
        data = path.read_bytes()
        assert not [s for s in SECRETS if s.encode() in data], path
    # The record keeps where the stores are, with the credential masked ...
    storage = record["spec"]["storage"]
    assert storage["param_store"]["url"] == f"redis://:***@127.0.0.1:{redis.port}/0"
    assert storage["object_store"]["endpoint_url"] == s3_endpoint.replace("http://", "http://alice:***@")
    # ... while the functions used the real ones: the workers exchanged the model through the password-protected
    # Redis, and the data went to the S3 bucket.
    train = [i for i in record["invocations"] if i["stage"] == "train"]
    assert train and all(i["io"]["param_requests"] > 0 for i in train)
    keys = boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(Bucket="hostile-secrets")
    assert keys.get("KeyCount", 0) > 0


@pytest.mark.parametrize(
    ("variables", "check", "why"),
    [
        ({"GOOGLE_APPLICATION_CREDENTIALS": "{garbage}"}, "gcp credentials", "is not a valid json file"),
        ({"GOOGLE_APPLICATION_CREDENTIALS": "{folder}"}, "gcp credentials", "cannot read it: Is a directory"),
        (
            {"AWS_SHARED_CREDENTIALS_FILE": "{garbage}", "AWS_CONFIG_FILE": "{garbage}"},
            "aws credentials",
            "Unable to parse config file",
        ),
        (
            {"AZURE_CLIENT_ID": "id", "AZURE_TENANT_ID": "tenant", "AZURE_CLIENT_CERTIFICATE_PATH": "{garbage}"},
            "azure credentials",
            "Failed to deserialize certificate",
        ),
    ],
)
def test_doctor_calls_a_broken_credentials_file_invalid_and_says_why(
    tmp_path: Path, variables: dict[str, str], check: str, why: str
) -> None:
    garbage = tmp_path / "key.json"
    garbage.write_bytes(b"garbage{{\x00 not a key")
    (tmp_path / "folder").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_", "AZURE_"))}
    env.update({k: v.format(garbage=garbage, folder=tmp_path / "folder") for k, v in variables.items()})
    env["HOME"] = str(tmp_path)  # no credentials of this machine's user
    proc = mlspec("doctor", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(line for line in proc.stdout.splitlines() if check in line)
    assert line.startswith("invalid ") and why in line, proc.stdout


def test_control_sequences_in_spec_strings_are_shown_escaped(tmp_path: Path) -> None:
    hostile = "evil \x1b[31mRED\x1b]0;title\x07 done"
    spec = f"""
name: escapes
description: {json.dumps(hostile)}
seed: 0
datasets:
  reviews: {{format: imdb, {SYNTHETIC}}}
stages:
  prep: {{kind: preprocess, dataset: reviews, max_features: 2000, description: {json.dumps(hostile)}}}
  train: {{kind: train, data: prep, model: logistic_regression, epochs: 1}}
  eval: {{kind: evaluate, model: train}}
"""
    (tmp_path / "pipeline.yaml").write_text(spec)
    run_ids = []
    for _ in range(2):
        run = mlspec("run", "pipeline.yaml", "--json", "--runs-dir", "runs", cwd=tmp_path)
        assert run.returncode == 0, run.stderr[-3000:]
        run_ids.append(json.loads(run.stdout)["run_id"])
    assert json.loads(run.stdout)["spec"]["description"] == hostile  # kept as written in the record
    outputs = {
        fmt: mlspec("compare", *run_ids, "--runs-dir", "runs", "--all", "--format", fmt, cwd=tmp_path)
        for fmt in ("terminal", "md", "csv")
    }
    outputs["runs list"] = mlspec("runs", "list", "--runs-dir", "runs", cwd=tmp_path)
    outputs["runs show"] = mlspec("runs", "show", run_ids[0], "--runs-dir", "runs", cwd=tmp_path)
    for what, proc in outputs.items():
        assert proc.returncode == 0, (what, proc.stderr[-2000:])
        assert not any(c in proc.stdout + proc.stderr for c in "\x1b\x07"), (what, proc.stdout[-3000:])
    for fmt in ("md", "csv"):
        assert "evil \\x1b[31mRED\\x1b]0;title\\x07 done" in outputs[fmt].stdout, outputs[fmt].stdout
    assert "\\x1b[31mRED" in outputs["terminal"].stdout
