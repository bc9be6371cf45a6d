"""The stage cache on the IMDb example (the real archive: $MLSPEC_DATA or ../shared/data), each through
`python -m mlspec run` end to end, in one fresh runs directory:

1. a first (cold) run;
2. a rerun with `stages.train.epochs` changed: preprocess reused, train/evaluate/serve run; then the
   same rerun twice more with `--force train` (the same work again), and the median of the three (quick:
   the one rerun).
   Goal: <= 0.25 of the first run's wall time;
3. the same changed options with --no-cache, for the accuracy the cached rerun must equal;
4. a rerun with nothing changed: every stage reused. Goal: <= 3 s end to end.

--quick caps the training split (max_train) so the whole benchmark takes about a minute.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.pipeline_runs import absent, machine, mlspec_run, shared_data

ARCHIVE = "aclImdb_v1.tar.gz"
GOALS = {"changed_train_ratio": 0.25, "unchanged_rerun_s": 3.0}
RERUNS = {True: 1, False: 3}  # runs of the changed rerun (quick, full)


def _run(runs: Path, overrides: list[str], *flags: str) -> tuple[float, dict[str, Any]]:
    return mlspec_run("imdb.yaml", runs, overrides, *flags)


def _accuracy(record: dict[str, Any]) -> float:
    return float(record["stages"]["evaluate"]["metrics"]["test_accuracy"])


def _cached(record: dict[str, Any]) -> list[str]:
    return [name for name, stage in record["stages"].items() if stage.get("cached_from")]


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    archive = shared_data(ARCHIVE)
    if archive is None:
        return absent("cache", ARCHIVE, verbose)
    base = [f"datasets.imdb.path={archive}"] + (["datasets.imdb.max_train=5000"] if quick else [])
    changed = [*base, "stages.train.epochs=6"]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        runs = Path(tmp) / "runs"
        first_s, first = _run(runs, base)
        rerun_s, rerun = _run(runs, changed)
        reruns = [rerun_s] + [_run(runs, changed, "--force", "train")[0] for _ in range(RERUNS[quick] - 1)]
        uncached_s, uncached = _run(runs, changed, "--no-cache")
        same_s, same = _run(runs, base)
    out: dict[str, Any] = {
        **machine(load_start, quick),
        "first_run_s": first_s,
        "changed_train_rerun_s": statistics.median(reruns),
        "changed_train_reruns_s": reruns,
        "changed_train_uncached_s": uncached_s,
        "unchanged_rerun_s": same_s,
        "changed_train_ratio": statistics.median(reruns) / first_s,
        "changed_train_cached_stages": _cached(rerun),
        "unchanged_cached_stages": _cached(same),
        "accuracy_cached_rerun": _accuracy(rerun),
        "accuracy_uncached": _accuracy(uncached),
        "accuracy_first": _accuracy(first),
        "accuracy_unchanged_rerun": _accuracy(same),
    }
    if verbose:
        print(
            f"\ncache (IMDb, {ARCHIVE}{', max_train 5000' if quick else ''}; {out['cpus']} CPUs, load average "
            f"{load_start:.1f} at start, {out['load_average_end']:.1f} at end; every time measured end to end)"
        )
        print(f"  first run (cold)                      {first_s:7.1f} s   test acc {out['accuracy_first']:.4f}")
        print(
            f"  epochs changed, cached rerun          {out['changed_train_rerun_s']:7.1f} s   = "
            f"{out['changed_train_ratio']:.2f} x first (goal <= {GOALS['changed_train_ratio']})   median of "
            f"{', '.join(f'{s:.1f}' for s in reruns)} s   reused: {', '.join(out['changed_train_cached_stages'])}"
        )
        print(
            f"  epochs changed, --no-cache            {uncached_s:7.1f} s   test acc {out['accuracy_uncached']:.4f} "
            f"(cached rerun: {out['accuracy_cached_rerun']:.4f})"
        )
        print(
            f"  nothing changed                       {same_s:7.1f} s   (goal <= {GOALS['unchanged_rerun_s']:g} s)   "
            f"reused: {', '.join(out['unchanged_cached_stages'])}"
        )
    return out
