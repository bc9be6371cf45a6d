"""Build contexts: reproducible, content-hashed, one function's requirements only, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.compile.build import FIXED_MTIME, BuildResult, build, context_hash
from mlspec.providers.registry import image_platforms
from tests.compile.conftest import SPEC, TEXT_SPEC, load, manifest


def _tree(root: Path) -> dict[str, tuple[bytes, int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode, int(p.stat().st_mtime))
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_one_context_per_function_and_platform(built: BuildResult) -> None:
    data = manifest(built.directory)
    names = {entry["name"] for entry in data["contexts"]}
    stages = ("prep_images", "train_images", "eval_images", "prep_reviews", "train_reviews", "eval_reviews")
    assert names == {f"{s}-{p}" for s in stages for p in image_platforms()}
    for entry in data["contexts"]:
        directory = built.directory / entry["dir"]
        files = {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}
        assert context_hash(files) == entry["hash"]
        assert entry["tag"] == f"mlspec-both-{entry['stage']}-{entry['platform']}:{entry['hash'][:12]}"
        assert entry["image"] == {"built": False, "engine": None, "error": None}
        for name in ("Dockerfile", ".dockerignore", "requirements.txt", "function.json", "mlspec/runtime/__init__.py"):
            assert name in files, (entry["name"], name)
        assert "{{" not in files["Dockerfile"].decode()
        config = json.loads(files["function.json"])
        assert config["event"]["function"] == entry["function"]
        assert config["stage"] == entry["stage"]


def test_building_twice_gives_identical_contexts(tmp_path: Path) -> None:
    first = build(load(SPEC), tmp_path / "a", engine="none")
    second = build(load(SPEC), tmp_path / "b", engine="none")
    assert [c["hash"] for c in manifest(first.directory)["contexts"]] == [
        c["hash"] for c in manifest(second.directory)["contexts"]
    ]
    assert _tree(first.directory) == _tree(second.directory)
    assert all(int(p.stat().st_mtime) == FIXED_MTIME for p in first.directory.rglob("*"))
    # building again into the same place replaces the build, leaving no temporary directories
    build(load(SPEC), tmp_path / "a", engine="none")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["both"]
    assert _tree(first.directory) == _tree(second.directory)


def test_changing_one_stage_changes_only_its_hashes(tmp_path: Path) -> None:
    before = {c["name"]: c["hash"] for c in build(load(SPEC), tmp_path / "a", engine="none").manifest["contexts"]}
    changed = build(load(SPEC, ["stages.train_reviews.learning_rate=0.5"]), tmp_path / "b", engine="none")
    after = {c["name"]: c["hash"] for c in changed.manifest["contexts"]}
    differ = {name for name in before if before[name] != after[name]}
    assert differ == {f"train_reviews-{p}" for p in image_platforms()}


def test_text_only_pipeline_ships_no_torch(tmp_path: Path) -> None:
    result = build(load(TEXT_SPEC), tmp_path, engine="none")
    assert len(result.contexts) == 3 * len(image_platforms())
    for context in result.contexts:
        requirements = (result.directory / context.name / "requirements.txt").read_text()
        assert "torch" not in requirements and "scikit-learn" not in requirements, context.name
        assert "scipy==" in requirements
    images = build(load(SPEC), tmp_path / "images", engine="none", targets=["local"])
    by_stage = {c.stage: (images.directory / c.name / "requirements.txt").read_text() for c in images.contexts}
    assert "torch==" in by_stage["train_images"]
    assert "torch" not in by_stage["prep_images"] and "scikit-learn" not in by_stage["prep_images"]


def test_requirements_are_pinned_to_installed_versions(built: BuildResult) -> None:
    from importlib.metadata import version

    for context in built.contexts:
        assert f"numpy=={version('numpy')}" in context.requirements
        assert context.unpinned == () or set(context.unpinned) <= {"awslambdaric", "azure-functions"}


def test_base_image_is_rendered_into_the_dockerfile(tmp_path: Path) -> None:
    result = build(load(TEXT_SPEC), tmp_path, engine="none", targets=["aws-lambda"], base_image="localhost/base:1")
    for context in result.contexts:
        assert "FROM localhost/base:1\n" in (result.directory / context.name / "Dockerfile").read_text()


def test_cli_engine_none_writes_contexts_and_a_note(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TEXT_SPEC)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", str(spec), "--out", str(out), "--engine", "none", "--target", "aws-lambda", "--target", "local"]
    )
    assert result.exit_code == 0, result.output
    assert "contexts only" in result.output
    data = manifest(out / "text")
    assert {c["platform"] for c in data["contexts"]} == {"aws-lambda", "local"}
    assert not any(c["image"]["built"] for c in data["contexts"])


def test_cli_no_engine_found_is_a_note_not_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TEXT_SPEC)
    result = CliRunner().invoke(main, ["build", str(spec), "--out", str(tmp_path / "out"), "--target", "local"])
    assert result.exit_code == 0, result.output
    assert "apt-get install podman buildah" in result.output
    assert "podman" in result.output and "buildah" in result.output and "Docker" in result.output


def test_cli_fake_engine_failure_exits_1_and_marks_not_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "podman"
    fake.write_text("#!/bin/sh\necho 'STEP 1/9: FROM somewhere'\necho 'Error: fake engine says no' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TEXT_SPEC)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["build", str(spec), "--out", str(out), "--engine", "podman", "--target", "local"]
    )
    assert result.exit_code == 1, result.output
    assert "fake engine says no" in result.output
    data = manifest(out / "text")
    assert data["engine"] == "podman"
    assert all(not c["image"]["built"] and c["image"]["error"] for c in data["contexts"])
    assert all((out / "text" / c["dir"] / "Dockerfile").is_file() for c in data["contexts"])


def test_cli_unconfigured_target_is_a_usage_error(tmp_path: Path) -> None:
    spec = tmp_path / "pipeline.yaml"
    spec.write_text(TEXT_SPEC.split("targets:")[0])
    result = CliRunner().invoke(
        main, ["build", str(spec), "--out", str(tmp_path / "out"), "--engine", "none", "--target", "aws-lambda"]
    )
    assert result.exit_code == 2
    assert "not configured" in result.output
