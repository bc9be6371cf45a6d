"""Hostile values for the spec: what `validate` accepts must run, and what it refuses is one plain located
line with exit status 2 (never a traceback, never pydantic's wording)."""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, get_args

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlspec import spec
from mlspec.cli import main
from mlspec.cli.spec_commands import template_text
from mlspec.errors import SpecError
from mlspec.records import RunDir, RunRecord, StageRecord
from mlspec.records.runs import read_entry
from mlspec.spec.models import STAGE_KINDS, Objective, Pipeline, SyntheticOptions
from mlspec.spec.targets import LocalTarget

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = template_text("quickstart")
TUNE = template_text("tune")
# What pydantic says that a user should never read.
INTERNALS = (
    "Input should",
    "errors.pydantic",
    "type=",
    "discriminator",
    "Unable to extract",
    "union_tag",
    "Traceback",
    "internal error",
    "[key]",
)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout + result.stderr


def problems(text: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(SpecError) as info:
        spec.load_text(text, "p.yaml", overrides)
    return [str(p) for p in info.value.problems]


def assert_one_plain_line(output: str) -> None:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert not any(word in output for word in INTERNALS), output


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(QUICKSTART)
    return path


# ---------------------------------------------------------------- 1. no .inf / .nan anywhere


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        ("timeout_s: 600", "timeout_s: .inf", "p.yaml:50:16: targets.local.timeout_s: inf is not a finite number"),
        ("seed: 0\n\n", "seed: .nan\n\n", "p.yaml:4:7: seed: nan is not a finite number"),
        ("  minimize: cost", "  minimize: cost\n  budget: -.inf", "p.yaml:54:11: objective.budget: -inf is not"),
        (
            "objective:",
            "execution:\n  lithops: {aws: {timeout: .inf}}\nobjective:",
            "p.yaml:53:28: execution.lithops.aws.timeout: inf is not a finite number",
        ),
    ],
)
def test_non_finite_numbers_are_refused_where_they_are(old: str, new: str, where: str) -> None:
    assert old in QUICKSTART
    (message,) = problems(QUICKSTART.replace(old, new, 1))
    assert message.startswith(where)


@pytest.mark.parametrize("command", ["validate", "plan", "run"])
def test_non_finite_set_is_refused_before_anything_runs(quickstart: Path, tmp_path: Path, command: str) -> None:
    extra = ["--runs-dir", str(tmp_path / "runs")] if command != "validate" else []
    code, out = cli(command, str(quickstart), "--set", "targets.local.timeout_s=.inf", *extra)
    assert code == 2
    assert_one_plain_line(out)
    assert out.startswith("--set targets.local.timeout_s=.inf: inf is not a finite number")
    assert not (tmp_path / "runs").exists()  # no run started


@pytest.mark.parametrize("text", ['"inf"', '"$nan"', '"1e999 USD"'])
def test_budget_text_that_is_not_finite_is_refused(text: str) -> None:
    (message,) = problems(QUICKSTART.replace("  deadline: 30m", f"  deadline: 30m\n  budget: {text}"))
    assert message.startswith("p.yaml:55:11: objective.budget: must be a finite number")


def _record(metric: float) -> RunRecord:
    stage = StageRecord(
        name="train",
        kind="train",
        status="succeeded",
        metrics={"test_loss": metric},
        history=[{"epoch": 1.0, "train_loss": metric}],
    )
    return RunRecord(
        run_id="r1",
        name="n",
        spec_file="p.yaml",
        spec={},
        target="local",
        executor="local",
        status="succeeded",
        started_at=time.time(),
        mlspec_version="0",
        stages={"train": stage},
    )


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_record_with_a_diverged_loss_reads_back(tmp_path: Path, value: float) -> None:
    run = RunDir(tmp_path, "r1")
    run.create()
    run.save(_record(value))
    json.loads(run.record_file.read_text(), parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))
    entry = read_entry(run.path)
    assert entry.problem is None and entry.record is not None
    loss = entry.record.stages["train"].metrics["test_loss"]
    assert math.isnan(loss) if math.isnan(value) else loss == value


def test_a_non_finite_spec_is_never_written(tmp_path: Path) -> None:
    run = RunDir(tmp_path, "r1")
    run.create()
    with pytest.raises(ValueError, match="not JSON compliant"):
        run.write_spec({"targets": {"local": {"timeout_s": math.inf}}})


# ---------------------------------------------------------------- 2. tune search values


