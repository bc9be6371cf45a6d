"""Measured work per stage, taken from a run record: what the time model scales to other platforms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlspec.providers.catalog import Fact, assumed
from mlspec.records import InvocationRecord, RunRecord

EXTRAPOLATED_MEMORY: Fact[float] = assumed(
    1.5,
    "mlspec assumption",
    "2026-12-07",
    "memory measured on less data grows more than in proportion when extrapolated (e.g. CIFAR-10 prep: "
    "308 MB for 8,455 images where 2,000 + 3,017 measured 137 MB): the grown part is taken x1.5",
)


@dataclass(frozen=True)
class StageUsage:
    """A stage's measured usage on the machine that ran it (all figures measured)."""

    stage: str
    kind: str
    workers: int
    invocations: int
    # CPU seconds summed over the stage's invocations (see cpu_s_reported), without the process start and
    # imports, which init_s_per_invocation counts
    cpu_s: float
    wall_s_per_invocation: float  # mean wall time of one invocation
    init_s_per_invocation: float  # mean process start and imports
    peak_rss_mb: float
    host_vcpus_per_invocation: float  # the CPU share each invocation had where it was measured
    object_bytes: int  # read + written, summed
    param_bytes: int  # read + written, summed
    object_requests: int
    sync_rounds: int  # synchronisation rounds per worker (train stages)
    model_bytes: int  # size of one published model (train stages), 0 otherwise
    # Where the synchronisation rounds come from: once per epoch (the count does not depend on the
    # worker count) or every N minibatches (each worker's shard shrinks as workers grow, so do its rounds).
    rounds_scale_with_workers: bool = False
    object_bytes_read: int | None = None  # None: not known separately (half of object_bytes is assumed)
    # False where the platform reported no CPU time or peak memory (Lambda, HTTP services): cpu_s then
    # assumes one busy vCPU for the whole wall time, peak_rss_mb the memory limit the invocation had.
    cpu_s_reported: bool = True
    peak_rss_reported: bool = True
    object_bytes_written: int | None = None
    # Resident memory before the function ran (the interpreter and its imports): the part of the peak that
    # does not grow with the data; None where not measured.
    base_rss_mb: float | None = None
    # Of cpu_s, the shares spent in each epoch's steps (they grow with epochs x training examples) and in
    # scoring the test split after each epoch (epochs x test examples); the rest loads the data and saves
    # the model. Where not reported, all of it is taken as steps.
    steps_share: float = 1.0
    scoring_share: float = 0.0
    # Measured where more than one worker synchronised: the mean seconds a worker spent in one round, through the
    # run's own store and waiting for the others; None where nothing was exchanged.
    sync_s_per_round: float | None = None
    # Of cpu_s, the share in invocations that run once per stage, alone and one after another, whatever the worker
    # count (a preprocess map's split and merge, around its parts), and how many of those there are.
    serial_share: float = 0.0
    serial_invocations: int = 0

    @property
    def fixed_cpu_s_per_invocation(self) -> float:
        """CPU seconds each invocation spends whatever its share of the examples: outside the steps and the
        scoring (imports after start, the model built, the test split loaded, the model saved), where the
        functions report those; 0 where they do not (all of cpu_s is then taken to divide among workers)."""
        return self.cpu_s * max(0.0, 1.0 - self.steps_share - self.scoring_share) / max(self.parallel_invocations, 1)

    @property
    def parallel_invocations(self) -> int:
        return self.invocations - self.serial_invocations

    @property
    def serial_cpu_s(self) -> float:
        return self.cpu_s * self.serial_share

    def cpu_s_per_worker(self, workers: int) -> float:
        """The CPU seconds on the stage's path through one of `workers` workers: its part of the work that divides,
        all of the work every invocation repeats, and the invocations that run once, alone (a map's split and
        merge)."""
        fixed = self.fixed_cpu_s_per_invocation
        divides = self.cpu_s - self.serial_cpu_s - fixed * self.parallel_invocations
        return divides / max(workers, 1) + fixed + self.serial_cpu_s

    @property
    def bytes_read(self) -> int:
        return self.object_bytes_read if self.object_bytes_read is not None else self.object_bytes // 2

    @property
    def bytes_written(self) -> int:
        return self.object_bytes_written if self.object_bytes_written is not None else self.object_bytes // 2


