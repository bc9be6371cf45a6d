"""Scaling of data-parallel training on this machine, each function given 1 vCPU (`targets.local.vcpu=1`:
one math-library thread and one core of its own, as a 1,769 MB Lambda has), through `python -m mlspec run`:

1. strong scaling on the real CIFAR-10 subset ($MLSPEC_DATA or ../shared/data; examples/cifar10.yaml):
   the train stage's time with 2 workers / with 1 at equal epochs. Goal: >= 1.7x at test accuracy within
   1 point. Beside it, measured in the same run, the most this machine gives any data-parallel split of that
   training: the same network's steps in plain PyTorch on random images, one process at the global batch
   against two at once at half of it, one thread and one core each, nothing exchanged;
2. weak scaling on the synthetic CIFAR-10 twin: twice the training examples with twice the workers keeps each
   worker's peak memory within 1.2x (workers hold their shard, never the dataset);
3. modelled, not measured: from the usage the planner takes from the measured 1-worker run of part 1, its time
   model's train-stage time and cost for 1 to 1,000 workers on one offering of each platform a train stage can be
   deployed to (1 vCPU, as measured), and the model's error against the measured 1- and 2-worker runs here.

--quick: fewer epochs and examples.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks import together
from benchmarks.pipeline_runs import absent, machine, mlspec_run, shared_data
from benchmarks.together import describe, serve
from mlspec.datasets import part_bounds
from mlspec.planner.space import MEMORY_HEADROOM, candidate_offerings, memory_sizes
from mlspec.planner.timemodel import estimate_stage
from mlspec.planner.usage import StageUsage, scaled_peak_mb, usage_from_record
from mlspec.providers.catalog import Offering, ProviderLimitError
from mlspec.providers.registry import LOCAL, get_offering
from mlspec.records import RunRecord
from mlspec.spec.models import Pipeline

ARCHIVE = "cifar-10-subset-python.tar.gz"
GOALS = {"speedup_2_workers": 1.7, "accuracy_points": 1.0, "weak_scaling_peak_ratio": 1.2}
EPOCHS = {True: 2, False: 5}
WEAK_TRAIN_SIZE = {True: 1500, False: 4000}
CURVE_WORKERS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000)
CURVE_VCPU = 1.0  # what each function had in the measured runs (targets.local.vcpu=1)
CEILING_STEPS = {True: 40, False: 150}
CEILING_ROUNDS = {True: 0, False: 3}  # quick: no ceiling, so the quick set stays under 5 minutes


def _run(runs: Path, overrides: list[str]) -> dict[str, Any]:
    return mlspec_run("cifar10.yaml", runs, ["targets.local.vcpu=1", *overrides], "--no-cache")[1]


def _train(record: dict[str, Any]) -> dict[str, Any]:
    workers = [i for i in record["invocations"] if i["stage"] == "train"]
    return {
        "train_s": float(record["stages"]["train"]["wall_s"]),
        "test_accuracy": float(record["stages"]["evaluate"]["metrics"]["test_accuracy"]),
        "worker_peak_mb": max(float(i["peak_rss_mb"]) for i in workers),
        "cores": sorted({tuple(i.get("cores") or ()) for i in workers}),
    }


def _strong(archive: Path, runs: Path, quick: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The strong-scaling figures, and the 1- and 2-worker run records they come from (for part 3)."""
    base = [f"datasets.cifar10.path={archive}", f"stages.train.epochs={EPOCHS[quick]}"]
    records = [_run(runs, [*base, f"stages.train.workers={n}"]) for n in (1, 2)]
    one, two = (_train(r) for r in records)
    figures = {
        "epochs": EPOCHS[quick],
        "one_worker": one,
        "two_workers": two,
        "speedup": one["train_s"] / two["train_s"],
        "accuracy_points_lost": 100 * (one["test_accuracy"] - two["test_accuracy"]),
    }
    figures["ceiling"] = ceiling(int(records[1]["spec"]["stages"]["train"]["batch_size"]), quick)
    if "skipped" not in figures["ceiling"]:
        figures["of_ceiling"] = figures["speedup"] / figures["ceiling"]["speedup"]
    return figures, records


def _cnn_steps(config: dict[str, Any]) -> Callable[[], None]:
    """small_cnn's training steps on random images, `steps` of `batch`, one torch thread, warmed up."""
    import torch

    from mlspec.models.small_cnn import small_cnn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = small_cnn(10)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.02, momentum=0.9)
    images, labels = torch.randn(config["batch"], 3, 32, 32), torch.randint(0, 10, (config["batch"],))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(images), labels).backward()
        optimizer.step()

    def work() -> None:
        for _ in range(config["steps"]):
            step()

    for _ in range(5):
        step()
    return work


def ceiling_main(config: dict[str, Any]) -> None:
    serve(config, _cnn_steps)


