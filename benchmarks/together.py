"""The benchmarks' child Python processes (`start`), and ceilings: the same work timed in one process and
split over two processes at once, one thread and one core each, nothing exchanged. What a data-parallel split
of that work can gain on this machine at most, for the benchmarks to print beside what mlspec's workers gain.

Each process prepares its work first (imports, data, a warm-up), says "ready" and waits; all of them are
then started together and each times only its work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
Prepare = Callable[[dict[str, Any]], Callable[[], None]]


def serve(config: dict[str, Any], prepare: Prepare) -> None:
    """The process's side: pinned to core `config["core"]` with one BLAS/OpenMP thread (torch's own threads
    are `prepare`'s to set), `prepare(config)` returns the work; after "ready" and a line on stdin, the work's
    seconds are printed as JSON."""
    os.sched_setaffinity(0, {config["core"]})
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        work = prepare(config)
        print("ready", flush=True)
        sys.stdin.readline()
        started = time.perf_counter()
        work()
        print(json.dumps({"s": time.perf_counter() - started}), flush=True)


def start(entry: str, config: dict[str, Any], env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen[str]:
    """`entry` ("module:function") called with `config` in a new Python process at the repository root
    (`env`, else this process's environment, with the repository on PYTHONPATH)."""
    module, function = entry.split(":")
    code = f"import json, sys; from {module} import {function} as m; m(json.loads(sys.argv[1]))"
    environment = dict(env if env is not None else os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(config)], cwd=ROOT, env=environment, text=True, **popen
    )


def timed_together(entry: str, configs: Sequence[dict[str, Any]]) -> float:
    """Seconds until the last of one process per config is done, started together; each runs `entry`
    ("module:function", a function of the config that calls `serve`)."""
    procs = [start(entry, config, stdin=subprocess.PIPE, stdout=subprocess.PIPE) for config in configs]
    try:
        for proc in procs:  # every process prepared before any is timed
            line = proc.stdout.readline().strip() if proc.stdout else ""
            if line != "ready":
                raise RuntimeError(f"a ceiling process of {entry} did not get ready (exit {proc.wait()})")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        seconds = [float(json.loads(proc.communicate(timeout=3600)[0])["s"]) for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
    return max(seconds)


def ceiling(entry: str, whole: dict[str, Any], halves: Sequence[dict[str, Any]], rounds: int) -> dict[str, Any]:
    """The speed-up of `halves` (two configs, run at once on the first two cores) over `whole` (one process
    on the first core): the median over `rounds` rounds that alternate which goes first, for this machine's
    drift (measured). No rounds (the benchmarks' --quick) measures nothing."""
    cores = sorted(os.sched_getaffinity(0))[:2]
    if len(cores) < 2:
        return {"skipped": "one core: no split to measure"}
    if rounds == 0:
        return {"skipped": "measured in the full run only (a round of it costs 10-20 s)"}
    one = [{**whole, "core": cores[0]}]
    two = [{**half, "core": core} for half, core in zip(halves, cores, strict=True)]
    measured = []
    for i in range(rounds):
        order = [one, two] if i % 2 == 0 else [two, one]
        timed = {len(configs): timed_together(entry, configs) for configs in order}
        measured.append({"one_process_s": timed[1], "two_processes_s": timed[2], "speedup": timed[1] / timed[2]})
    middle = sorted(measured, key=lambda r: r["speedup"])[len(measured) // 2]
    return {**middle, "rounds": measured, "cores": cores, "label": "measured"}


def describe(figures: dict[str, Any], work: str, whole: str, halves: str, reached: str) -> str:
    """The benchmarks' line for a `ceiling`: `work` measured, as `whole` against `halves`, and what mlspec
    `reached` of it."""
    if "skipped" in figures:
        return f"this machine's ceiling for it: {figures['skipped']}"
    spread = ", ".join(f"{r['speedup']:.2f}" for r in figures["rounds"])
    return (
        f"this machine's ceiling for it, measured ({work}): {whole} {figures['one_process_s']:.2f} s, {halves} "
        f"{figures['two_processes_s']:.2f} s = {figures['speedup']:.2f}x (rounds: {spread}); {reached}"
    )
