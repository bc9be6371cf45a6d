"""Measured work per stage, taken from a run record: what the time model scales to other platforms."""

from __future__ import annotations

from dataclasses import dataclass

from mlspec.records import RunRecord


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
    wall_s_per_invocation: float  # mean wall time of one invocation, without its process start
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
    # Of cpu_s, the share spent in training epochs (the rest loads data and saves the model, which does not
    # grow with epochs); 1.0 where not reported.
    epochs_share: float = 1.0

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
        cpu = [_work(i.cpu_s if i.cpu_s is not None else i.wall_s, i.init_s) for i in invs]
        in_epochs = [i.metrics.get("epochs_cpu_s") for i in invs]
        peaks = [i.peak_rss_mb if i.peak_rss_mb is not None else float(i.memory_limit_mb) for i in invs]
        out[name] = StageUsage(
            stage=name,
            kind=stage.kind,
            workers=stage.workers,
            invocations=n,
            cpu_s=sum(cpu),
            wall_s_per_invocation=sum(_work(i.wall_s, i.init_s) for i in invs) / n,
            init_s_per_invocation=sum(i.init_s or 0.0 for i in invs) / n,
            peak_rss_mb=max(peaks),
            host_vcpus_per_invocation=cpus / max(1, stage.workers),
            object_bytes=read + written,
            param_bytes=sum(i.io.get("param_bytes_read", 0) + i.io.get("param_bytes_written", 0) for i in invs),
            object_requests=sum(i.io.get("object_requests", 0) for i in invs),
            sync_rounds=rounds,
            model_bytes=param_written // max(1, rounds * n) if rounds else 0,
            rounds_scale_with_workers=bool(stage_spec.get("sync_every_steps")),
            object_bytes_read=read,
            object_bytes_written=written,
            cpu_s_reported=all(i.cpu_s is not None for i in invs),
            peak_rss_reported=all(i.peak_rss_mb is not None for i in invs),
            epochs_share=(
                min(1.0, sum(e for e in in_epochs if e is not None) / max(sum(cpu), 1e-9))
                if all(e is not None for e in in_epochs)
                else 1.0
            ),
        )
    return out


def _work(seconds: float, init_s: float | None) -> float:
    """An invocation's seconds without its process start and imports (counted apart, as init_s)."""
    return max(seconds - (init_s or 0.0), 0.0)
