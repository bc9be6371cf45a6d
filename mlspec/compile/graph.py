"""Spec -> FunctionGraph: the functions each stage becomes, how many run in parallel, what each
needs installed, and the static part of its invocation event. One expander per stage kind."""

from __future__ import annotations

import ast
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from mlspec.spec.models import (
    EvaluateStage,
    IterativeStage,
    Pipeline,
    PreprocessStage,
    ServeStage,
    StageBase,
    TrainStage,
    TuneStage,
    UserCode,
)

# Python packages per kind of work, so a text-only function does not ship torch (nor, since its TF-IDF and
# SGD are mlspec's own, scikit-learn: sparse matrices are scipy's).
MODEL_REQUIREMENTS = {"small_cnn": ("torch",), "logistic_regression": ("scipy",)}
FORMAT_REQUIREMENTS = {"cifar10": (), "imdb": ("scipy",)}


@dataclass(frozen=True)
class WorkScaling:
    """How a stage's measured work scales to another spec, which the planner reads. `examples_from`: the
    preprocess stage whose training-example count the work is proportional to; `epochs`: the work is
    proportional to its epochs; `batch_size` (global) and `sync_every_steps` decide how its synchronisation
    rounds grow. None: the work does not scale with that."""

    examples_from: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    sync_every_steps: int | None = None


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
    vcpu: float | None = None
    retries: int = 0
    # Whether all `fan_out` invocations must be alive at once (they synchronise), or may queue.
    together: bool = True
    # What the rest of mlspec knows of a stage, instead of its kind:
    workers_scalable: bool = False  # data-parallel: its worker count is the planner's to choose
    checkpointed: bool = False  # saves progress a restarted invocation resumes from (`checkpoint_key`)
    trains_model: bool = False  # leaves a model that evaluate reads and `mlspec serve` can package
    packages_model: bool = False  # writes a serving bundle of a trained model (`config["output"]`)
    scaling: WorkScaling = WorkScaling()
    # Why two runs with the same inputs may differ (then cached only when the spec's `cache: true`).
    nondeterministic: str | None = None
    cache: bool | None = None  # the spec's `cache:`
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
    # One shard set per worker count of the stages reading this data (one worker: a tune trial).
    counts = sorted({getattr(s, "workers", 1) for s in pipeline.stages.values() if getattr(s, "data", None) == name})
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="preprocess",
        fan_out=stage.workers,
        requirements=preprocess_requirements(stage, dataset.format),
        after=(),
        together=False,  # the parts do not wait for each other
        scaling=WorkScaling(examples_from=name),
        config={
            "dataset": dataset.model_dump(),
            "options": {
                "max_features": stage.max_features,
                "ngram_max": stage.ngram_max,
                "min_df": stage.min_df,
                "scaling": stage.scaling,
                **{field: getattr(stage, field) for field in stage.code_fields if getattr(stage, field)},
                **({"vectorizer_options": stage.vectorizer_options} if stage.vectorizer_options else {}),
                **brought_code(stage),
            },
            "shard_counts": counts or [1],
            "parts": stage.workers,
            "seed": pipeline.seed,
            "output": data_prefix(name),
        },
    )


def _train(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, TrainStage)
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="train_worker",
        fan_out=stage.workers,
        requirements=model_requirements(stage),
        after=tuple(stage.stage_refs().values()),
        workers_scalable=True,
        nondeterministic=(
            f"{stage.protocol} synchronisation lets workers see each other's updates in arrival order"
            if stage.protocol in UNORDERED_PROTOCOLS and stage.workers > 1
            else None
        ),
        checkpointed=True,
        trains_model=True,
        scaling=WorkScaling(stage.data, stage.epochs, stage.batch_size, stage.sync_every_steps),
        config={
            "data": data_prefix(stage.data),
            "model": stage.model,
            "options": {
                "learning_rate": stage.learning_rate,
                "momentum": stage.momentum,
                "weight_decay": stage.weight_decay,
                "admm_rho": stage.admm_rho,
                # A model brought by import path: its constructor's arguments, and a file's source.
                **({"model_options": stage.model_options} if stage.model_options else {}),
                **brought_code(stage),
            },
            **({"lr_schedule": stage.lr_schedule} if stage.lr_schedule != "constant" else {}),
            "algorithm": stage.algorithm,
            "epochs": stage.epochs,
            "batch_size": -(-stage.batch_size // stage.workers),  # per worker, rounded up
            "sync_every_steps": stage.sync_every_steps,
            "sync": {"pattern": stage.pattern, "protocol": stage.protocol, "staleness": stage.staleness},
            "workers": stage.workers,
            "seed": pipeline.seed,
            "output": model_prefix(name),
            "hyperparameters": best_config_key(stage.hyperparameters) if stage.hyperparameters else None,
        },
    )


