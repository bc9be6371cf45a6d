"""The offline base image and wheelhouse plumbing: mirror discovery, clear errors, build commands, and
the runtime templates shipped inside the package. (The real bootstrap and builds are exercised in
tests/executors/test_local_container.py.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlspec
from mlspec.cli import main
from mlspec.compile.base_image import apt_mirror, ensure_base_image
from mlspec.compile.build import build
from mlspec.compile.engines import WHEELHOUSE_MOUNT, WHEELHOUSE_PIP_OPTIONS, EngineError, cli_engine
from mlspec.providers.registry import get_platform, image_platforms
from tests.compile.conftest import TEXT_SPEC, load


def test_apt_mirror_from_one_line_and_deb822_sources(tmp_path: Path) -> None:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list").write_text("# comment\ndeb http://security.debian.org/debian-security bookworm main\n")
    assert apt_mirror(tmp_path) is None
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    assert apt_mirror(tmp_path) == "http://mirror.example/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://one.example/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://one.example/debian"


def test_this_machine_has_a_mirror() -> None:
    if not Path("/etc/apt").is_dir():
        pytest.skip("not a Debian-like machine")
    mirror = apt_mirror()
    assert mirror is not None and mirror.startswith(("http", "file:"))


def test_missing_debootstrap_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = cli_engine("podman") or cli_engine("buildah")
    if engine is None:
        pytest.skip("neither podman nor buildah is installed")
    monkeypatch.setenv("PATH", str(tmp_path))  # no debootstrap on it; the engine's path is absolute
    with pytest.raises(EngineError, match="debootstrap not found"):
        ensure_base_image(engine, lambda text: None, tag="localhost/mlspec-test-absent:none", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-made left behind


def test_wheelhouse_build_mounts_it_and_installs_offline(tmp_path: Path) -> None:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    engine = cli_engine("podman")
    assert engine is not None
    command = engine.command(tmp_path / "ctx", "img:1", tmp_path / "wheels")
    assert command[command.index("--volume") + 1] == f"{(tmp_path / 'wheels').resolve()}:{WHEELHOUSE_MOUNT}:ro"
    assert command[command.index("--build-arg") + 1] == f"PIP_OPTIONS={WHEELHOUSE_PIP_OPTIONS}"
    assert "--no-index" in WHEELHOUSE_PIP_OPTIONS
    assert "--volume" not in engine.command(tmp_path / "ctx", "img:1")


def test_context_hashes_do_not_depend_on_the_wheelhouse(tmp_path: Path) -> None:
    plain = build(load(TEXT_SPEC), tmp_path / "a", engine="none", targets=["local"])
    with_wheels = build(load(TEXT_SPEC), tmp_path / "b", engine="none", targets=["local"], wheelhouse=tmp_path / "w")
    assert [c.digest for c in plain.contexts] == [c.digest for c in with_wheels.contexts]
    assert not (tmp_path / "w").exists()  # no engine: nothing to fill it for


def test_requirements_are_shared_byte_for_byte_between_functions_with_the_same_packages(tmp_path: Path) -> None:
    result = build(load(TEXT_SPEC), tmp_path, engine="none", targets=["local"])
    texts = {
        (result.directory / c.name / "requirements.txt").read_text()
        for c in result.contexts
        if c.stage in ("train", "evaluate")
    }
    assert len(texts) == 1  # so an engine's layer cache installs them once


def test_bootstrap_base_and_base_image_exclude_each_other(tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(TEXT_SPEC)
    result = CliRunner().invoke(
        main, ["build", str(spec), "--out", str(tmp_path), "--bootstrap-base", "--base-image", "x:1"]
    )
    assert result.exit_code == 2
    assert "exclude each other" in result.output


def test_image_templates_ship_inside_the_package() -> None:
    package = Path(mlspec.__file__).resolve().parent
    for platform in image_platforms():
        image = get_platform(platform).image
        assert image is not None
        folder = image.template_dir()
        assert folder.is_relative_to(package / "platforms") and (folder / "Dockerfile.tmpl").is_file(), platform
    assert set(image_platforms()) >= {"local", "aws-lambda", "gcp-cloud-run", "azure-functions"}
