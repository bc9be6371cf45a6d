"""Plan files: `mlspec plan --out` writes the placement with digests of the spec it was made for;
`mlspec build --plan` builds each function only for its stage's planned platform, memory and workers; a
plan that is not exactly that (edited, for another spec, truncated, another version) is refused with one
line and exit status 2 before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlspec.cache import digest
from tests.planner.test_plan_cli import CIFAR, IMDB, invoke


@pytest.fixture
def plan_file(runs_with_examples: Path, tmp_path: Path) -> Path:
    out = tmp_path / "plan.json"
    code, _, err = invoke("plan", IMDB, "--runs-dir", str(runs_with_examples), "--out", str(out))
    assert code == 0 and f"plan written to {out}" in err, err
    return out


def test_a_plan_file_names_each_stage_placement_with_labels(plan_file: Path) -> None:
    plan = json.loads(plan_file.read_text())
    assert plan["format"] == "mlspec-plan" and plan["version"] == 1 and plan["pipeline"] == "imdb"
    assert [s["stage"] for s in plan["stages"]] == ["prep", "train", "evaluate", "serve"]
    assert set(plan["spec"]["stages"]) == {"prep", "train", "evaluate", "serve"}
    assert plan["labels"]["time_s"] == plan["labels"]["cost_usd"] == "modelled"
    for stage in plan["stages"]:
        assert stage["platform"].split(":")[0] in ("aws-lambda", "gcp-cloud-run", "azure-functions")
        assert stage["memory_mb"] > 0 and stage["workers"] >= 1 and stage["time_s"] > 0 and stage["usage"]
    assert plan["checksum"] == digest({k: v for k, v in plan.items() if k != "checksum"})


def test_build_follows_the_plan_per_stage(plan_file: Path, tmp_path: Path) -> None:
    plan = {s["stage"]: s for s in json.loads(plan_file.read_text())["stages"]}
    out = tmp_path / "build"
    code, _, err = invoke("build", IMDB, "--plan", str(plan_file), "--engine", "none", "--out", str(out))
    assert code == 0, err
    contexts = sorted(p.name for p in (out / "imdb").iterdir() if p.is_dir())
    assert contexts == sorted(f"{s}-{p['platform'].split(':')[0]}" for s, p in plan.items())  # one platform each
    for stage, placed in plan.items():
        function = json.loads(
            (out / "imdb" / f"{stage}-{placed['platform'].split(':')[0]}" / "function.json").read_text()
        )
        assert function["limits"]["memory_mb"] == placed["memory_mb"]
        assert function["target"]["memory_mb"] == placed["memory_mb"]
    train = json.loads(
        (out / "imdb" / f"train-{plan['train']['platform'].split(':')[0]}" / "function.json").read_text()
    )
    assert train["fan_out"] == train["event"]["workers"] == plan["train"]["workers"]


def _rewritten(plan_file: Path, change: dict[str, object]) -> None:
    """The plan with fields changed and its checksum made to match again (a plan of another version)."""
    plan = json.loads(plan_file.read_text()) | change
    body = {k: v for k, v in plan.items() if k != "checksum"}
    plan_file.write_text(json.dumps({**body, "checksum": digest(body)}))


def _edited(plan_file: Path) -> None:
    plan = json.loads(plan_file.read_text())
    plan["stages"][1]["memory_mb"] = 10240  # by hand: the checksum no longer matches
    plan_file.write_text(json.dumps(plan))


@pytest.mark.parametrize(
    ("damage", "overrides", "message"),
    [
        ("edited", (), "was changed after `mlspec plan` wrote it (its checksum does not match)"),
        ("none", ("stages.train.epochs=9",), "was made for another version of the spec: stage 'train' differs"),
        ("none", ("objective.deadline=1h",), "was made for another version of the spec: its objective differs"),
        ("truncated", (), "is not a whole plan file (truncated, or not JSON: line"),
        ("version 2", (), "is a plan file of version 2; this mlspec reads version 1"),
        ("a list", (), "is not an mlspec plan file"),
        ("no stages", (), "is not a complete plan file"),
        ("missing", (), "does not exist or is not a regular file"),
        ("other pipeline", (), "is a plan for pipeline 'cifar10', not 'imdb'"),
    ],
)
def test_a_bad_plan_is_refused_in_one_line_before_anything_is_built(
    plan_file: Path, runs_with_examples: Path, tmp_path: Path, damage: str, overrides: tuple[str, ...], message: str
) -> None:
    if damage == "edited":
        _edited(plan_file)
    elif damage == "truncated":
        plan_file.write_text(plan_file.read_text()[:300])
    elif damage == "version 2":
        _rewritten(plan_file, {"version": 2})
    elif damage == "no stages":
        _rewritten(plan_file, {"stages": None})
    elif damage == "a list":
        plan_file.write_text("[1, 2]")
    elif damage == "missing":
        plan_file.unlink()
    elif damage == "other pipeline":
        assert invoke("plan", CIFAR, "--runs-dir", str(runs_with_examples), "--out", str(plan_file))[0] == 0
    out = tmp_path / "build"
    sets = [arg for override in overrides for arg in ("--set", override)]
    code, _, err = invoke("build", IMDB, "--plan", str(plan_file), "--engine", "none", "--out", str(out), *sets)
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert err.startswith("error: ")
    assert not out.exists()  # refused before anything was written


def test_plan_and_target_exclude_each_other(plan_file: Path, tmp_path: Path) -> None:
    code, _, err = invoke(
        "build", IMDB, "--plan", str(plan_file), "--target", "aws-lambda", "--out", str(tmp_path / "b")
    )
    assert code == 2 and "--plan says where each stage is built: it excludes --target" in err