def model_requirements(stage: TrainStage) -> tuple[str, ...]:
    """What the stage's model needs: a built-in's own, or what the code brought by import path needs."""
    if stage.model in MODEL_REQUIREMENTS:
        return MODEL_REQUIREMENTS[stage.model]
    return (*code_requirements(stage.model, stage.user_code.get("model")), "scipy")


def preprocess_requirements(stage: PreprocessStage, fmt: str) -> tuple[str, ...]:
    brought = [
        code_requirements(getattr(stage, f), stage.user_code.get(f)) for f in stage.code_fields if getattr(stage, f)
    ]
    return tuple(dict.fromkeys([*FORMAT_REQUIREMENTS[fmt], *(p for needs in brought for p in needs)]))


def code_requirements(named: str, code: UserCode | None) -> tuple[str, ...]:
    """What code brought by import path needs: torch for a file that imports it, else scikit-learn (the home of
    estimators and vectorizers); for a module path, the distribution of its package when mlspec knows it
    (others are named in `requirements:`: an import name need not be its distribution's name)."""
    if code is not None:
        imports = {
            name.split(".")[0]
            for node in ast.walk(ast.parse(code.source))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for name in ([a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""])
        }
        return ("torch",) if "torch" in imports else ("scikit-learn",)
    package = named.split(".")[0].split(":")[0]
    return (DISTRIBUTIONS[package],) if package in DISTRIBUTIONS else ()


# Import names of the model frameworks whose distribution on PyPI is named otherwise.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "torch": "torch"}


# Protocols without a barrier at every sync: what a worker reads depends on timing.
UNORDERED_PROTOCOLS = ("asp", "ssp", "hsp")


def best_config_key(tune_stage: str) -> str:
    return f"{model_prefix(tune_stage)}/best.json"


def _tune(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    """Trials are training functions of the tuned stage with one worker each; the tune driver varies
    their hyperparameters and runs `parallel` of them at once."""
    assert isinstance(stage, TuneStage)
    tuned_name, tuned = next(
        (n, s) for n, s in pipeline.stages.items() if isinstance(s, TrainStage) and s.hyperparameters == name
    )
    trial = _train(pipeline, tuned_name, tuned.model_copy(update={"workers": 1, "hyperparameters": None}))
    parallel = min(stage.parallel or stage.trials + 1, stage.trials + 1)
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="train_worker",
        fan_out=parallel,
        together=False,
        requirements=trial.requirements,
        after=(stage.data,),
        config={
            **trial.config,
            "epochs": stage.epochs or tuned.epochs,
            "output": model_prefix(name),
            "validation_fraction": stage.validation_fraction,
            "tune": {
                "tuned_stage": tuned_name,
                "search": stage.search,
                "trials": stage.trials,
                "parallel": parallel,
                "space": {k: r.model_dump() for k, r in stage.space.items()},
                "early_stopping": stage.early_stopping,
                "grace_epochs": stage.grace_epochs,
                "default": {k: getattr(tuned, k) for k in stage.space},
                "global_batch_size": tuned.batch_size,
            },
        },
    )


def brought_code(*stages: StageBase) -> dict[str, Any]:
    """{"code": the files the stages brought, by field}, or nothing: in a train, tune or preprocess function's
    options, the sources it imports; in an evaluate or serve one's config, the files the trained model and
    its features run (read from them, not the event), so that its image carries the files too."""
    code = {field: found.model_dump() for stage in stages for field, found in stage.user_code.items()}
    return {"code": code} if code else {}