@pytest.mark.parametrize(
    ("space", "where", "message"),
    [
        ("epochs: {values: [1e300]}", "27:25", "epochs must be at most 10000 (got 1e+300)"),
        ("learning_rate: {values: [0.1, -1]}", "27:37", "learning_rate must be above 0 (got -1)"),
        ("batch_size: {values: [-5]}", "27:29", "batch_size must be at least 1 (got -5)"),
        ("batch_size: {values: [16.5]}", "27:29", "batch_size takes whole numbers (got 16.5)"),
        ("momentum: {low: 0.5, high: 1}", "27:34", "momentum must be below 1 (got 1)"),
        ("epochs: {low: 0, high: 3}", "27:21", "epochs must be at least 1 (got 0)"),
        (
            "learning_rate: {low: -.inf, high: 1}",
            "27:28",
            "stages.search.space.learning_rate.low: -inf is not a finite number",
        ),
    ],
)
def test_search_values_are_checked_like_the_train_stage_checks_them(space: str, where: str, message: str) -> None:
    old = "      batch_size: {values: [16, 64, 256]}"
    assert old in TUNE
    (found,) = problems(TUNE.replace(old, f"      {space}"))
    assert found.startswith(f"p.yaml:{where}: {message}")


def test_search_values_the_train_stage_takes_still_load() -> None:
    text = TUNE.replace(
        "      batch_size: {values: [16, 64, 256]}",
        "      batch_size: {values: [1, 65536]}\n      momentum: {low: 0, high: 0.99}\n"
        "      epochs: {low: 1, high: 10000}",
    )
    assert spec.load_text(text).stages["search"].space["epochs"].high == 10000  # type: ignore[union-attr]


# ---------------------------------------------------------------- 3. bounds that hold later too


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("seed=4294967296", "must be at most 4294967295"),
        ("seed=-1", "must be at least 0"),
        ("datasets.images.synthetic.seed=-1", "must be at least 0"),
        ("datasets.images.synthetic.seed=4294967296", "must be at most 4294967295"),
        ("stages.train_images.workers=true", "must be a whole number (got true)"),
        ("stages.train_images.epochs=2.5", "must be a whole number (got 2.5)"),
        ("stages.train_images.epochs=1e300", "must be a whole number"),
        ("stages.train_images.memory_mb=100000000000000000000", "must be at most 1048576"),
        ("targets.aws-lambda.memory_mb=1", "must be at least 64"),
        ("stages.train_images.timeout_s=1e300", "must be at most 31622400"),
        ("stages.prep_reviews.min_df=100000000", "must be at most 1000000"),
        ("stages.train_images.learning_rate=true", "must be a number (got true)"),
        ("stages.train_images.workers=1001", "must be at most 1000"),
    ],
)
def test_values_that_would_fail_later_are_refused_now(quickstart: Path, override: str, message: str) -> None:
    code, out = cli("validate", str(quickstart), "--set", override)
    assert code == 2
    assert_one_plain_line(out)
    assert out.startswith(f"--set {override}: {message}")


@pytest.mark.parametrize(
    ("old", "new", "override", "expected"),
    [
        (
            "",
            "",
            "stages.prep_reviews.min_df=2001",
            "min_df 2001 is more than the 2000 training documents of dataset 'reviews': every term would be dropped",
        ),
        (
            "test_size: 500, seed: 0}\n\nstages",
            "test_size: 500, seed: 0}\n    max_train: 300\n\nstages",
            "stages.train_reviews.workers=1000",
            "1000 workers but only 300 training examples in dataset 'reviews': "
            "each worker needs a shard of at least one",
        ),
    ],
)
def test_values_beyond_the_data_are_refused(old: str, new: str, override: str, expected: str) -> None:
    assert old in QUICKSTART
    assert problems(QUICKSTART.replace(old, new), [override]) == [f"--set {override}: {expected}"]


def test_a_five_thousand_digit_integer_is_one_line(tmp_path: Path, quickstart: Path) -> None:
    digits = "9" * 5000
    bad = tmp_path / "big.yaml"
    bad.write_text(QUICKSTART.replace("seed: 0\n\n", f"seed: {digits}\n\n"))
    code, out = cli("validate", str(bad))
    assert code == 2
    assert_one_plain_line(out)
    assert out.startswith(f"{bad}:4:7: a number with 5000 digits is not a spec value")
    code, out = cli("validate", str(quickstart), "--set", f"seed={digits}")
    assert code == 2
    assert_one_plain_line(out)
    assert out.startswith("--set seed=<5000 digits>: too large for any setting")


