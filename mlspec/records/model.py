"""Run records: what really happened in a run, every figure measured on the target it ran on."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

InvocationStatus = Literal["ok", "error", "timeout", "memory", "killed"]
StageStatus = Literal["pending", "running", "succeeded", "failed"]
RunStatus = Literal["running", "succeeded", "failed"]
RunPurpose = Literal["run", "profile"]


class _Measured(BaseModel):
    # A diverged training's loss is a real NaN: written as the JSON string "NaN" (and read back as a float),
    # where JSON has no such number (pydantic's default would write null, which the record then cannot read).
    model_config = ConfigDict(ser_json_inf_nan="strings")


class InvocationRecord(_Measured):
    """One function invocation, as measured by the executor that ran it."""

    id: str
    stage: str
    function: str
    worker: int | None = None
    attempt: int = Field(1, description="1 + restarts of this stage after failures so far")
    link: int = Field(0, description="Position in a chain of invocations split by the time limit")
    target: str
    started_at: float = Field(description="Unix time")
    wall_s: float
    cpu_s: float | None = Field(
        description="CPU seconds; None where the platform does not report it (Lambda, HTTP services)"
    )
    peak_rss_mb: float | None = Field(description="Peak memory; None where the platform does not report it")
    init_s: float | None = Field(None, description="Process start and imports before the function ran")
    ready_rss_mb: float | None = Field(
        None, description="Resident memory once started and imported, before the function ran: measured"
    )
    cold_start: bool
    status: InvocationStatus
    error: str | None = None
    memory_limit_mb: int
    time_limit_s: float
    io: dict[str, int] = Field(default_factory=dict, description="Bytes and requests per store")
    metrics: dict[str, float] = Field(default_factory=dict)
    billed_s: float | None = Field(
        None, description="Billed duration the platform reported (e.g. Lambda's REPORT line): measured on `target`"
    )
    request_id: str | None = Field(None, description="The platform's id of the request, to find its logs")
    vcpu: float | None = Field(None, description="The vCPUs the invocation was given, where the executor gives them")
    cores: list[int] | None = Field(
        None, description="The host cores the invocation's process could run on (its CPU affinity), measured"
    )
    node: str | None = Field(None, description="The cluster node that ran it (Ray: node id @ address), measured")
    traceback: str | None = Field(
        None, description="Where a failed function raised: the user's own frames when their code failed"
    )


class TrialRecord(_Measured):
    """One hyperparameter trial of a tune stage; scores are on the validation part of the training split."""

    index: int = Field(description="0 is the spec's own (default) configuration")
    values: dict[str, float]
    status: Literal["ok", "stopped", "failed"]
    epochs: int = Field(0, description="Epochs it ran (fewer when stopped early)")
    validation_accuracy: float | None = None
    validation_loss: float | None = None
    wall_s: float = 0.0
    invocation: str | None = Field(None, description="Id of its (last) invocation")
    cached_from: str | None = Field(None, description="The run whose identical trial was reused (none ran)")
    error: str | None = None


class CachedFrom(_Measured):
    """Where a cached stage's output came from, with the figures measured when that run computed it."""

    run_id: str
    wall_s: float | None = None
    invocations: int = 0
    cpu_s: float | None = None


class ReplanEvent(_Measured):
    """The coordinator changed a train stage's workers after an epoch, from the epochs it had measured."""

    after_epoch: int = Field(description="The last epoch measured before deciding")
    at: float = Field(description="Unix time of the decision")
    reason: str
    workers_before: int
    workers_after: int
    measured_epoch_s: float = Field(description="The last epoch's wall time, slowest worker: measured")
    time_left_s: float | None = Field(description="Until the deadline, less the later stages' planned time")
    budget_left_usd: float | None = Field(description="Budget less the cost so far and the later stages' planned")
    modelled_before: dict[str, float] = Field(description="The rest of the stage carrying on: modelled")
    modelled_after: dict[str, float] = Field(description="The rest of the stage after the change: modelled")


