"""`mlspec plan`, `mlspec price`, `mlspec providers` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec.cli import main
from tests.conftest import TINY_KMEANS

REPO = Path(__file__).resolve().parents[2]
CIFAR = str(REPO / "examples" / "cifar10.yaml")
IMDB = str(REPO / "examples" / "imdb.yaml")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_price_lambda_is_hand_checked() -> None:
    # 1,024 MB = 1 GB x 10 s x 1,000 = 10,000 GB-s x $0.0000166667 = $0.1667; 1,000 requests x $0.20/1M = $0.0002
    code, out, _ = invoke(
        "price", "--target", "aws-lambda", "--memory-mb", "1024", "--seconds", "10", "--invocations", "1000", "--json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["compute_usd"] == pytest.approx(0.1667, abs=5e-5)
    assert data["requests_usd"] == pytest.approx(0.0002, abs=1e-9)
    assert data["components"]["compute"]["label"] == "assumed"
    assert "source" in data["components"]["compute"]["facts"]["price_per_gb_second"]
    code, out, _ = invoke(
        "price",
        "--target",
        "aws-lambda",
        "--memory-mb",
        "1024",
        "--seconds",
        "10",
        "--invocations",
        "1000",
        "--put",
        "100",
        "--get",
        "1000",
        "--egress-gb",
        "2",
    )
    assert code == 0 and "0.1667" in out and "0.0002" in out and "storage_ops" in out and "egress" in out


def test_price_outside_the_envelope_exits_2() -> None:
    code, _, err = invoke(
        "price", "--target", "aws-lambda", "--memory-mb", "20000", "--seconds", "1", "--invocations", "1"
    )
    assert code == 2 and "outside 128–10240 MB" in err and "Traceback" not in err


def test_providers_lists_every_figure_with_its_source() -> None:
    code, out, _ = invoke("providers", "--json")
    assert code == 0
    data = json.loads(out)
    assert {p["key"] for p in data} >= {"aws-lambda", "gcp-cloud-run", "azure-functions"}
    fact = data[0]["offerings"][0]["price_per_gb_second"]
    assert set(fact) >= {"value", "source", "date", "status"}
    code, out, _ = invoke("providers")
    assert code == 0 and "official" in out and "aws-lambda:x86_64" in out


def test_plan_help_has_an_example() -> None:
    code, out, _ = invoke("plan", "--help")
    assert code == 0 and "Examples:" in out and "mlspec plan examples/" in out


def test_plan_table_and_json(runs_with_examples: Path) -> None:
    code, out, err = invoke("plan", CIFAR, "--runs-dir", str(runs_with_examples), "--explain")
    assert code == 0, err
    for text in (
        "time s",
        "cost $",
        "modelled",
        "alternatives: the best plan",
        "aws-lambda:x86_64",
        "objective: minimise cost subject to deadline 3600 s",
        "met",
        "scaled x1",
    ):
        assert text in out
    code, out, err = invoke("plan", IMDB, "--runs-dir", str(runs_with_examples), "--json", "--optimizer", "bayes")
    assert code == 0, err
    data = json.loads(out)
    assert data["optimizer"] == "bayes"
    assert data["evaluations"]["total"] < data["evaluations"]["grid_size"]
    stage = data["plan"]["stages"][1]
    assert stage["labels"]["time_s"] == "modelled" and stage["why"]
    assert {"aws-lambda:x86_64", "gcp-cloud-run:service"} <= set(data["alternatives"])


def test_plan_scales_to_more_epochs(runs_with_examples: Path) -> None:
    code, out, err = invoke(
        "plan", CIFAR, "--runs-dir", str(runs_with_examples), "--json", "--set", "stages.train.epochs=30"
    )
    assert code == 0, err
    why = json.loads(out)["plan"]["stages"][1]["why"]
    assert "scaled x2: epochs 30/15" in why and "1300 -> 2600" in why


def test_min_and_max_workers_pin_a_train_stage_and_a_platform_quota_still_caps_them(
    runs_with_examples: Path,
) -> None:
    def train_workers(*args: str) -> int:
        code, out, err = invoke("plan", CIFAR, "--runs-dir", str(runs_with_examples), "--json", *args)
        assert code == 0, err
        data = json.loads(out)
        assert data["options"]["min_workers"] == int(args[1])
        return int(data["plan"]["stages"][1]["workers"])

    assert train_workers("--min-workers", "5", "--max-workers", "5") == 5
    caps = ("aws-lambda.max_concurrency", "gcp-cloud-run.max_instances", "azure-functions.max_instances")
    capped = [arg for cap in caps for arg in ("--set", f"targets.{cap}=2")]
    assert train_workers("--min-workers", "3", "--max-workers", "3", *capped) == 2
    code, _, err = invoke(
        "plan", CIFAR, "--runs-dir", str(runs_with_examples), "--min-workers", "3", "--max-workers", "2"
    )
    assert code == 2 and "--min-workers 3 is more than --max-workers 2" in err


def test_plan_without_usage_and_no_profile_says_what_to_do(tmp_path: Path) -> None:
    code, _, err = invoke("plan", CIFAR, "--runs-dir", str(tmp_path), "--no-profile")
    assert code == 2 and "mlspec run" in err and "--no-profile" in err


def test_plan_without_usage_profiles_the_spec_first_and_says_so(tmp_path: Path) -> None:
    spec = tmp_path / "tiny.yaml"
    spec.write_text(TINY_KMEANS)
    code, out, err = invoke("plan", str(spec), "--runs-dir", str(tmp_path / "runs"), "--json")
    assert code == 0, err
    assert err.startswith("note: no measured usage for pipeline 'tinykm'") and "short real local run" in err
    data = json.loads(out)
    assert "(made now: no earlier run to measure" in data["usage_source"]
    assert all("measured in run" in text for text in data["usage"].values())


@pytest.mark.parametrize(
    "override,message",
    [
        ("objective.deadline=3", "deadline of 3 s cannot be met"),
        ("objective.budget=0.000001", "is below the cheapest plan"),
        ("targets.aws-lambda.memory_mb=20000", "targets.aws-lambda: aws-lambda (x86_64): memory_mb 20000 is outside"),
        ("stages.train.workers=150", "stages.train.workers: gcp-cloud-run (service): workers 150 exceeds"),
        ("stages.train.memory_mb=100000", "stages.train.memory_mb: 100000 MB is outside every candidate platform"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(runs_with_examples: Path, override: str, message: str) -> None:
    code, out, err = invoke("plan", CIFAR, "--runs-dir", str(runs_with_examples), "--set", override)
    assert code == 2, (out, err)
    assert message in err and "Traceback" not in err
    if "objective" in override:
        assert "Nearest feasible plan shown" in err and "plan for cifar10" in out


@pytest.mark.parametrize("optimizer,forbidden", [("grid", ("torch", "sklearn")), ("bayes", ("torch",))])
def test_plan_does_not_import_heavy_libraries(
    runs_with_examples: Path, optimizer: str, forbidden: tuple[str, ...]
) -> None:
    code = (
        "import sys\n"
        "from mlspec.cli import main\n"
        f"args = ['plan', {CIFAR!r}, '--runs-dir', {str(runs_with_examples)!r}, '--json',"
        f" '--optimizer', {optimizer!r}]\n"
        "try:\n    main(args)\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sklearn')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.rsplit("LOADED", 1)[1]
    for name in forbidden:
        assert f"'{name}" not in loaded


@pytest.mark.slow
def test_profile_runs_the_spec_briefly_and_scales(tmp_path: Path) -> None:
    quick = str(REPO / "examples" / "quickstart.yaml")
    code, out, err = invoke("plan", quick, "--profile", "--runs-dir", str(tmp_path), "--json")
    assert code in (0, 2), err
    data = json.loads(out)
    assert "profiling run" in data["usage_source"]
    assert all("measured in run" in text for text in data["usage"].values())
