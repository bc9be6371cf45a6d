"""Dataset paths: relative ones in a spec resolve against the spec's folder (--set ones against the current
directory), and validate/run check local files before anything else (issue 17.4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import spec
from mlspec.cli import main

SPEC = """\
name: paths
datasets:
  imdb:
    format: imdb
    path: {path}
stages:
  prep: {{kind: preprocess, dataset: imdb}}
"""


def write_imdb(root: Path) -> Path:
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            (root / "aclImdb" / split / label).mkdir(parents=True)
            (root / "aclImdb" / split / label / "0_1.txt").write_text("a review")
    return root / "aclImdb"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """project/pipeline.yaml next to project/data/aclImdb; the current directory is elsewhere."""
    write_imdb(tmp_path / "project" / "data")
    (tmp_path / "project" / "pipeline.yaml").write_text(SPEC.format(path="data/aclImdb"))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "project"


def test_relative_path_in_the_spec_is_relative_to_the_spec_folder(project: Path) -> None:
    notes: list[str] = []
    pipeline = spec.load(Path("..") / "project" / "pipeline.yaml", note=notes.append)
    assert pipeline.datasets["imdb"].path == str(project / "data" / "aclImdb")
    assert notes == []
    result = CliRunner().invoke(main, ["validate", "../project/pipeline.yaml"])
    assert result.exit_code == 0 and result.output.startswith("../project/pipeline.yaml: ok"), result.output


def test_set_paths_are_relative_to_the_current_directory(project: Path) -> None:
    write_imdb(Path.cwd() / "mine")
    pipeline = spec.load(project / "pipeline.yaml", ["datasets.imdb.path=mine/aclImdb"])
    assert pipeline.datasets["imdb"].path == str(Path.cwd() / "mine" / "aclImdb")


def test_old_current_directory_form_still_works_with_one_note(project: Path) -> None:
    write_imdb(Path.cwd() / "cwd-data")
    (project / "old.yaml").write_text(SPEC.format(path="cwd-data/aclImdb"))
    notes: list[str] = []
    pipeline = spec.load(project / "old.yaml", note=notes.append)
    assert pipeline.datasets["imdb"].path == str(Path.cwd() / "cwd-data" / "aclImdb")
    assert len(notes) == 1 and "resolve against the spec's folder" in notes[0] and "\n" not in notes[0]
    result = CliRunner().invoke(main, ["validate", str(project / "old.yaml")])
    assert result.exit_code == 0
    assert [line.startswith("note:") for line in result.output.splitlines()] == [True, False], result.output


def test_absolute_url_and_home_paths_are_kept(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(project))
    for given, expected in (
        ("~/data/aclImdb", str(project / "data" / "aclImdb")),
        ("https://example.com/x.tar.gz", "https://example.com/x.tar.gz"),
        (str(project / "data" / ".." / "data"), str(project / "data")),
    ):
        pipeline = spec.load(project / "pipeline.yaml", [f"datasets.imdb.path={given}"])
        assert pipeline.datasets["imdb"].path == expected


def test_validate_checks_local_files_and_notes_urls(project: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["validate", str(project / "pipeline.yaml"), "--set", "datasets.imdb.path=/tmp/nope.tar.gz"]
    )
    assert result.exit_code == 2
    assert result.output == "error: dataset 'imdb': /tmp/nope.tar.gz: no such file\n"
    (project / "data" / "aclImdb" / "test" / "neg" / "0_1.txt").unlink()
    (project / "data" / "aclImdb" / "test" / "neg").rmdir()
    result = runner.invoke(main, ["validate", str(project / "pipeline.yaml")])
    assert result.exit_code == 2 and "not an IMDb folder" in result.output
    result = runner.invoke(
        main,
        [
            "validate",
            str(project / "pipeline.yaml"),
            "--set",
            "datasets.imdb.path=https://example.com/aclImdb_v1.tar.gz",
        ],
    )
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == (
        "note: dataset 'imdb': https://example.com/aclImdb_v1.tar.gz: a URL, not checked here "
        "(mlspec run downloads and verifies it)"
    )
    assert len(lines) == 2 and ": ok (" in lines[1]


def test_run_fails_before_naming_a_run_directory(project: Path) -> None:
    runs = project / "runs"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(project / "pipeline.yaml"),
            "--runs-dir",
            str(runs),
            "--set",
            "datasets.imdb.path=/tmp/nope.tar.gz",
        ],
    )
    assert result.exit_code == 2
    assert result.output == "error: dataset 'imdb': /tmp/nope.tar.gz: no such file\n"
    assert not runs.exists()


def test_examples_and_their_makefile_paths_still_resolve(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples give dataset paths only with --set from examples/ (make -C examples): the current
    directory, which is also the spec's folder."""
    monkeypatch.chdir(repo / "examples")
    makefile = (repo / "examples" / "Makefile").read_text()
    assert "--set datasets.imdb.path=$(DATA)/aclImdb_v1.tar.gz" in makefile
    pipeline = spec.load("imdb.yaml", ["datasets.imdb.path=../../shared/data/aclImdb_v1.tar.gz"])
    assert pipeline.datasets["imdb"].path == str(repo.parent / "shared" / "data" / "aclImdb_v1.tar.gz")
    for example in sorted((repo / "examples").glob("*.yaml")):
        assert all(d.path is None for d in spec.load(example).datasets.values()), example
