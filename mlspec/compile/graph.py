"""Spec -> FunctionGraph: the functions each stage becomes, how many run in parallel, what each
needs installed, and the static part of its invocation event. One expander per stage kind."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mlspec.spec.models import EvaluateStage, Pipeline, PreprocessStage, StageBase, TrainStage

# Python packages per kind of work, so a scikit-learn-only function does not ship torch.
MODEL_REQUIREMENTS = {"small_cnn": ("torch",), "logistic_regression": ("scikit-learn", "scipy")}
FORMAT_REQUIREMENTS = {"cifar10": (), "imdb": ("scikit-learn", "scipy")}


@dataclass(frozen=True)
class FunctionNode:
    stage: str
    kind: str
    function: str  # runtime function name (mlspec.runtime.FUNCTIONS)
    fan_out: int  # invocations that run at once
    requirements: tuple[str, ...]
    after: tuple[str, ...]  # stages that must finish first
    memory_mb: int | None = None  # per-stage override of the target's limits
    timeout_s: float | None = None
    retries: int = 0
    config: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.stage}.{self.function}"


@dataclass(frozen=True)
class FunctionGraph:
    pipeline: str
    nodes: tuple[FunctionNode, ...]  # in an order that respects `after`

    def node(self, stage: str) -> FunctionNode:
        return next(n for n in self.nodes if n.stage == stage)


def data_prefix(stage: str) -> str:
    return f"data/{stage}"


def model_prefix(stage: str) -> str:
    return f"models/{stage}"


def _preprocess(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, PreprocessStage)
    dataset = pipeline.datasets[stage.dataset]
    counts = sorted({s.workers for s in pipeline.stages.values() if isinstance(s, TrainStage) and s.data == name})
    return FunctionNode(
        stage=name, kind=stage.kind, function="preprocess", fan_out=1,
        requirements=FORMAT_REQUIREMENTS[dataset.format], after=(),
        config={
            "dataset": dataset.model_dump(),
            "options": {"max_features": stage.max_features, "ngram_max": stage.ngram_max, "min_df": stage.min_df},
            "shard_counts": counts or [1],
            "seed": pipeline.seed,
            "output": data_prefix(name),
        },
    )  # fmt: skip


def _train(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, TrainStage)
    return FunctionNode(
        stage=name, kind=stage.kind, function="train_worker", fan_out=stage.workers,
        requirements=MODEL_REQUIREMENTS[stage.model], after=(stage.data,),
        config={
            "data": data_prefix(stage.data),
            "model": stage.model,
            "options": {"learning_rate": stage.learning_rate, "momentum": stage.momentum,
                        "weight_decay": stage.weight_decay, "admm_rho": stage.admm_rho},
            "algorithm": stage.algorithm,
            "epochs": stage.epochs,
            "batch_size": -(-stage.batch_size // stage.workers),  # per worker, rounded up
            "sync_every_steps": stage.sync_every_steps,
            "sync": {"pattern": stage.pattern, "protocol": stage.protocol, "staleness": stage.staleness},
            "workers": stage.workers,
            "seed": pipeline.seed,
            "output": model_prefix(name),
        },
    )  # fmt: skip


def _evaluate(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, EvaluateStage)
    trained = pipeline.stages[stage.model]
    assert isinstance(trained, TrainStage)
    return FunctionNode(
        stage=name, kind=stage.kind, function="evaluate", fan_out=1,
        requirements=MODEL_REQUIREMENTS[trained.model], after=(stage.model,),
        config={"model_prefix": model_prefix(stage.model)},
    )  # fmt: skip


EXPANDERS: dict[str, Callable[[Pipeline, str, StageBase], FunctionNode]] = {
    "preprocess": _preprocess,
    "train": _train,
    "evaluate": _evaluate,
}


def graph(pipeline: Pipeline) -> FunctionGraph:
    nodes = []
    for name in pipeline.stage_order():
        stage = pipeline.stages[name]
        node = EXPANDERS[stage.kind](pipeline, name, stage)
        nodes.append(replace(node, memory_mb=stage.memory_mb, timeout_s=stage.timeout_s, retries=stage.retries))
    return FunctionGraph(pipeline.name, tuple(nodes))