def ceiling(batch: int, quick: bool, steps: int | None = None, rounds: int | None = None) -> dict[str, Any]:
    """What this machine's first two cores give small_cnn's training split in two with nothing exchanged
    (measured): one process at `batch` against two at once at half of it, the same steps each
    (`CEILING_STEPS` and `CEILING_ROUNDS` unless given)."""
    steps = steps or CEILING_STEPS[quick]
    rounds = CEILING_ROUNDS[quick] if rounds is None else rounds
    half = {"batch": -(-batch // 2), "steps": steps}
    whole = {"batch": batch, "steps": steps}
    figures = together.ceiling("benchmarks.bench_scaling:ceiling_main", whole, [half, half], rounds)
    return {**figures, "steps": steps, "batch": batch}


def _usage(record: dict[str, Any], stage: str) -> StageUsage:
    """The stage's usage as the planner takes it from a run record (`mlspec plan --from-run`)."""
    return usage_from_record(RunRecord.model_validate(record))[stage]


def _need_mb(usage: StageUsage, workers: int) -> float:
    """Memory one of `workers` functions needs: the planner's rule (each holds its shard; x headroom)."""
    return scaled_peak_mb(usage, usage.workers / workers) * MEMORY_HEADROOM.value


def curve_offerings(record: dict[str, Any], stage: str = "train") -> dict[str, tuple[Offering, int]]:
    """Per platform a train stage can be deployed to (the planner's candidates, all clouds), its first such
    offering and the memory it is modelled at: the smallest the offering allows with 1 vCPU (the measured
    runs' envelope) that holds the measured run's peak x headroom, or its largest with 1 vCPU."""
    usage = _usage(record, stage)
    chosen: dict[str, tuple[Offering, int]] = {}
    for offering in candidate_offerings(Pipeline.model_validate(record["spec"]), all_platforms=True):
        if offering.provider_key in chosen:
            continue
        low, high = offering.memory_bounds_for_vcpu(CURVE_VCPU)
        sizes = memory_sizes(offering, max(low, _need_mb(usage, usage.workers)), 1)
        chosen[offering.provider_key] = (offering, min(sizes[0], high) if sizes else high)
    return chosen


def modelled_curve(
    record: dict[str, Any], workers: Sequence[int] = CURVE_WORKERS, stage: str = "train"
) -> dict[str, list[dict[str, Any]]]:
    """The planner's modelled time and cost of `stage` per worker count on each platform of `curve_offerings`,
    from the usage measured in `record` (a run record as `mlspec run --json` prints it). A count the platform's
    concurrency quota refuses, that would leave a shard empty, or whose shard needs more memory than the
    offering is given is `{"workers", "not_possible": why}`."""
    usage = _usage(record, stage)
    spec = record["spec"]["stages"][stage]
    examples = int(record["stages"][spec["data"]]["metrics"]["train_examples"])
    curve: dict[str, list[dict[str, Any]]] = {}
    for platform, (offering, memory_mb) in curve_offerings(record, stage).items():
        points: list[dict[str, Any]] = []
        for n in workers:
            try:
                offering.check_workers(n)
            except ProviderLimitError as exc:
                points.append({"workers": n, "not_possible": str(exc)})
                continue
            if min(stop - start for start, stop in part_bounds(examples, n)) == 0:
                why = f"{examples} training examples leave at least one of {n} shards empty"
                points.append({"workers": n, "not_possible": why})
                continue
            if _need_mb(usage, n) > memory_mb:
                why = f"a shard needs {_need_mb(usage, n):.0f} MB, more than the {memory_mb} MB modelled"
                points.append({"workers": n, "not_possible": why})
                continue
            e = estimate_stage(usage, offering, memory_mb, n, CURVE_VCPU, spec.get("pattern") or "allreduce")
            points.append({"workers": n, "modelled_s": e.time_s, "modelled_usd": e.cost_usd})
        curve[platform] = points
    return curve


def model_error_pct(
    one_worker: dict[str, Any], runs: Sequence[dict[str, Any]], stage: str = "train"
) -> dict[str, float]:
    """Per measured run (keyed by its worker count), the percent by which the planner's modelled time of
    `stage` on this machine, from `one_worker`'s usage, misses the stage's measured wall time there; each
    run is modelled in its own envelope (its functions' vCPU and memory limit)."""
    usage = _usage(one_worker, stage)
    local = get_offering(LOCAL)
    errors: dict[str, float] = {}
    for run in runs:
        worker = next(i for i in run["invocations"] if i["stage"] == stage)
        n = int(run["stages"][stage]["workers"])
        modelled = estimate_stage(usage, local, int(worker["memory_limit_mb"]), n, float(worker["vcpu"])).time_s
        measured = float(run["stages"][stage]["wall_s"])
        errors[str(n)] = 100 * (modelled - measured) / measured
    return errors


def _weak(runs: Path, quick: bool) -> dict[str, Any]:
    size = WEAK_TRAIN_SIZE[quick]
    base = ["datasets.cifar10.synthetic.test_size=200", "stages.train.epochs=1"]
    one = _train(_run(runs, [*base, f"datasets.cifar10.synthetic.train_size={size}", "stages.train.workers=1"]))
    two = _train(_run(runs, [*base, f"datasets.cifar10.synthetic.train_size={2 * size}", "stages.train.workers=2"]))
    return {
        "train_size_per_worker": size,
        "one_worker_peak_mb": one["worker_peak_mb"],
        "two_workers_peak_mb": two["worker_peak_mb"],
        "peak_ratio": two["worker_peak_mb"] / one["worker_peak_mb"],
    }


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    archive = shared_data(ARCHIVE)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-scaling-") as tmp:
        runs = Path(tmp) / "runs"
        if archive is not None:
            strong, records = _strong(archive, runs, quick)
            offerings = curve_offerings(records[0])
            modelled: dict[str, Any] = {
                "curve": modelled_curve(records[0]),
                "curve_offerings": {
                    p: {"offering": o.id, "memory_mb": m, "vcpu": CURVE_VCPU} for p, (o, m) in offerings.items()
                },
                "model_error_pct": model_error_pct(records[0], records),
                # What one sync moves per worker in the model (0: the run reported no model size)
                "curve_model_bytes": _usage(records[0], "train").model_bytes,
                "label": "modelled",
            }
        else:
            strong = absent("strong scaling", ARCHIVE, verbose)
            modelled = {"curve": strong, "model_error_pct": strong}
        weak = _weak(runs, quick)
    out = {
        **machine(load_start, quick),
        "seconds": time.perf_counter() - started,
        "strong": strong,
        "weak": weak,
        **modelled,
    }
    if verbose:
        print(
            f"\nscaling (1 vCPU per function; {out['cpus']} CPUs, load average {load_start:.1f} at start, "
            f"{out['load_average_end']:.1f} at end; train-stage times measured)"
        )
        if "skipped" not in strong:
            one, two = strong["one_worker"], strong["two_workers"]
            print(
                f"  CIFAR-10 subset, {strong['epochs']} epochs: 1 worker {one['train_s']:.1f} s "
                f"(acc {one['test_accuracy']:.4f}, cores {one['cores']}), 2 workers {two['train_s']:.1f} s "
                f"(acc {two['test_accuracy']:.4f}, cores {two['cores']})"
            )
            print(
                f"    speed-up {strong['speedup']:.2f}x (goal >= {GOALS['speedup_2_workers']}), accuracy "
                f"{strong['accuracy_points_lost']:+.2f} points lost (goal <= {GOALS['accuracy_points']})"
            )
            top = strong["ceiling"]
            reached = f"mlspec's 2 workers reach {100 * strong.get('of_ceiling', 0.0):.0f} % of it"
            work = f"plain PyTorch, the same network on random images, nothing exchanged, {top.get('steps')} steps"
            whole, halves = f"1 process x batch {top.get('batch')}", "2 at once x half"
            print("    " + describe(top, work, whole, halves, reached))
        print(
            f"  weak scaling (synthetic twin, {weak['train_size_per_worker']} examples per worker): worker peak "
            f"{weak['one_worker_peak_mb']:.0f} MB with 1, {weak['two_workers_peak_mb']:.0f} MB with 2 = "
            f"{weak['peak_ratio']:.2f}x (goal <= {GOALS['weak_scaling_peak_ratio']})"
        )
        if "skipped" not in strong:
            _print_curve(out)
    return out


def _cell(point: dict[str, Any]) -> str:
    if "not_possible" in point:
        return "not possible"
    return f"{point['modelled_s']:.1f} s ${point['modelled_usd']:.5f}"


def _print_curve(out: dict[str, Any]) -> None:
    curve, offerings, errors = out["curve"], out["curve_offerings"], out["model_error_pct"]
    print(
        "  MODELLED train stage (the planner's time model, not measured) from the usage of the 1-worker run above, "
        f"syncing a {out['curve_model_bytes'] / 1e6:.1f} MB model, each function 1 vCPU at the smallest memory its "
        f"platform allows with 1 vCPU that holds the run's peak x headroom (the run measured at load average "
        f"{out['load_average_start']:.1f}):"
    )
    width = 24
    print("    workers" + "".join(p.rjust(width) for p in curve))
    envelopes = (f"{offerings[p]['offering'].partition(':')[2]} {offerings[p]['memory_mb']} MB" for p in curve)
    print("           " + "".join(e.rjust(width) for e in envelopes))
    for row, n in enumerate(CURVE_WORKERS):
        print(f"    {n:>7}" + "".join(_cell(points[row]).rjust(width) for points in curve.values()))
    for p, points in curve.items():
        refused = [point for point in points if "not_possible" in point]
        if refused:
            counts = ", ".join(str(point["workers"]) for point in refused)
            print(f"    {p} not possible with {counts} workers: {refused[0]['not_possible']}")
    if not out["curve_model_bytes"]:
        print(
            "    sync is modelled as store round trips only, without the model's bytes: the run reported no model "
            "size (large counts are underestimated)"
        )
    measured = ", ".join(f"{n} {'worker' if n == '1' else 'workers'} {pct:+.1f} %" for n, pct in errors.items())
    print(
        "    model error at the measured points (modelled on this machine from the 1-worker run's usage vs the "
        f"measured train-stage wall time): {measured}"
    )
