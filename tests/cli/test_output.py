"""What `plan`, `providers` and `compare` print, and how every command words things: short answers first,
reasons on request, no class names or None, whole lines in pipes, one error style, counted nouns."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from mlspec.records.runs import list_runs
from mlspec.wording import article, plural

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = str(REPO / "examples" / "quickstart.yaml")
STAGES = ("prep_images", "train_images", "eval_images", "prep_reviews", "train_reviews", "eval_reviews")
# The quick start made small: one epoch of images, fewer examples, one worker per train stage.
TINY = [
    "--set",
    "stages.train_images.epochs=1",
    "--set",
    "stages.train_images.workers=1",
    "--set",
    "stages.train_reviews.workers=1",
    "--set",
    "datasets.images.synthetic.train_size=300",
    "--set",
    "datasets.reviews.synthetic.train_size=400",
]
CLASS_NAMES = ("ProportionalVcpu", "FixedVcpu", "PairedVcpu", "BandedVcpu", "HostVcpu")


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real tiny quick-start runs that differ in one `--set` value (train_reviews epochs 1 vs 2)."""
    root = tmp_path_factory.mktemp("output") / "runs"
    for epochs in (1, 2):
        cmd = [
            sys.executable,
            "-m",
            "mlspec",
            "run",
            QUICKSTART,
            "--runs-dir",
            str(root),
            *TINY,
            "--set",
            f"stages.train_reviews.epochs={epochs}",
        ]
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def piped(*args: str) -> subprocess.CompletedProcess[str]:
    """`mlspec ARGS | ...`: stdout is a pipe, and no COLUMNS says how wide to be."""
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


# ---------------------------------------------------------------- plan


def test_plan_is_one_line_per_stage_after_the_platforms_it_considered(runs_dir: Path) -> None:
    code, out, err = invoke("plan", QUICKSTART, "--runs-dir", str(runs_dir))
    assert code == 0, err
    lines = out.splitlines()
    # the spec targets only local: say so, and that every cloud was weighed instead
    # only what deploy can carry out: Lambda x86_64, Cloud Run service and job, Azure Premium
    assert lines[0].startswith("platforms considered: every cloud in the catalog (4 offerings, 3 providers)")
    assert "targets name none" in lines[0] and "--include-local" in lines[0] and "--priced-only" in lines[0]
    for stage in STAGES:
        assert len([line for line in lines if line.split()[:1] == [stage]]) == 1, (stage, out)
    assert len(lines) <= 32, out  # 153 lines before: 15-25 wrapped lines of reasons per stage
    assert "least pipeline cost" not in out and "--explain" in out
    assert "modelled" in out and "assumed" in out and "setting" in out  # every figure keeps its label

    code, out, err = invoke("plan", QUICKSTART, "--runs-dir", str(runs_dir), "--explain")
    assert code == 0, err
    for stage in STAGES:
        why = next(line for line in out.splitlines() if line.startswith(f"  {stage}: "))
        assert "least pipeline cost within the 1800 s deadline" in why and "measured in run" in why
        assert "(s)" not in why and re.search(r"(1 worker|([2-9]|\d\d+) workers) x (1 invocation|\d+ invocations)", why)


def test_plan_names_the_spec_targets_it_considered(runs_dir: Path) -> None:
    code, out, err = invoke(
        "plan", QUICKSTART, "--runs-dir", str(runs_dir), "--set", "targets.aws-lambda.timeout_s=900"
    )
    assert code == 0, err
    first = out.splitlines()[0]
    assert first.startswith("platforms considered: the spec's cloud targets, aws-lambda (1 offering, 1 provider)")
    code, out, err = invoke("plan", QUICKSTART, "--runs-dir", str(runs_dir), "--all-platforms", "--include-local")
    assert code == 0, err
    assert "as --all-platforms asks; only offerings mlspec can deploy" in out.splitlines()[0]
    assert "; and this machine (--include-local)" in out.splitlines()[0]
    code, out, err = invoke("plan", QUICKSTART, "--runs-dir", str(runs_dir), "--all-platforms", "--priced-only")
    assert code == 0, err
    first = out.splitlines()[0]
    assert "(9 offerings, 5 providers)" in first and "with the offerings mlspec can only price" in first


def test_an_objective_that_cannot_be_met_is_said_once(runs_dir: Path) -> None:
    code, out, err = invoke("plan", QUICKSTART, "--runs-dir", str(runs_dir), "--set", "objective.budget=0.000001")
    assert code == 2
    assert "NOT met" in out and "plan for quickstart" in out  # the nearest plan is still shown
    assert err.startswith("error: the budget of $1e-06 is below the cheapest plan")
    assert (out + err).count("is below the cheapest plan") == 1


# ---------------------------------------------------------------- providers


def test_providers_in_words_with_a_platform_filter() -> None:
    code, out, err = invoke("providers")
    assert code == 0, err
    for word in ("None", "null", *CLASS_NAMES):
        assert word not in out, word
    assert "no limit" in out and "1 per 1769 MB of memory, at most 6" in out
    assert "0.0000166667" in out and "e-05" not in out  # prices without exponents
    code, out, err = invoke("providers", "--platform", "aws-lambda")
    assert code == 0, err
    offerings = set(re.findall(r"\b[a-z-]+:[a-z0-9_]+\b", out))
    assert offerings == {"aws-lambda:x86_64", "aws-lambda:arm64"}, out
    assert "gcp" not in out and "azure" not in out
    code, out, _ = invoke("providers", "--platform", "gcp-cloud-run:job", "--json")
    data = json.loads(out)
    assert [p["key"] for p in data] == ["gcp-cloud-run"] and [o["key"] for o in data[0]["offerings"]] == ["job"]
    code, out, err = invoke("providers", "--platform", "aws")
    assert code == 2 and err.startswith("error: unknown platform 'aws'; platforms: aws-ec2, aws-ec2:m7i.xlarge, ")