def _evaluate(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, EvaluateStage)
    trained = pipeline.stages[stage.model]
    assert isinstance(trained, TrainStage)
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="evaluate",
        fan_out=1,
        requirements=model_requirements(trained),
        after=(stage.model,),
        config={"model_prefix": model_prefix(stage.model), **brought_code(trained)},
    )


def serving_prefix(stage: str) -> str:
    return f"serving/{stage}"


def _serve(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, ServeStage)
    trained = pipeline.stages[stage.model]
    assert isinstance(trained, TrainStage)
    fmt = pipeline.datasets[pipeline.dataset_of(stage.model)].format
    features = pipeline.stages[trained.data]
    assert isinstance(features, PreprocessStage)
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="predict",
        fan_out=1,
        packages_model=True,
        # Requests are raw examples: serving runs the preprocess stage's transform and vectorizer too.
        requirements=tuple(dict.fromkeys(model_requirements(trained) + preprocess_requirements(features, fmt))),
        after=(stage.model,),
        # The fitted features (e.g. the TF-IDF vocabulary) are read from the preprocess stage's output.
        config={
            "model_prefix": model_prefix(stage.model),
            "max_batch": stage.max_batch,
            "max_request_bytes": stage.max_request_bytes,
            "output": serving_prefix(name),
            **brought_code(features, trained),
        },
    )


ITERATIVE_LEARNING_RATE = 1.0  # rows have norm about 1 (mlspec/algorithms/features.py), so 1 is stable


def _iterative(pipeline: Pipeline, name: str, stage: StageBase) -> FunctionNode:
    assert isinstance(stage, IterativeStage)
    fmt = pipeline.datasets[pipeline.dataset_of(name)].format
    return FunctionNode(
        stage=name,
        kind=stage.kind,
        function="iterative_worker",
        fan_out=stage.workers,
        requirements=FORMAT_REQUIREMENTS[fmt],
        after=(stage.data,),
        nondeterministic=(
            "lock-based workers add their partial sums in arrival order (floating-point sums differ)"
            if stage.shared_state == "lock_based" and stage.workers > 1
            else None
        ),
        config={
            "data": data_prefix(stage.data),
            "algorithm": stage.algorithm,
            "clusters": stage.clusters,
            "learning_rate": stage.learning_rate or ITERATIVE_LEARNING_RATE,
            "iterations": stage.iterations,
            "tolerance": stage.tolerance,
            "shared_state": stage.shared_state,
            "workers": stage.workers,
            "seed": pipeline.seed,
            "output": model_prefix(name),
        },
    )


EXPANDERS: dict[str, Callable[[Pipeline, str, StageBase], FunctionNode]] = {
    "preprocess": _preprocess,
    "train": _train,
    "tune": _tune,
    "evaluate": _evaluate,
    "serve": _serve,
    "iterative": _iterative,
}


def graph(pipeline: Pipeline) -> FunctionGraph:
    nodes = []
    for name in pipeline.stage_order():
        stage = pipeline.stages[name]
        node = EXPANDERS[stage.kind](pipeline, name, stage)
        nodes.append(
            replace(
                node,
                memory_mb=stage.memory_mb,
                timeout_s=stage.timeout_s,
                vcpu=stage.vcpu,
                retries=stage.retries,
                cache=stage.cache,
                # What the spec adds (for the user's own code): into the images, and checked before a run.
                requirements=tuple(dict.fromkeys((*node.requirements, *pipeline.requirements, *stage.requirements))),
            )
        )
    return FunctionGraph(pipeline.name, tuple(nodes))


def installed_version(package: str) -> str | None:
    """The version of `package` installed here, or None."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def missing_requirements(functions: FunctionGraph) -> list[tuple[str, str]]:
    """(stage, package) for every package a stage's functions need that is not installed here."""
    return [(n.stage, p) for n in functions.nodes for p in n.requirements if installed_version(p) is None]
