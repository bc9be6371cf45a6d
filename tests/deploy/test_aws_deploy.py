"""`mlspec deploy/destroy --target aws-lambda` against moto in server mode on loopback: the real boto3
calls, the real HTTP round trips; only the account is moto's."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from mlspec import spec
from mlspec.cli import main
from mlspec.deploy import deploy
from mlspec.deploy.deployment import deployment_for, load_manifest
from mlspec.deploy.images import RegistryLogin, pinned, push_commands, repository_of
from mlspec.platforms.aws_lambda import deploy as aws_deploy
from mlspec.platforms.aws_lambda.deploy import HASH_TAG, PIPELINE_TAG, AwsLambdaDeployer, role_name
from mlspec.spec.models import Pipeline

# Planned per stage: the stage's own limits, else the target's; concurrency is the stage's workers.
PLANNED = {
    "mlspec-deploytest-prep": (1024, 300, 1),
    "mlspec-deploytest-train": (2048, 600, 3),
    "mlspec-deploytest-eval": (1024, 300, 1),
}


def test_deploy_creates_bucket_role_and_functions_with_the_planned_limits_then_is_a_no_op(
    aws_env: str, built: tuple[Pipeline, Path]
) -> None:
    pipeline, build_dir = built
    deployment = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    report = deploy(AwsLambdaDeployer(deployment.settings), deployment)
    assert report.changed
    # Contexts only (--engine none): nothing to push, and each function's note says so.
    assert not any(c.operation == "push_image" for c in report.calls)
    assert len(report.notes) == 3 and all("not built" in n for n in report.notes)

    lam, s3, iam, ecr = (boto3.client(s) for s in ("lambda", "s3", "iam", "ecr"))
    s3.head_bucket(Bucket="mlspec-deploytest-objects")
    role = iam.get_role(RoleName="mlspec-deploytest-lambda")["Role"]
    assert {"Key": PIPELINE_TAG, "Value": "deploytest"} in role["Tags"]
    assert "mlspec-deploytest-objects" in str(
        iam.get_role_policy(RoleName=role["RoleName"], PolicyName="mlspec-run")["PolicyDocument"]
    )
    for name, (memory, timeout, workers) in PLANNED.items():
        config = lam.get_function_configuration(FunctionName=name)
        assert (config["MemorySize"], config["Timeout"], config["PackageType"]) == (memory, timeout, "Image")
        assert config["Role"] == role["Arn"]
        function = lam.get_function(FunctionName=name)
        assert function["Concurrency"]["ReservedConcurrentExecutions"] == workers
        stage = name.rsplit("-", 1)[1]
        context = next(f for f in deployment.functions if f.stage == stage)
        assert function["Tags"][HASH_TAG] == context.context_hash
        repository, tag = context.image.split(":")
        assert function["Code"]["ImageUri"] == f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repository}:{tag}"
        ecr.describe_repositories(repositoryNames=[repository])

    again = deploy(AwsLambdaDeployer(deployment.settings), deployment)
    assert again.calls == [] and not again.changed


def test_a_changed_limit_updates_only_the_functions_it_applies_to(aws_env: str, built: tuple[Pipeline, Path]) -> None:
    pipeline, build_dir = built
    deployment = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    deploy(AwsLambdaDeployer(deployment.settings), deployment)
    pipeline.targets.aws_lambda.memory_mb = 1536  # type: ignore[union-attr]
    changed = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    calls = AwsLambdaDeployer(changed.settings).plan_calls(changed)
    # train has its own memory_mb: untouched.
    assert [(c.operation, c.params["FunctionName"]) for c in calls] == [
        ("update_function_configuration", "mlspec-deploytest-prep"),
        ("update_function_configuration", "mlspec-deploytest-eval"),
    ]
    assert calls[0].why == "memory 1024 -> 1536"
    AwsLambdaDeployer(changed.settings).apply(calls)
    config = boto3.client("lambda").get_function_configuration(FunctionName="mlspec-deploytest-eval")
    assert config["MemorySize"] == 1536


def test_a_built_image_is_pushed_through_the_engine_command_lines_not_executed_here(
    aws_env: str, built: tuple[Pipeline, Path]
) -> None:
    """No registry can be reached here: the push step is checked as far as its call and command lines."""
    pipeline, build_dir = built
    deployment = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    functions = tuple(dataclasses.replace(f, image_built=True) for f in deployment.functions)
    deployer = AwsLambdaDeployer(deployment.settings)
    calls = deployer.plan_calls(dataclasses.replace(deployment, functions=functions))
    pushes = [c for c in calls if c.operation == "push_image"]
    assert len(pushes) == 3
    # The repository is created before the push, the push happens before the function points at it.
    order = [(c.service, c.operation) for c in calls]
    assert (
        order.index(("ecr", "create_repository"))
        < order.index(("ecr", "push_image"))
        < order.index(("lambda", "create_function"))
    )
    image, uri = pushes[0].params["image"], pushes[0].params["uri"]
    registry = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    assert push_commands("/usr/bin/podman", image, uri, registry, "AWS", "/tmp/d") == [
        ["/usr/bin/podman", "login", "--username", "AWS", "--password-stdin", registry],
        ["/usr/bin/podman", "tag", image, uri],
        ["/usr/bin/podman", "push", "--digestfile", "/tmp/d", uri],
    ]
    # docker has no digest file: the digest comes from its output
    docker_push = push_commands("/usr/bin/docker", image, uri, registry, "AWS", "/tmp/d")[2]
    assert docker_push == ["/usr/bin/docker", "push", uri]


def test_destroy_removes_only_what_deploy_created(aws_env: str, built: tuple[Pipeline, Path]) -> None:
    pipeline, build_dir = built
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="mlspec-deploytest-objects")  # the user's own bucket, there before deploy
    deployment = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    report = deploy(AwsLambdaDeployer(deployment.settings), deployment)
    assert not any(c.service == "s3" for c in report.calls)
    destroy_calls = AwsLambdaDeployer(deployment.settings).destroy_calls(deployment_for(pipeline, "aws-lambda", None))
    assert {(c.service, c.operation) for c in destroy_calls} == {
        ("lambda", "delete_function"),
        ("ecr", "delete_repository"),
        ("iam", "delete_role_policy"),
        ("iam", "delete_role"),
    }
    AwsLambdaDeployer(deployment.settings).apply(destroy_calls)
    s3.head_bucket(Bucket="mlspec-deploytest-objects")  # still there
    assert boto3.client("lambda").list_functions()["Functions"] == []
    with pytest.raises(boto3.client("iam").exceptions.NoSuchEntityException):
        boto3.client("iam").get_role(RoleName=role_name(deployment))


def test_cli_dry_run_then_deploy_twice_then_destroy(aws_env: str, built: tuple[Pipeline, Path], aws_spec: Path) -> None:
    _, build_dir = built
    runner = CliRunner()
    args = [str(aws_spec), "--target", "aws-lambda", "--build-dir", str(build_dir)]

    dry = runner.invoke(main, ["deploy", *args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (
        "would make 13 calls" in dry.output
        and "lambda.create_function  (missing: mlspec-deploytest-train, 2048 MB, 600 s)" in dry.output
    )
    assert '"MemorySize": 2048' in dry.output and "dry run: nothing was changed" in dry.output
    assert boto3.client("lambda").list_functions()["Functions"] == []  # nothing made

    first = runner.invoke(main, ["deploy", *args])
    assert first.exit_code == 0, first.output
    assert "made 13 calls for deploytest on aws-lambda (us-east-1)" in first.output
    second = runner.invoke(main, ["deploy", *args])
    assert second.exit_code == 0 and "no changes: deploytest on aws-lambda (us-east-1) is up to date" in second.output

    refused = runner.invoke(main, ["destroy", str(aws_spec), "--target", "aws-lambda"], input="n\n")
    assert refused.exit_code == 1 and len(boto3.client("lambda").list_functions()["Functions"]) == 3
    gone = runner.invoke(main, ["destroy", str(aws_spec), "--target", "aws-lambda", "--yes"])
    assert gone.exit_code == 0, gone.output
    assert "s3.empty_bucket" in gone.output and "destroyed: deploytest" in gone.output
    assert boto3.client("lambda").list_functions()["Functions"] == []
    assert boto3.client("ecr").describe_repositories()["repositories"] == []
    assert "mlspec-deploytest-objects" not in [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]]
    nothing = runner.invoke(main, ["destroy", str(aws_spec), "--target", "aws-lambda", "--yes"])
    assert "nothing to destroy" in nothing.output


def test_deploy_without_a_build_says_how_to_make_one(aws_env: str, aws_spec: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["deploy", str(aws_spec), "--target", "aws-lambda", "--build-dir", str(tmp_path / "nowhere")]
    )
    assert result.exit_code == 2
    assert "no build found at" in result.output and "mlspec build" in result.output


def test_functions_run_their_image_by_the_pushed_digest_push_via_moto_put_image(
    aws_env: str, built: tuple[Pipeline, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto's ECR takes no container-engine push, so the push step stores a manifest with ECR's own
    put_image and answers with the digest ECR gives it (the engine's push itself is run against a real
    registry in tests/executors/test_platform_images.py). Functions must point at that digest, and a
    second deploy must find nothing to change."""
    ecr = boto3.client("ecr")

    def push(image: str, uri: str, login: RegistryLogin) -> str:
        repository, tag = uri.split("/", 1)[1].rsplit(":", 1)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": {"digest": f"sha256:{'0' * 64}"},
                "layers": [],
                "annotations": {"image": image},
            }
        )
        digest = ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]["imageId"]
        return f"{uri.rsplit(':', 1)[0]}@{digest['imageDigest']}"

    monkeypatch.setattr(aws_deploy, "push_with_engine", push)
    monkeypatch.setattr(AwsLambdaDeployer, "registry_login", lambda self: RegistryLogin("ecr", "AWS", "token"))
    pipeline, build_dir = built
    deployment = deployment_for(pipeline, "aws-lambda", load_manifest(build_dir, pipeline.name))
    deployment = dataclasses.replace(
        deployment, functions=tuple(dataclasses.replace(f, image_built=True) for f in deployment.functions)
    )
    report = deploy(AwsLambdaDeployer(deployment.settings), deployment)
    assert len(report.pushed) == 3
    lam = boto3.client("lambda")
    for function in deployment.functions:
        uri = lam.get_function(FunctionName=function.name)["Code"]["ImageUri"]
        assert "@sha256:" in uri and uri in report.pushed.values()
    again = deploy(AwsLambdaDeployer(deployment.settings), deployment)
    assert again.calls == [] and again.pushed == {}


