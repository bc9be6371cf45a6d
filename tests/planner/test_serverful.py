"""The plan's stages priced on a VM cluster (EC2, priced only), and the line `mlspec plan` prints when it
would cost less than the plan."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlspec import spec
from mlspec.cli import main
from mlspec.planner.plan import PlanResult, plan
from mlspec.planner.report import cluster_line
from mlspec.planner.space import candidate_offerings
from mlspec.providers import get_offering
from tests.planner.conftest import cifar10_usage, imdb_usage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
VM = "aws-ec2:m7i.xlarge"
PER_VCPU_SECOND = 0.2016 / 4 / 3600  # m7i.xlarge's hourly price over its 4 vCPUs


def _check_by_hand(result: PlanResult) -> float:
    """The cluster's compute, stage by stage: the plan's workers, each on the smallest 4 GiB-per-vCPU share
    holding its planned memory, billed per second with a 60 s minimum at $0.000014 per vCPU-second."""
    [cluster] = result.clusters
    assert cluster.offering == VM and cluster.problem is None
    assert [e.stage for e in cluster.stages] == [ps.stage for ps in result.choice.plan.stages]
    compute = 0.0
    for ps, e in zip(result.choice.plan.stages, cluster.stages, strict=True):
        share = next(mb for mb in (4096, 8192, 16384) if mb >= ps.candidate.memory_mb)
        assert e.workers == ps.estimate.workers and e.memory_mb == share and e.vcpu == share / 4096
        billed = max(60, math.ceil(e.seconds_per_invocation))
        assert e.cost.compute_usd == pytest.approx(e.vcpu * billed * e.invocations * PER_VCPU_SECOND, rel=1e-9)
        assert e.cost.requests_usd == 0.0
        compute += e.cost.compute_usd
    assert get_offering(VM).price_per_vcpu_second.value == pytest.approx(PER_VCPU_SECOND, rel=1e-12)
    return compute


def test_a_plan_a_vm_cluster_runs_for_less_says_so_and_by_how_much() -> None:
    result = plan(spec.load(EXAMPLES / "cifar10.yaml"), cifar10_usage())
    compute = _check_by_hand(result)
    [cluster] = result.clusters
    data = result.to_dict()
    assert data["serverful"][0]["cost_usd"] == pytest.approx(cluster.cost_usd)
    assert data["serverful"][0]["labels"]["cost_usd"] == "modelled"
    assert compute <= cluster.cost_usd < result.choice.plan.cost_usd  # long stages: the 60 s minimum matters little
    line = cluster_line(data)
    assert line is not None
    assert line.startswith(f"serverful: a VM cluster ({VM}) would cost ${cluster.cost_usd:.5f}")
    assert f"{result.choice.plan.cost_usd / cluster.cost_usd:.1f}x less than the plan's" in line
    assert "modelled" in line and "assumed" in line and "priced only" in line


def test_a_plan_of_short_stages_has_no_such_line() -> None:
    """IMDb's stages take seconds: each worker's share is billed 60 s, more than functions cost."""
    result = plan(spec.load(EXAMPLES / "imdb.yaml"), imdb_usage())
    _check_by_hand(result)
    [cluster] = result.clusters
    assert cluster.cost_usd > result.choice.plan.cost_usd
    assert cluster_line(result.to_dict()) is None


def test_the_line_names_the_cheapest_cluster_that_can_hold_the_plan() -> None:
    def data(*clusters: tuple[str, bool, float]) -> dict[str, object]:
        return {
            "plan": {"cost_usd": 1.0},
            "serverful": [{"offering": o, "available": a, "cost_usd": c, "time_s": 10.0} for o, a, c in clusters],
        }

    line = cluster_line(data(("vm:big", True, 0.5), ("vm:small", True, 0.25), ("vm:none", False, 0.0)))
    assert line is not None and "(vm:small) would cost $0.25000" in line and "4.0x less" in line
    assert cluster_line(data(("vm:big", True, 1.0), ("vm:none", False, 0.1))) is None
    assert cluster_line(data()) is None


def test_plan_prints_the_line_and_lists_the_cluster_as_priced_only(runs_with_examples: Path) -> None:
    cifar, imdb = str(EXAMPLES / "cifar10.yaml"), str(EXAMPLES / "imdb.yaml")
    result = CliRunner().invoke(main, ["plan", cifar, "--runs-dir", str(runs_with_examples)])
    assert result.exit_code == 0, result.stderr
    assert f"serverful: a VM cluster ({VM}) would cost $" in result.stdout
    result = CliRunner().invoke(main, ["plan", imdb, "--runs-dir", str(runs_with_examples)])
    assert result.exit_code == 0, result.stderr
    assert "serverful: a VM cluster" not in result.stdout
    args = ["plan", cifar, "--runs-dir", str(runs_with_examples), "--all-platforms", "--priced-only"]
    result = CliRunner().invoke(main, [*args, "--json", "--memory-sizes", "3", "--max-workers", "4"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert VM not in data["alternatives"]  # never placed on, not even with --priced-only
    assert all(s["provider"] != "aws-ec2" for s in data["plan"]["stages"])
    assert data["alternatives"]["ibm-code-engine:app"]["priced_only"]
    assert not data["alternatives"]["ibm-code-engine:app"]["serverful"]
    assert not data["alternatives"]["aws-lambda:x86_64"]["priced_only"]
    [cluster] = data["serverful"]
    assert cluster["offering"] == VM and cluster["available"] and cluster["cost_usd"] > 0
    result = CliRunner().invoke(main, [*args, "--memory-sizes", "3", "--max-workers", "4", "--explain"])
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith(f"{VM} (priced only, serverful"))
    assert f"{cluster['time_s']:.1f}" in row and f"{cluster['cost_usd']:.5f}" in row
    assert "ibm-code-engine:app (priced only)" in result.stdout


def test_the_planner_never_places_a_stage_on_a_vm_cluster() -> None:
    pipeline = spec.load(EXAMPLES / "cifar10.yaml")
    assert VM not in {o.id for o in candidate_offerings(pipeline, all_platforms=True, priced_only=True)}
