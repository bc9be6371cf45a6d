"""The scaling benchmark's ceiling (benchmarks/bench_scaling.py): plain PyTorch processes, really started and
timed; what is asserted is how the figures are made, not how fast this machine is."""

from __future__ import annotations

import os

import pytest

from benchmarks.bench_scaling import ceiling


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="the ceiling splits the work over two cores")
def test_the_ceiling_times_one_process_against_two_at_half_the_batch() -> None:
    pytest.importorskip("torch")
    figures = ceiling(8, quick=True, steps=3, rounds=1)
    assert figures["label"] == "measured" and figures["batch"] == 8 and figures["steps"] == 3
    assert len(set(figures["cores"])) == 2
    [round_] = figures["rounds"]
    assert round_["one_process_s"] > 0 and round_["two_processes_s"] > 0
    assert figures["speedup"] == pytest.approx(round_["one_process_s"] / round_["two_processes_s"])