def usage_from_record(record: RunRecord) -> dict[str, StageUsage]:
    """Usage of every stage that succeeded in `record`, keyed by stage name."""
    cpus = float(record.host.get("cpus") or 1)
    out: dict[str, StageUsage] = {}
    for name, stage in record.stages.items():
        invs = [i for i in record.invocations if i.stage == name and i.status == "ok"]
        if stage.status != "succeeded" or not invs:
            continue
        n = len(invs)
        rounds = max(int(i.metrics.get("sync_rounds", 0)) for i in invs)
        stage_spec = (record.spec.get("stages") or {}).get(name) or {}
        read = sum(i.io.get("object_bytes_read", 0) for i in invs)
        written = sum(i.io.get("object_bytes_written", 0) for i in invs)
        param_written = sum(i.io.get("param_bytes_written", 0) for i in invs)
        cpu = [i.wall_s if i.cpu_s is None else _work(i.cpu_s, i.init_s) for i in invs]
        steps = [_steps_cpu_s(i.metrics) for i in invs]
        scoring = [i.metrics.get("scoring_cpu_s") for i in invs]
        reported = all(x is not None for x in (*steps, *scoring)) and sum(cpu) > 0
        # In a stage of several workers, an invocation without a worker index is a step run once (a map's split, merge)
        serial = [c for c, i in zip(cpu, invs, strict=True) if stage.workers > 1 and i.worker is None]
        ready = [i.ready_rss_mb for i in invs if i.ready_rss_mb is not None]
        ready = ready if len(ready) == n else []
        peaks = [i.peak_rss_mb if i.peak_rss_mb is not None else float(i.memory_limit_mb) for i in invs]
        out[name] = StageUsage(
            stage=name,
            kind=stage.kind,
            workers=stage.workers,
            invocations=n,
            cpu_s=sum(cpu),
            wall_s_per_invocation=sum(i.wall_s for i in invs) / n,
            init_s_per_invocation=sum(i.init_s or 0.0 for i in invs) / n,
            peak_rss_mb=max(peaks),
            host_vcpus_per_invocation=cpus / max(1, stage.workers),
            object_bytes=read + written,
            param_bytes=sum(i.io.get("param_bytes_read", 0) + i.io.get("param_bytes_written", 0) for i in invs),
            object_requests=sum(i.io.get("object_requests", 0) for i in invs),
            sync_rounds=rounds,
            model_bytes=_model_bytes(invs, param_written, rounds),
            rounds_scale_with_workers=bool(stage_spec.get("sync_every_steps")),
            object_bytes_read=read,
            object_bytes_written=written,
            cpu_s_reported=all(i.cpu_s is not None for i in invs),
            peak_rss_reported=all(i.peak_rss_mb is not None for i in invs),
            base_rss_mb=max(ready) if ready else None,
            steps_share=min(1.0, sum(x or 0.0 for x in steps) / sum(cpu)) if reported else 1.0,
            scoring_share=min(1.0, sum(x or 0.0 for x in scoring) / sum(cpu)) if reported else 0.0,
            sync_s_per_round=_sync_s_per_round(invs),
            serial_share=sum(serial) / sum(cpu) if sum(cpu) > 0 else 0.0,
            serial_invocations=len(serial),
        )
    return out


def _sync_s_per_round(invs: list[InvocationRecord]) -> float | None:
    per_round = [
        float(i.metrics["sync_s"]) / float(i.metrics["sync_rounds"])
        for i in invs
        if float(i.metrics.get("sync_rounds", 0)) > 0 and "sync_s" in i.metrics
    ]
    return sum(per_round) / len(per_round) if len(invs) > 1 and len(per_round) == len(invs) else None


def _model_bytes(invs: list[InvocationRecord], param_written: int, rounds: int) -> int:
    """What one sync moves per worker: as the training functions report it, else from the parameter bytes
    written (nothing for a run with one worker, which exchanges nothing)."""
    reported = [i.metrics["model_bytes"] for i in invs if "model_bytes" in i.metrics]
    if reported:
        return int(max(reported))
    return param_written // max(1, rounds * len(invs)) if rounds else 0


def _steps_cpu_s(metrics: dict[str, Any]) -> float | None:
    """The CPU seconds of a train invocation's epochs that grow with epochs x examples: its steps, less what its
    first epoch cost above the later ones (paid once per invocation, like its start); None where not reported."""
    steps = metrics.get("steps_cpu_s")
    return None if steps is None else steps - metrics.get("first_epoch_extra_cpu_s", 0.0)


def _work(cpu_s: float, init_s: float | None) -> float:
    """An invocation's CPU seconds without its process start and imports (counted apart, as init_s): the
    CPU time of a process includes its start, where a platform's reported duration does not."""
    return max(cpu_s - (init_s or 0.0), 0.0)


def scaled_peak_mb(usage: StageUsage, data_ratio: float) -> float:
    """The peak memory with `data_ratio` times the data per invocation: the part above what the process held
    before its function ran grows with the data, with a margin where it grows (`EXTRAPOLATED_MEMORY`); where
    that was not measured, the peak is kept."""
    if usage.base_rss_mb is None:
        return usage.peak_rss_mb
    base = min(usage.base_rss_mb, usage.peak_rss_mb)
    margin = EXTRAPOLATED_MEMORY.value if data_ratio > 1 else 1.0
    return base + (usage.peak_rss_mb - base) * data_ratio * margin
