"""CLI behaviour that needs no training: help texts, templates, schema freshness, fast start."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.cli.spec_commands import TEMPLATES, template_text
from mlspec.spec import json_schema, load


def test_every_command_has_help_with_an_example() -> None:
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Example" in result.output, f"{name} --help has no example"
        assert command.help


def test_committed_schema_is_current(repo: Path) -> None:
    committed = json.loads((repo / "schemas" / "pipeline.schema.json").read_text())
    assert committed == json_schema(), "schemas/pipeline.schema.json is stale: run `make schema`"


@pytest.mark.parametrize("name", TEMPLATES)
def test_examples_match_templates_and_validate(repo: Path, name: str) -> None:
    example = repo / "examples" / f"{name}.yaml"
    assert example.read_text() == template_text(name, "../schemas/pipeline.schema.json"), "run `make examples`"
    assert example.read_text().startswith("# yaml-language-server: $schema=../schemas/pipeline.schema.json")
    load(example)


@pytest.mark.parametrize("args", [["--help"], ["validate", "examples/quickstart.yaml"]])
def test_fast_commands_do_not_import_ml_libraries(repo: Path, args: list[str]) -> None:
    code = (
        "import sys; from mlspec.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "heavy = [m for m in ('torch', 'sklearn', 'scipy', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_validate_exit_status_and_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndatasets: {}\nstages: {}\n")
    result = CliRunner().invoke(main, ["validate", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2:" in result.output and "at least 1 item" in result.output


@pytest.mark.parametrize("name", TEMPLATES)
def test_templates_ship_targets_deploy_can_carry_out(name: str) -> None:
    result = CliRunner().invoke(main, ["validate", f"examples/{name}.yaml"])
    assert result.exit_code == 0 and "note: targets." not in result.output


def test_validate_says_in_one_line_which_targets_cannot_be_deployed(tmp_path: Path) -> None:
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "name: x\ndatasets:\n  d: {format: imdb, synthetic: {train_size: 50, test_size: 20}}\n"
        "stages:\n  p: {kind: preprocess, dataset: d}\n"
        "targets:\n  azure-functions: {plan: flex}\n  ibm-code-engine: {memory_mb: 2048}\n"
        "  aws-lambda: {architecture: arm64}\n  gcp-cloud-run: {}\n"
    )
    result = CliRunner().invoke(main, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if line.startswith("note: ")]
    assert notes == [
        "note: targets.aws-lambda: cannot be deployed: `architecture: arm64` needs an arm64 image, and mlspec builds "
        "x86_64 images; set x86_64 to deploy",
        "note: targets.azure-functions: cannot be deployed: `plan: flex` cannot run mlspec's container images "
        "(Flex Consumption runs code packages, Consumption no images); set `plan: premium` (Elastic Premium) to deploy",
        "note: targets.ibm-code-engine: priced only (mlspec compares its cost but does not deploy to it)",
    ]


def test_init_prints_a_valid_spec(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["init", "imdb"])
    path = tmp_path / "p.yaml"
    path.write_text(result.output)
    assert load(path).name == "imdb"