# ---------------------------------------------------------------- compare


def test_compare_two_runs_shows_only_the_parameters_that_differ(runs_dir: Path) -> None:
    ids = [e.run_id for e in list_runs(runs_dir)]
    code, out, err = invoke("compare", *ids, "--runs-dir", str(runs_dir))
    assert code == 0, err
    params = [line for line in out.splitlines() if "│ param" in line]
    assert len(params) == 1 and "stages.train_reviews.epochs" in params[0], out
    assert "(--all shows every one)" in out
    assert "2 runs side by side" in out
    code, out, err = invoke("compare", *ids, "--runs-dir", str(runs_dir), "--all", "--format", "json")
    assert code == 0, err
    params = [c["name"] for c in json.loads(out)["columns"] if c["group"] == "param"]
    assert len(params) > 50 and "stages.train_images.learning_rate" in params
    # one run: nothing differs, so every parameter is shown, and it is "1 run"
    code, out, err = invoke("compare", ids[0], "--view", "runs", "--runs-dir", str(runs_dir), "--format", "md")
    assert code == 0, err
    assert out.startswith("# 1 run side by side") and "stages.train_images.learning_rate" in out


def test_a_sort_by_typo_suggests_at_most_three_names(runs_dir: Path) -> None:
    ids = [e.run_id for e in list_runs(runs_dir)]
    code, _, err = invoke("compare", *ids, "--runs-dir", str(runs_dir), "--sort-by", "-train_reviews.test_acuracy")
    assert code == 2
    (line,) = err.splitlines()
    assert line.startswith("error: --sort-by 'train_reviews.test_acuracy' is not a shown column; did you mean ")
    suggested = line.split("did you mean ", 1)[1].rstrip("?").split(", ")
    assert 1 <= len(suggested) <= 3 and suggested[0] == "train_reviews.test_accuracy"
    code, _, err = invoke("compare", *ids, "--runs-dir", str(runs_dir), "--sort-by", "epochs")
    assert code == 2 and err.strip().endswith("did you mean stages.train_reviews.epochs?")
    # the name as suggested sorts
    code, out, err = invoke(
        "compare", *ids, "--runs-dir", str(runs_dir), "--sort-by", "-train_reviews.test_accuracy", "--format", "csv"
    )
    assert code == 0, err
    accuracies = [float(r["train_reviews.test_accuracy"]) for r in csv.DictReader(io.StringIO(out))]
    assert len(accuracies) == 2 and accuracies == sorted(accuracies, reverse=True)


# ---------------------------------------------------------------- pipes, errors, words


def test_output_through_a_pipe_is_not_wrapped_at_80_columns(runs_dir: Path) -> None:
    done = piped("compare", "--runs-dir", str(runs_dir), "--view", "runs")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) > 100
    # each note is one whole line, not folded at 80 columns
    assert any(
        line.startswith("• cost_usd[aws-lambda:x86_64] is modelled:") and line.endswith("`mlspec plan`")
        for line in lines
    )
    done = piped("providers", "--platform", "aws-lambda:x86_64")
    assert done.returncode == 0, done.stderr
    assert any(
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html" in line
        for line in done.stdout.splitlines()
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--no-such-option"],
        ["no-such-command"],
        ["plan"],
        ["plan", QUICKSTART, "--optimizer", "best"],
        ["compare", "--format", "pdf"],
        ["runs", "show"],
        ["price", "--target", "aws-lambda", "--memory-mb", "1024", "--seconds", "1"],
        ["price", "--target", "nowhere", "--memory-mb", "1024", "--seconds", "1", "--invocations", "1"],
        ["providers", "--platform", "nowhere"],
        ["compare", "no-such-run", "--runs-dir", str(REPO / "no-such-dir")],
    ],
)
def test_every_error_is_one_line_starting_with_error(args: list[str]) -> None:
    code, out, err = invoke(*args)
    assert code == 2, (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Error:" not in err and "Usage:" not in err
    assert lines[0][len("error: ")].islower() or lines[0][len("error: ")] in "-'"


def test_counted_nouns_and_articles() -> None:
    assert [plural(n, "run") for n in (0, 1, 2)] == ["0 runs", "1 run", "2 runs"]
    assert plural(1, "batch", "batches") == "1 batch" and plural(3, "batch", "batches") == "3 batches"
    assert plural(1.0, "second") == "1 second" and plural(2.5, "second") == "2.5 seconds"
    assert [article(w) for w in ("evaluate", "imdb", "train", "cifar10")] == [
        "an evaluate",
        "an imdb",
        "a train",
        "a cifar10",
    ]
    code, out, _ = invoke("validate", str(REPO / "examples" / "cifar10.yaml"))
    assert code == 0 and "(cifar10: 1 dataset, 3 stages;" in out
    code, out, err = invoke("validate", str(REPO / "examples" / "cifar10.yaml"), "--set", "stages.train.data=evaluate")
    assert code == 2 and "stage 'evaluate' is an evaluate stage" in err
    code, out, err = invoke("validate", str(REPO / "examples" / "imdb.yaml"), "--set", "stages.train.model=small_cnn")
    assert code == 2 and "but 'prep' reads an imdb dataset" in err


def test_user_facing_strings_have_no_naive_plurals() -> None:
    """`worker(s)`-style plurals are gone from mlspec's messages (plural() says '1 worker', '2 workers')."""
    offenders = [
        f"{path.relative_to(REPO)}:{i}"
        for path in sorted((REPO / "mlspec").rglob("*.py"))
        for i, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"[a-z]\(s\)", line.replace("http(s)", "")) and '"' in line
    ]
    assert not offenders, offenders