# ---------------------------------------------------------------- 4. examples work, stages are named


def test_set_on_a_stage_that_does_not_exist_lists_the_stages(quickstart: Path) -> None:
    code, out = cli("validate", str(quickstart), "--set", "stages.train.workers=4")
    assert code == 2
    assert_one_plain_line(out)
    assert out.strip() == (
        f"--set stages.train.workers=4: no stage 'train' in {quickstart} (stages: prep_images, "
        "train_images, eval_images, prep_reviews, train_reviews, eval_reviews)"
    )
    code, out = cli("validate", str(quickstart), "--set", "datasets.imbd.path=x")
    assert code == 2 and out.startswith("--set datasets.imbd.path=x: no dataset 'imbd'") and "images, reviews" in out


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "kind: evaluate\n    model: train_images",
            "kind: evalute\n    model: train_images",
            "p.yaml:28:11: stages.eval_images.kind: unknown kind 'evalute'; expected one of preprocess, train, tune, "
            "evaluate, serve, iterative",
        ),
        (
            "kind: evaluate\n    model: train_images",
            "model: train_images",
            "p.yaml:27:3: missing required key 'kind' in stages.eval_images",
        ),
        ("max_features: 20000", "max_featurs: 20000", "p.yaml:34:5: unknown key 'max_featurs' in stages.prep_reviews"),
        (
            "name: quickstart",
            "name: 9lives",
            "p.yaml:3:7: name: must be a name (a letter, then up to 62 letters, digits, _ or -) (got '9lives')",
        ),
        ("    data: prep_images", "    data: [prep_images]", "p.yaml:20:11: stages.train_images.data: must be text"),
        (
            "    workers: 2 ",
            "    workers: {n: 2} ",
            "p.yaml:22:14: stages.train_images.workers: must be a whole number",
        ),
        ("  local:", "  lokal: {}\n  local:", "p.yaml:48:3: unknown key 'lokal' in targets"),
    ],
)
def test_pydantic_never_reaches_the_user(old: str, new: str, expected: str) -> None:
    assert old in QUICKSTART
    (found,) = problems(QUICKSTART.replace(old, new, 1))
    assert found == expected
    assert not any(word in found for word in INTERNALS)


def _help_examples(command: click.Command, name: str) -> list[str]:
    out = CliRunner().invoke(main, [*([name] if name else []), "--help"]).stdout
    lines = out.split("Example", 1)[1].splitlines()[1:] if "Example" in out else []
    examples = []
    for line in lines:
        if not line.strip().startswith("mlspec "):
            break
        examples.append(line.split("  #")[0].strip())
    return examples


def test_validate_help_examples_run_as_written(tmp_path: Path) -> None:
    examples = _help_examples(main.commands["validate"], "validate")
    assert any("--set" in e for e in examples) and any(e.startswith("mlspec init") for e in examples)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for example in examples:
        shell = f'mlspec() {{ {shlex.quote(sys.executable)} -m mlspec "$@"; }}; {example}'
        done = subprocess.run(["bash", "-c", shell], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (example, done.stderr)
    assert "ok (quickstart" in done.stdout


def test_every_set_in_a_help_example_names_a_real_key(tmp_path: Path) -> None:
    (tmp_path / "pipeline.yaml").write_text(QUICKSTART)  # what `mlspec init` writes, as the examples say
    checked = 0
    for name in ["", *main.commands]:
        for example in _help_examples(main, name):
            for part in example.split("&&"):
                words = shlex.split(part)
                if "--set" not in words or words[1] not in ("validate", "run", "plan"):
                    continue
                spec_path = words[2] if words[2].startswith("examples/") else str(tmp_path / words[2])
                sets = [f"--set={words[i + 1]}" for i, w in enumerate(words) if w == "--set"]
                code, out = cli(
                    "validate", str(REPO / spec_path) if spec_path.startswith("examples/") else spec_path, *sets
                )
                assert code == 0, (example, out)
                checked += 1
    assert checked >= 4


# ---------------------------------------------------------------- 5. --set is blamed for what it caused


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("objective.foo.bar=1", "unknown key 'foo' in objective"),
        ("targets.local.extra.x=1", "unknown key 'extra' in targets.local"),
        ("stages.train_images.kind=xx", "unknown kind 'xx'; expected one of preprocess, train"),
        ("stages.train_images.algorithm=admm", "algorithm admm is for the linear model"),
        ("stages.train_images.epochs=many", "must be a whole number (got 'many')"),
    ],
)
def test_errors_caused_by_a_set_point_at_the_flag(quickstart: Path, override: str, expected: str) -> None:
    code, out = cli("validate", str(quickstart), "--set", override)
    assert code == 2
    assert_one_plain_line(out)
    assert out.startswith(f"--set {override}: {expected}")


