"""Re-planning a running train stage from its measured epochs: the model of the rest of the stage per worker
count, and when it changes the count (deadline or budget missed, or a count at least 20 % better)."""

from __future__ import annotations

import pytest

from mlspec.planner.replan import CHEAPER_BY, DEADLINE_RESERVE, Envelope, EpochTiming, decide, epoch_time_s, options
from mlspec.planner.timemodel import sync_time_s
from mlspec.providers.pricing import price
from mlspec.providers.registry import get_offering

LAMBDA = Envelope(get_offering("aws-lambda"), 1024, None)


def test_compute_divides_between_workers_and_measured_sync_scales_by_the_time_model() -> None:
    timing = EpochTiming(workers=2, epoch_s=10.0, sync_s=2.0, model_bytes=4_000_000, sync_rounds=8)
    ratio = sync_time_s(4_000_000, 4, 8) / sync_time_s(4_000_000, 2, 8)
    assert epoch_time_s(timing, 4, "allreduce") == pytest.approx(8.0 * 2 / 4 + 2.0 * ratio)
    assert epoch_time_s(timing, 1, "allreduce") == pytest.approx(16.0)  # one worker does not synchronise
    # Measured with one worker: no sync was measured, so more workers' sync is modelled outright.
    alone = EpochTiming(workers=1, epoch_s=8.0, sync_s=0.0, model_bytes=4_000_000, sync_rounds=8)
    assert epoch_time_s(alone, 2, "allreduce") == pytest.approx(4.0 + sync_time_s(4_000_000, 2, 8))


def test_options_price_the_running_workers_for_one_more_epoch_then_the_new_count_after_a_restart() -> None:
    timing = EpochTiming(workers=1, epoch_s=6.0, sync_s=0.0, model_bytes=1000, sync_rounds=0)
    stay, changes = options(timing, LAMBDA, epochs_left=5, restart_s=3.0, counts=range(1, 5))
    assert (stay.workers, stay.time_s) == (1, pytest.approx(30.0))
    assert stay.cost_usd == pytest.approx(price(LAMBDA.offering, 1024, 30.0, 1, check_limits=False).total_usd)
    two = next(o for o in changes if o.workers == 2)
    assert [o.workers for o in changes] == [2, 3, 4]
    assert two.epoch_s == pytest.approx(3.0 + sync_time_s(1000, 2, 0))
    assert two.time_s == pytest.approx(6.0 + 3.0 + 4 * two.epoch_s)
    lag = price(LAMBDA.offering, 1024, 6.0, 1, check_limits=False).total_usd
    rest = price(LAMBDA.offering, 1024, 3.0 + 4 * two.epoch_s, 2, check_limits=False).total_usd
    assert two.cost_usd == pytest.approx(lag + rest)


def test_a_missed_deadline_takes_the_cheapest_count_that_meets_it() -> None:
    timing = EpochTiming(workers=1, epoch_s=10.0, sync_s=0.0, model_bytes=1000, sync_rounds=0)
    stay, changes = options(timing, LAMBDA, epochs_left=7, restart_s=4.0, counts=range(1, 9))
    decision = decide(stay, changes, "cost", time_left_s=47.0, budget_left_usd=None)
    assert decision is not None and decision.before.workers == 1
    # 10 s more at one worker, 4 s restart, 6 epochs x 10/w s: w = 3 is the first within the 47 s left,
    # less the reserve (w = 2 would take 44 s).
    assert decision.after.workers == 3 and decision.after.time_s <= 47.0 * (1 - DEADLINE_RESERVE)
    assert decision.reason.startswith("deadline would be missed: 70.0 s modelled to go, 47.0 s left")


def test_an_exceeded_budget_takes_fewer_workers_when_synchronising_is_what_costs() -> None:
    timing = EpochTiming(workers=4, epoch_s=9.0, sync_s=8.0, model_bytes=4_000_000, sync_rounds=8)
    stay, changes = options(timing, LAMBDA, epochs_left=6, restart_s=3.0, counts=range(1, 5))
    decision = decide(stay, changes, "time", time_left_s=None, budget_left_usd=stay.cost_usd / 3)
    assert decision is not None and decision.after.workers == 1
    assert decision.after.cost_usd <= stay.cost_usd / 3
    assert decision.reason.startswith("budget would be exceeded")


def test_a_feasible_run_changes_only_for_a_count_at_least_20_percent_better() -> None:
    timing = EpochTiming(workers=2, epoch_s=4.0, sync_s=0.1, model_bytes=1000, sync_rounds=1)
    stay, changes = options(timing, LAMBDA, epochs_left=20, restart_s=3.0, counts=range(1, 5))
    assert decide(stay, changes, "cost", time_left_s=1000.0, budget_left_usd=None) is None
    faster = decide(stay, changes, "time", time_left_s=1000.0, budget_left_usd=None)
    assert faster is not None and faster.after.workers == 4
    assert faster.after.time_s <= (1 - CHEAPER_BY) * stay.time_s
    assert faster.reason.endswith("% faster and feasible")


def test_when_nothing_meets_the_deadline_the_count_that_misses_it_least_is_taken() -> None:
    timing = EpochTiming(workers=1, epoch_s=10.0, sync_s=0.0, model_bytes=1000, sync_rounds=0)
    stay, changes = options(timing, LAMBDA, epochs_left=7, restart_s=4.0, counts=range(1, 3))
    decision = decide(stay, changes, "cost", time_left_s=20.0, budget_left_usd=None)
    assert decision is not None and decision.after.workers == 2 and "miss it least" in decision.reason
    # Nothing to gain: no change.
    assert decide(stay, [], "cost", time_left_s=20.0, budget_left_usd=None) is None
