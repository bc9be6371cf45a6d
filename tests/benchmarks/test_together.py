"""The benchmarks' ceilings (benchmarks/together.py): real processes, prepared apart and timed together. Their
work here is a sleep, so what the test asserts does not depend on how busy the machine is."""

from __future__ import annotations

import os
import time
from typing import Any

import pytest

from benchmarks.together import ceiling, serve

ENTRY = "tests.benchmarks.test_together:sleeper_main"


def sleeper_main(config: dict[str, Any]) -> None:
    def prepare(config: dict[str, Any]) -> Any:
        if config.get("fail"):
            raise SystemExit(3)
        time.sleep(config.get("prepare_s", 0))  # a slow start must not count
        return lambda: time.sleep(config["s"])

    serve(config, prepare)


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the ceiling splits the work over two cores")
def test_two_halves_run_at_once_after_both_are_prepared() -> None:
    halves = [{"s": 0.5, "prepare_s": 1.0}, {"s": 0.5}]
    figures = ceiling(ENTRY, {"s": 1.0}, halves, rounds=3)
    assert figures["label"] == "measured" and len(set(figures["cores"])) == 2 and len(figures["rounds"]) == 3
    for measured in figures["rounds"]:
        assert 1.0 <= measured["one_process_s"] < 1.4
        assert 0.5 <= measured["two_processes_s"] < 0.9  # the slower start is not timed, the halves overlap
        assert measured["speedup"] == measured["one_process_s"] / measured["two_processes_s"]
    assert figures["speedup"] == sorted(r["speedup"] for r in figures["rounds"])[1]  # the median round


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the ceiling splits the work over two cores")
def test_a_process_that_never_gets_ready_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="did not get ready \\(exit 3\\)"):
        ceiling(ENTRY, {"s": 0.1}, [{"s": 0.1}, {"s": 0.1, "fail": True}], rounds=1)


def test_no_rounds_measures_nothing_and_says_so() -> None:
    figures = ceiling(ENTRY, {"s": 0.1}, [{"s": 0.1}, {"s": 0.1, "fail": True}], rounds=0)
    assert set(figures) == {"skipped"} and "full run only" in figures["skipped"]