# ---------------------------------------------------------------- 6. --json is standard JSON


def _strict_json(text: str) -> Any:
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"not standard JSON: {c}"))


def test_json_output_has_no_infinity(capsys: pytest.CaptureFixture[str]) -> None:
    from mlspec.cli.plan_commands import write_json

    write_json({"deadline_s": math.inf, "values": [1.5, -math.inf, math.nan], "n": 3})
    assert _strict_json(capsys.readouterr().out) == {"deadline_s": None, "values": [1.5, None, None], "n": 3}


def test_plan_json_options_that_overflowed_are_refused(quickstart: Path, tmp_path: Path) -> None:
    code, out = cli("plan", str(quickstart), "--runs-dir", str(tmp_path), "--json", "--usd-per-hour", "1e308")
    assert code == 2 and "--usd-per-hour" in out and "Infinity" not in out
    code, out = cli("plan", str(quickstart), "--runs-dir", str(tmp_path), "--json", "--set", "objective.deadline=.inf")
    assert code == 2 and "Infinity" not in out


def test_plan_json_is_standard_json(tmp_path: Path) -> None:
    from tests.planner.conftest import cifar10_usage, write_run

    pipeline = spec.load(REPO / "examples" / "cifar10.yaml")
    write_run(tmp_path, "cifar10", cifar10_usage(), pipeline.model_dump(mode="json", by_alias=True))
    code, out = cli(
        "plan",
        str(REPO / "examples" / "cifar10.yaml"),
        "--runs-dir",
        str(tmp_path),
        "--json",
        "--usd-per-hour",
        "1000000",
    )
    assert code == 0, out
    assert _strict_json(out)["plan"]["objective_value"] > 0


# ---------------------------------------------------------------- property: never a traceback


def _is_number(annotation: Any) -> bool:
    return annotation in (int, float) or any(_is_number(a) for a in get_args(annotation))


def _numeric_keys() -> list[str]:
    pipeline = spec.load_text(QUICKSTART)
    kinds = {cls.model_fields["kind"].annotation: cls for cls in STAGE_KINDS}
    keys = [f"{n}" for n, f in Pipeline.model_fields.items() if _is_number(f.annotation)]
    for name, stage in pipeline.stages.items():
        cls = next(c for c in kinds.values() if isinstance(stage, c))
        keys += [f"stages.{name}.{f}" for f, info in cls.model_fields.items() if _is_number(info.annotation)]
    keys += [f"targets.local.{f}" for f, info in LocalTarget.model_fields.items() if _is_number(info.annotation)]
    keys += [f"objective.{f}" for f, info in Objective.model_fields.items() if _is_number(info.annotation)]
    keys += [f"datasets.reviews.synthetic.{f}" for f in SyntheticOptions.model_fields]
    return keys


NUMERIC_KEYS = _numeric_keys()
VALUES = st.one_of(
    st.integers(min_value=-(10**80), max_value=10**80).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([".inf", "-.inf", ".nan", "true", "false", "~", "1e999", "0x10", "1_000", "9" * 5000, "0.0"]),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(NUMERIC_KEYS), value=VALUES)
def test_any_number_on_any_numeric_field_is_ok_or_one_line(quickstart: Path, key: str, value: str) -> None:
    code, out = cli("validate", str(quickstart), "--set", f"{key}={value}")
    assert code in (0, 2), out
    if code == 2:
        assert_one_plain_line(out)
        assert out.startswith(f"--set {key}=")
    else:
        assert "ok (quickstart" in out


def test_the_property_covers_the_numeric_fields() -> None:
    assert {
        "seed",
        "stages.train_images.workers",
        "stages.train_images.learning_rate",
        "stages.prep_reviews.min_df",
        "targets.local.memory_mb",
        "targets.local.timeout_s",
        "objective.deadline",
        "datasets.reviews.synthetic.seed",
    } <= set(NUMERIC_KEYS)
