"""Build contexts: reproducible, content-hashed, one function's requirements only, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import spec as spec_module
from mlspec.cli import main
from mlspec.compile.build import FIXED_MTIME, BuildResult, build, context_hash
from mlspec.providers.registry import image_platforms
from tests.compile.conftest import ALL_TARGETS, SPEC, TEXT_SPEC, load, manifest
from tests.models.test_imported_models import NETS


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


BROUGHT_MODEL = (
    """
name: brought
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 100, test_size: 50}}
stages:
  prep: {kind: preprocess, dataset: images}
  tune: {kind: tune, data: prep, epochs: 1, trials: 2, search: grid, space: {learning_rate: {values: [0.1, 0.3]}}}
  train: {kind: train, data: prep, model: "nets.py:TinyNet", workers: 2, epochs: 1, hyperparameters: tune}
  evaluate: {kind: evaluate, model: train}
  serve: {kind: serve, model: train}
"""
    + ALL_TARGETS
)

BROUGHT_TRANSFORM = (
    """
name: transformed
datasets:
  reviews: {format: imdb, synthetic: {train_size: 100, test_size: 50}}
stages:
  prep: {kind: preprocess, dataset: reviews, transform: "text.py:lower"}
  train: {kind: train, data: prep, model: logistic_regression, workers: 2}
  serve: {kind: serve, model: train}
"""
    + ALL_TARGETS
)

TEXT = "def lower(texts):\n    return [t.lower() for t in texts]\n"


def _build_beside(folder: Path, spec: str, files: dict[str, str], out: Path) -> BuildResult:
    """Build the spec written into folder beside the files it names by import path."""
    for name, source in files.items():
        (folder / name).write_text(source)
    (folder / "pipeline.yaml").write_text(spec)
    return build(spec_module.load(folder / "pipeline.yaml"), out, engine="none")


def _brought(result: BuildResult, stage: str) -> dict[str, dict[str, bytes]]:
    """platform -> the files under user_code/ of the stage's context there, as written."""
    found: dict[str, dict[str, bytes]] = {}
    for context in result.contexts:
        if context.stage == stage:
            directory = result.directory / context.name / "user_code"
            files = sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []
            found[context.platform] = {p.relative_to(directory).as_posix(): p.read_bytes() for p in files}
    return found


def test_a_brought_model_file_travels_into_the_contexts_that_run_it(tmp_path: Path) -> None:
    first = _build_beside(tmp_path, BROUGHT_MODEL, {"nets.py": NETS}, tmp_path / "a")
    expected = {f"{hashlib.sha256(NETS.encode()).hexdigest()[:16]}/nets.py": NETS.encode()}
    for stage in ("train", "tune", "evaluate", "serve"):
        assert _brought(first, stage) == {p: expected for p in image_platforms()}, stage
    assert _brought(first, "prep") == {p: {} for p in image_platforms()}
    for context in first.contexts:
        dockerfile = (first.directory / context.name / "Dockerfile").read_text()
        copies = [line for line in dockerfile.splitlines() if line.startswith("COPY user_code ")]
        assert len(copies) == (context.stage != "prep"), context.name
        app = "/home/site/wwwroot" if context.platform == "azure-functions" else "/app"
        assert all(line == f"COPY user_code {app}/user_code" for line in copies), context.name

    # One character more in the file: the contexts that run it change, the others keep their hash.
    changed = _build_beside(tmp_path, BROUGHT_MODEL, {"nets.py": NETS + "\n"}, tmp_path / "b")
    before = {c["name"]: c["hash"] for c in first.manifest["contexts"]}
    after = {c["name"]: c["hash"] for c in changed.manifest["contexts"]}
    differ = {name for name in before if before[name] != after[name]}
    assert differ == {f"{s}-{p}" for s in ("train", "tune", "evaluate", "serve") for p in image_platforms()}
    assert set(_brought(changed, "train")["local"].values()) == {(NETS + "\n").encode()}
    # The same file again: the same contexts.
    again = _build_beside(tmp_path, BROUGHT_MODEL, {"nets.py": NETS}, tmp_path / "c")
    assert [c["hash"] for c in again.manifest["contexts"]] == [c["hash"] for c in first.manifest["contexts"]]


def test_a_brought_transform_travels_into_the_preprocess_and_serve_contexts(tmp_path: Path) -> None:
    result = _build_beside(tmp_path, BROUGHT_TRANSFORM, {"text.py": TEXT}, tmp_path / "out")
    expected = {f"{hashlib.sha256(TEXT.encode()).hexdigest()[:16]}/text.py": TEXT.encode()}
    for stage in ("prep", "serve"):
        assert _brought(result, stage) == {p: expected for p in image_platforms()}, stage
    assert _brought(result, "train") == {p: {} for p in image_platforms()}  # the model is a built-in
