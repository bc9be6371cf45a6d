"""The IMDb pipeline (examples/imdb.yaml on the real archive: $MLSPEC_DATA or ../shared/data) end to end,
cold (`--no-cache`), against a plain scikit-learn script doing the same work in one process: read the
archive, TF-IDF word uni+bigrams (min_df 2, 200,000 features, sublinear tf), logistic regression, held-out
accuracy. Each measured in this run, with the machine's load beside it:

1. the pipeline as the example ships it (preprocess mapped over 2 functions, 2 training workers)
   / the script: goal <= 0.6 at accuracy within 0.3 points;
2. the preprocess stage with 2 functions / with 1 (the map's speed-up on this machine's cores).

--quick caps both splits at 5,000 reviews (max_train, max_test) on both sides, and leaves out 2.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.pipeline_runs import absent, machine, mlspec_run, shared_data

ARCHIVE = "aclImdb_v1.tar.gz"
GOALS = {"pipeline_over_script": 0.6, "accuracy_points": 0.3}
QUICK_REVIEWS = 5000

# The plain script: one process, the archive streamed once, scikit-learn for everything.
SCRIPT = """
import re, sys, tarfile, time
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

archive, limit = sys.argv[1], int(sys.argv[2])
member = re.compile(r"aclImdb/(train|test)/(pos|neg)/(\\d+)_\\d+\\.txt$")
rows = {"train": [], "test": []}
with tarfile.open(archive, "r:gz") as tar:
    for info in tar:
        m = member.search(info.name)
        if m:
            text = tar.extractfile(info).read().decode("utf-8", errors="replace")
            rows[m[1]].append((int(m[3]), m[2] == "pos", m[2], text))
splits = {}
for split, items in rows.items():
    items.sort(key=lambda r: (r[0], r[2]))  # by id, then neg before pos: any prefix is balanced
    items = items[:limit] if limit else items
    splits[split] = ([r[3] for r in items], np.array([r[1] for r in items], dtype=int))
vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, max_features=200000, sublinear_tf=True, dtype=np.float32)
train_x = vectorizer.fit_transform(splits["train"][0])
test_x = vectorizer.transform(splits["test"][0])
model = LogisticRegression(C=10.0, max_iter=1000).fit(train_x, splits["train"][1])
print(float((model.predict(test_x) == splits["test"][1]).mean()))
"""


def _pipeline(runs: Path, overrides: list[str]) -> tuple[float, dict[str, Any]]:
    return mlspec_run("imdb.yaml", runs, overrides, "--no-cache")


def _script(archive: Path, limit: int) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(archive), str(limit)], capture_output=True, text=True, timeout=3600
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"the scikit-learn script failed: {proc.stderr[-2000:]}")
    return wall, float(proc.stdout.split()[-1])


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    archive = shared_data(ARCHIVE)
    if archive is None:
        return absent("imdb", ARCHIVE, verbose)
    limit = QUICK_REVIEWS if quick else 0
    base = [f"datasets.imdb.path={archive}"]
    if quick:
        base += [f"datasets.imdb.max_train={limit}", f"datasets.imdb.max_test={limit}"]
    load_start = os.getloadavg()[0]
    script_s, script_accuracy = _script(archive, limit)
    with tempfile.TemporaryDirectory(prefix="bench-imdb-") as tmp:
        runs = Path(tmp) / "runs"
        mapped_s, mapped = _pipeline(runs, base)
        single = None if quick else _pipeline(runs, [*base, "stages.prep.workers=1"])
    accuracy = float(mapped["stages"]["evaluate"]["metrics"]["test_accuracy"])
    stages_s = {name: float(stage["wall_s"]) for name, stage in mapped["stages"].items()}
    out: dict[str, Any] = {
        **machine(load_start, quick),
        "script_s": script_s,
        "script_accuracy": script_accuracy,
        "pipeline_s": mapped_s,
        "pipeline_accuracy": accuracy,
        "pipeline_over_script": mapped_s / script_s,
        "accuracy_points_behind": 100 * (script_accuracy - accuracy),
        "stages_s": stages_s,
    }
    if single is not None:
        prep = {name: float(r["stages"]["prep"]["wall_s"]) for name, r in (("mapped", mapped), ("single", single[1]))}
        out.update(
            pipeline_prep_1_function_s=single[0],
            prep_2_functions_s=prep["mapped"],
            prep_1_function_s=prep["single"],
            prep_speedup=prep["single"] / prep["mapped"],
        )
    if verbose:
        size = f", {limit} reviews per split" if quick else ""
        print(
            f"\nimdb ({ARCHIVE}{size}; {out['cpus']} CPUs, load average {load_start:.1f} at start, "
            f"{out['load_average_end']:.1f} at end; every time measured end to end, cold)"
        )
        print(f"  plain scikit-learn script             {script_s:7.1f} s   test acc {script_accuracy:.4f}")
        print(
            f"  mlspec run examples/imdb.yaml         {mapped_s:7.1f} s   = {out['pipeline_over_script']:.2f} x script "
            f"(goal <= {GOALS['pipeline_over_script']})   test acc {accuracy:.4f} "
            f"({out['accuracy_points_behind']:+.2f} points behind; goal <= {GOALS['accuracy_points']})"
        )
        stages = "  ".join(f"{name} {seconds:.1f}" for name, seconds in stages_s.items())
        print(f"    stages (s): {stages}")
        if single is not None:
            print(
                f"  preprocess, 2 functions / 1 function  {out['prep_2_functions_s']:7.1f} s / "
                f"{out['prep_1_function_s']:.1f} s = {out['prep_speedup']:.2f}x speed-up   (whole run with 1: "
                f"{out['pipeline_prep_1_function_s']:.1f} s)"
            )
    return out