def test_pinned_replaces_only_pushed_image_uris() -> None:
    pushed = {"r.example/app:abc": "r.example/app@sha256:" + "1" * 64}
    params = {
        "Code": {"ImageUri": "r.example/app:abc"},
        "linux": "DOCKER|r.example/app:abc",
        "other": ["r.example/app:def", "text"],
    }
    assert pinned(params, pushed) == {
        "Code": {"ImageUri": pushed["r.example/app:abc"]},
        "linux": f"DOCKER|{pushed['r.example/app:abc']}",
        "other": ["r.example/app:def", "text"],
    }
    assert repository_of(pushed["r.example/app:abc"]) == repository_of("r.example/app:abc") == "r.example/app"


def test_deploy_follows_a_plan_dry_run_against_moto(aws_env: str, aws_spec: Path, tmp_path: Path) -> None:
    from tests.planner.conftest import imdb_usage, write_run

    usage = imdb_usage()
    runs = tmp_path / "runs"
    spec_data = spec.load(aws_spec).model_dump(mode="json", by_alias=True)
    write_run(
        runs, "deploytest", {"prep": usage["prep"], "train": usage["train"], "eval": usage["evaluate"]}, spec_data
    )
    runner = CliRunner()
    plan_file = tmp_path / "plan.json"
    planned = runner.invoke(main, ["plan", str(aws_spec), "--runs-dir", str(runs), "--out", str(plan_file)])
    assert planned.exit_code == 0, planned.output
    plan = {s["stage"]: s for s in json.loads(plan_file.read_text())["stages"]}
    assert {s["platform"] for s in plan.values()} == {"aws-lambda:x86_64"}
    build_dir = tmp_path / "build"
    built = runner.invoke(
        main, ["build", str(aws_spec), "--plan", str(plan_file), "--engine", "none", "--out", str(build_dir)]
    )
    assert built.exit_code == 0, built.output
    dry = runner.invoke(
        main, ["deploy", str(aws_spec), "--plan", str(plan_file), "--build-dir", str(build_dir), "--dry-run"]
    )
    assert dry.exit_code == 0, dry.output
    for stage, placed in plan.items():
        # The planned memory (the spec says 2048 MB for train, 1024 MB for the others) and the planned
        # workers as the function's reserved concurrency.
        assert f"(missing: mlspec-deploytest-{stage}, {placed['memory_mb']} MB," in dry.output, dry.output
    assert f'"ReservedConcurrentExecutions": {plan["train"]["workers"]}' in dry.output, dry.output
    assert "dry run: nothing was changed" in dry.output
    assert boto3.client("lambda").list_functions()["Functions"] == []
