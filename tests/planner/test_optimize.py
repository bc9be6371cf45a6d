"""The optimisers against the ground truth, and infeasible objectives."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from mlspec import spec
from mlspec.planner.optimize import PlanObjective
from mlspec.planner.plan import PlanOptions, build_combiner, build_spaces, plan
from mlspec.planner.space import candidate_offerings
from mlspec.planner.timemodel import estimate_stage
from tests.planner.conftest import cifar10_usage, imdb_usage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _brute_force(pipeline, usages, options, objective):  # type: ignore[no-untyped-def]
    """Every combination of every stage's points, priced independently of the optimiser's code paths."""
    offerings = candidate_offerings(pipeline, options.all_platforms, priced_only=options.priced_only)
    spaces = build_spaces(pipeline, usages, offerings, options)
    combiner = build_combiner(pipeline, usages, offerings)
    order = list(spaces)
    per_stage = [
        [(c, estimate_stage(usages[s], c.offering, c.memory_mb, c.workers)) for c in spaces[s].candidates]
        for s in order
    ]
    best = None
    for combo in itertools.product(*per_stage):
        t = sum(e.time_s for _, e in combo)
        cost = sum(e.cost_usd for _, e in combo)
        clouds: dict[str, str] = {}
        for stage, (c, _) in zip(order, combo, strict=True):
            cost += combiner.egress(stage, c.offering.provider_key, clouds)[1]
            clouds[stage] = c.offering.provider_key
        if objective.deadline_s is not None and t > objective.deadline_s:
            continue
        value = cost if objective.minimize == "cost" else t
        if best is None or value < best[0]:
            best = (value, t, cost)
    return best


@pytest.mark.parametrize(
    "objective",
    [
        PlanObjective("cost", deadline_s=None),
        PlanObjective("cost", deadline_s=150.0),
        PlanObjective("time"),
    ],
)
def test_grid_finds_the_true_optimum(objective: PlanObjective) -> None:
    pipeline = spec.load(EXAMPLES / "imdb.yaml")
    usages = imdb_usage()
    options = PlanOptions(memory_sizes=3, max_workers=6)
    result = plan(pipeline, usages, options=options, objective=objective)
    truth = _brute_force(pipeline, usages, options, objective)
    assert truth is not None and result.choice.feasible
    got = result.choice.plan
    value = got.cost_usd if objective.minimize == "cost" else got.time_s
    assert value == pytest.approx(truth[0], rel=1e-9)
    assert result.result.total_evaluations == result.result.grid_size


def test_deadline_that_cannot_be_met_shows_the_fastest_plan() -> None:
    pipeline = spec.load(EXAMPLES / "cifar10.yaml", ["objective.deadline=5"])
    result = plan(pipeline, cifar10_usage())
    fastest = plan(pipeline, cifar10_usage(), objective=PlanObjective("time"))
    assert not result.choice.feasible
    assert "deadline of 5 s cannot be met" in (result.choice.message or "")
    assert "Nearest feasible plan shown (it needs a deadline of" in (result.choice.message or "")
    assert result.choice.plan.time_s == pytest.approx(fastest.choice.plan.time_s)


def test_budget_below_the_cheapest_plan_shows_the_cheapest() -> None:
    pipeline = spec.load(EXAMPLES / "imdb.yaml", ["objective.minimize=time", "objective.budget=0.00001"])
    result = plan(pipeline, imdb_usage())
    cheapest = plan(pipeline, imdb_usage(), objective=PlanObjective("cost"))
    assert not result.choice.feasible
    assert "budget of $1e-05 is below the cheapest plan" in (result.choice.message or "")
    assert result.choice.plan.cost_usd == pytest.approx(cheapest.choice.plan.cost_usd)


def test_a_tight_deadline_buys_parallel_workers() -> None:
    pipeline = spec.load(EXAMPLES / "cifar10.yaml")
    loose = plan(pipeline, cifar10_usage()).choice.plan
    fastest = plan(pipeline, cifar10_usage(), objective=PlanObjective("time")).choice.plan
    deadline = fastest.time_s * 1.1
    assert deadline < loose.time_s
    tight = plan(pipeline, cifar10_usage(), objective=PlanObjective("cost", deadline_s=deadline)).choice
    assert tight.feasible and tight.plan.time_s <= deadline
    assert tight.plan.cost_usd >= loose.cost_usd
    assert {s.stage: s.estimate.workers for s in tight.plan.stages}["train"] > 1


@pytest.mark.parametrize("name,usages", [("cifar10", cifar10_usage), ("imdb", imdb_usage)])
@pytest.mark.parametrize("deadline", [None, "tight"])
def test_bayes_within_5_percent_of_grid_with_at_most_20_percent_of_evaluations(name, usages, deadline) -> None:  # type: ignore[no-untyped-def]
    pipeline = spec.load(EXAMPLES / f"{name}.yaml")
    grid_options = PlanOptions(optimizer="grid", all_platforms=True, priced_only=True)
    objective = None
    if deadline == "tight":
        fastest = plan(pipeline, usages(), options=grid_options, objective=PlanObjective("time")).choice.plan.time_s
        objective = PlanObjective("cost", deadline_s=fastest * 3)
    grid = plan(pipeline, usages(), options=grid_options, objective=objective)
    bayes_options = PlanOptions(optimizer="bayes", all_platforms=True, priced_only=True)
    bayes = plan(pipeline, usages(), options=bayes_options, objective=objective)
    offerings = candidate_offerings(pipeline, True, priced_only=True)
    platforms = {
        c.offering.provider_key for c in build_spaces(pipeline, usages(), offerings, grid_options)["train"].candidates
    }
    assert len(platforms) >= 5
    assert bayes.choice.feasible and grid.choice.feasible
    g, b = grid.objective_value(grid.choice.plan), bayes.objective_value(bayes.choice.plan)
    assert b <= g * 1.05
    assert bayes.result.total_evaluations <= 0.2 * grid.result.total_evaluations
    # deterministic with a seed
    again = plan(pipeline, usages(), options=bayes_options, objective=objective)
    assert again.objective_value(again.choice.plan) == b


def test_plans_place_stages_only_where_deploy_can_carry_them_out() -> None:
    pipeline = spec.load(EXAMPLES / "cifar10.yaml")
    deployable = {o.id for o in candidate_offerings(pipeline, all_platforms=True)}
    assert deployable == {"aws-lambda:x86_64", "gcp-cloud-run:service", "gcp-cloud-run:job", "azure-functions:premium"}
    everything = {o.id for o in candidate_offerings(pipeline, all_platforms=True, priced_only=True)}
    assert everything - deployable >= {
        "aws-lambda:arm64",
        "azure-functions:flex",
        "azure-functions:consumption",
        "ibm-code-engine:app",
        "oracle-functions:default",
    }
    chosen = plan(pipeline, cifar10_usage(), options=PlanOptions(all_platforms=True)).choice.plan
    assert {p.candidate.offering.id for p in chosen.stages} <= deployable