class StageRecord(_Measured):
    name: str
    kind: str
    status: StageStatus = "pending"
    started_at: float | None = None
    wall_s: float | None = None
    invocations: int = 0
    retries: int = 0
    chained: int = Field(0, description="Extra invocation rounds: forced by the time limit, or after a re-plan")
    workers: int = 1
    peak_rss_mb: float | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    history: list[dict[str, float]] = Field(default_factory=list, description="Per epoch, from worker 0")
    trials: list[TrialRecord] = Field(default_factory=list, description="Tune stages: every trial")
    best: dict[str, float] | None = Field(None, description="Tune stages: the configuration chosen")
    error: str | None = None
    cache_key: str | None = Field(None, description="What the output depends on, hashed (`mlspec cache show`)")
    cached_from: CachedFrom | None = Field(
        None, description="Reused from the stage cache: no function ran, the time is the restore's"
    )
    cache_note: str | None = Field(None, description="Why the stage was not cached or reused, when not plain")
    replans: list[ReplanEvent] = Field(
        default_factory=list, description="Changes of workers made while the stage ran (runs that follow a plan)"
    )


class PlannedStageRecord(_Measured):
    """What a plan said of a stage: where, in what envelope, and its modelled figures."""

    platform: str = Field(description="provider:offering")
    memory_mb: int
    vcpu: float | None = Field(description="The platform's vCPU at that memory: assumed (catalog)")
    workers: int
    time_s: float = Field(description="Modelled")
    cost_usd: float = Field(description="Modelled, egress included")
    egress_gb: float = Field(0.0, description="Modelled: read from stages planned on another cloud")
    egress_usd: float = Field(0.0, description="Modelled: at the producing cloud's egress price")
    # Parts of time_s, so that the model can be re-evaluated for the envelope a stage was emulated in.
    compute_s: float | None = Field(None, description="Modelled: computing at `speed` vCPU-equivalents")
    sync_s: float | None = Field(None, description="Modelled: synchronising")
    sync_here_s: float | None = Field(
        None, description="Modelled from measured: synchronising at the speed the profiled run's store had"
    )
    init_s: float | None = Field(None, description="Modelled from measured: process start and imports")
    speed: float | None = Field(None, description="vCPU-equivalents the compute was modelled at")
    parallelism: float | None = Field(None, description="The most vCPUs the stage's code used where measured")


class FollowedPlan(_Measured):
    """The plan a run followed (`mlspec run --plan`): every stage emulated in its planned platform's
    envelope on this host, so the run's figures are *emulated*, and the model can be checked against them."""

    file: str
    emulated: bool = True
    host: str = Field(description="Where the stages were emulated")
    host_cores: int
    stages: dict[str, PlannedStageRecord]
    minimize: Literal["cost", "time"] = "cost"
    deadline_s: float | None = None
    budget_usd: float | None = None
    replan: bool = Field(False, description="Train stages re-plan their workers after each epoch")


class RunRecord(_Measured):
    """`.mlspec/runs/<run_id>/record.json`. All figures are measured on `target`."""

    schema_version: int = 1
    run_id: str
    name: str
    spec_file: str
    overrides: list[str] = Field(default_factory=list)
    spec: dict[str, Any] = Field(description="The resolved spec after overrides and defaults")
    target: str
    executor: str
    purpose: RunPurpose = Field(
        "run",
        description="profile: a short run `mlspec plan --profile` made to measure "
        "usage, never taken as the latest run of the pipeline",
    )
    status: RunStatus = "running"
    started_at: float
    finished_at: float | None = None
    wall_s: float | None = None
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    host: dict[str, Any] = Field(default_factory=dict)
    coordinator_pid: int | None = Field(None, description="To tell a run in progress from one whose coordinator died")
    mlspec_version: str
    stages: dict[str, StageRecord] = Field(default_factory=dict)
    invocations: list[InvocationRecord] = Field(default_factory=list)
    plan: FollowedPlan | None = Field(None, description="The plan this run followed, emulated here")
