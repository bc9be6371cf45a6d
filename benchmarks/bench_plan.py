"""Model-only `plan` (grid and bayes) on examples/cifar10.yaml and examples/imdb.yaml over every cloud
platform of the catalog (>= 5 platforms x 20 memory sizes x 1-64 workers), with stage usage built from
realistic measured figures. Reports seconds, evaluations, and bayes/grid ratios of the best objective
and of the evaluations, all measured in the same run. scikit-learn's import is timed separately."""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path
from typing import Any

from mlspec import spec
from mlspec.planner.optimize import PlanObjective
from mlspec.planner.plan import PlanOptions, plan
from mlspec.planner.usage import StageUsage

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _usage(
    stage: str,
    kind: str,
    workers: int,
    cpu_s: float,
    rss_mb: float,
    model_bytes: int = 0,
    rounds: int = 0,
    per_steps: bool = False,
    read: int = 0,
    written: int = 0,
) -> StageUsage:
    return StageUsage(
        stage=stage,
        kind=kind,
        workers=workers,
        invocations=workers,
        cpu_s=cpu_s,
        wall_s_per_invocation=cpu_s / workers * 1.1,
        init_s_per_invocation=1.5,
        peak_rss_mb=rss_mb,
        host_vcpus_per_invocation=1.0,
        object_bytes=read + written,
        param_bytes=2 * model_bytes * rounds * workers,
        object_requests=20 * workers,
        sync_rounds=rounds,
        model_bytes=model_bytes,
        rounds_scale_with_workers=per_steps,
        object_bytes_read=read,
        object_bytes_written=written,
    )


USAGE: dict[str, dict[str, StageUsage]] = {
    "cifar10": {
        "prep": _usage("prep", "preprocess", 1, 40, 900, read=170_000_000, written=180_000_000),
        "train": _usage("train", "train", 2, 135, 700, 2_500_000, 1300, True, 180_000_000, 30_000_000),
        "evaluate": _usage("evaluate", "evaluate", 1, 8, 600, read=35_000_000),
    },
    "imdb": {
        "prep": _usage("prep", "preprocess", 1, 40, 1500, read=85_000_000, written=120_000_000),
        "train": _usage("train", "train", 4, 20, 800, 800_000, 5, False, 120_000_000, 5_000_000),
        "evaluate": _usage("evaluate", "evaluate", 1, 5, 700, read=60_000_000),
        "serve": _usage("serve", "serve", 1, 3, 500, read=10_000_000, written=3_000_000),
    },
}


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    import sklearn.gaussian_process  # noqa: F401  (timed apart from planning)

    out: dict[str, Any] = {"sklearn_import_s": time.perf_counter() - started, "cases": []}
    repeats = 1 if quick else 3
    # The whole catalog, priced-only offerings too: the widest search space the optimisers face.
    everything = PlanOptions(all_platforms=True, priced_only=True)
    for name, usages in USAGE.items():
        pipeline = spec.load(EXAMPLES / f"{name}.yaml")
        fastest = plan(pipeline, usages, options=everything, objective=PlanObjective("time"))
        objectives = {"spec": None, "tight deadline": PlanObjective("cost", deadline_s=fastest.choice.plan.time_s * 2)}
        for label, objective in objectives.items():
            row: dict[str, Any] = {"example": name, "objective": label}
            best: dict[str, float] = {}
            for optimizer in ("grid", "bayes"):
                times = []
                for _ in range(repeats):
                    t = time.perf_counter()
                    result = plan(
                        pipeline,
                        usages,
                        objective=objective,
                        options=dataclasses.replace(everything, optimizer=optimizer),
                    )  # type: ignore[arg-type]
                    times.append(time.perf_counter() - t)
                best[optimizer] = result.objective_value(result.choice.plan)
                row[optimizer] = {
                    "seconds": statistics.median(times),
                    "evaluations": result.result.total_evaluations,
                    "grid_size": result.result.grid_size,
                    "best_objective": best[optimizer],
                    "feasible": result.choice.feasible,
                    "platforms": len({o.split(":")[0] for o in result.result.alternatives}),
                }
            row["bayes_over_grid_objective"] = best["bayes"] / best["grid"]
            row["bayes_over_grid_evaluations"] = row["bayes"]["evaluations"] / row["grid"]["evaluations"]
            out["cases"].append(row)
            if verbose:
                g, b = row["grid"], row["bayes"]
                print(
                    f"{name:8} {label:15} grid {g['seconds']:.3f} s {g['evaluations']:5d} evals "
                    f"({g['platforms']} platforms) | bayes {b['seconds']:.3f} s {b['evaluations']:4d} evals | "
                    f"objective ratio {row['bayes_over_grid_objective']:.4f}, "
                    f"evaluations ratio {row['bayes_over_grid_evaluations']:.3f}"
                )
    if verbose:
        print(f"scikit-learn import (once, not in the figures above): {out['sklearn_import_s']:.2f} s")
    return out
