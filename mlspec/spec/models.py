"""The pipeline language: pydantic models for `pipeline.yaml`.

Stage kinds form a discriminated union on `kind`; adding a kind is adding a model to `STAGE_KINDS`.
Targets are a mapping keyed by platform name so `--set targets.local.timeout_s=5` addresses one.
"""

from __future__ import annotations

import operator
import re
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from mlspec.providers.registry import LOCAL, all_platforms, image_platforms
from mlspec.references import load
from mlspec.spec.fields import (
    MemoryMb,
    Name,
    Seconds,
    Seed,
    StrictModel,
    Usd,
)
from mlspec.spec.targets import LocalTarget, TargetBase

# ---------------------------------------------------------------- datasets


class SyntheticOptions(StrictModel):
    """Size and seed of the synthetic twin used when no `path` is given."""

    train_size: int = Field(2000, ge=20, le=1_000_000)
    test_size: int = Field(500, ge=10, le=1_000_000)
    seed: Seed = 0


class DatasetSpec(StrictModel):
    """A dataset in its official format. Without `path`, a seeded synthetic twin of the same shape is used."""

    format: Literal["cifar10", "imdb"] = Field(description="cifar10 (python batches) or imdb (aclImdb layout)")
    path: str | None = Field(
        None,
        description="Archive or extracted folder: a local path, file:// URI or https:// URL. "
        "Absent: the synthetic twin.",
    )
    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$", description="Checked before use")
    md5: str | None = Field(None, pattern=r"^[0-9a-fA-F]{32}$", description="Checked before use")
    synthetic: SyntheticOptions = Field(default_factory=SyntheticOptions)
    max_train: int | None = Field(None, ge=10, description="Keep only the first N training examples")
    max_test: int | None = Field(None, ge=10, description="Keep only the first N test examples")

    def train_examples(self) -> int:
        """The most training examples this dataset yields (its official training split's size for a path)."""
        size = self.synthetic.train_size if self.path is None else OFFICIAL_TRAIN_EXAMPLES[self.format]
        return size if self.max_train is None else min(size, self.max_train)


# Examples in the official releases: CIFAR-10's 5 training batches of 10,000 and its test batch; IMDb's
# train/ and test/ folders.
OFFICIAL_TRAIN_EXAMPLES = {"cifar10": 50_000, "imdb": 25_000}
OFFICIAL_TEST_EXAMPLES = {"cifar10": 10_000, "imdb": 25_000}


# ---------------------------------------------------------------- stages


# A distribution's name on PyPI (the version is the one installed here, pinned into the images).
PackageName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$", examples=["timm"])]


# Code by import path: `file.py:Name` (a file beside the spec, whose source the loader reads into the stage)
# or `package.module:Name` (an installed package).
IMPORT_PATH = r"[\w./-]+\.py:[A-Za-z_]\w*|[A-Za-z_][\w.]*:[A-Za-z_]\w*"
BUILT_IN_MODELS = ("small_cnn", "logistic_regression")
MODEL_PATTERN = rf"^({'|'.join(BUILT_IN_MODELS)}|{IMPORT_PATH})$"


class UserCode(StrictModel):
    """A file the spec names by import path, as read when the spec was loaded."""

    name: str
    sha256: str
    source: str


class StageBase(StrictModel):
    # The fields that may name code by import path (the spec loader reads a named file's source).
    code_fields: ClassVar[tuple[str, ...]] = ()

    description: str | None = None
    memory_mb: MemoryMb | None = Field(None, description="This stage's functions only; default: the target's")
    timeout_s: Seconds | None = Field(None, description="This stage's functions only; default: the target's")
    retries: int = Field(2, ge=0, le=20, description="Restarts from the last checkpoint after a failure")
    vcpu: float | None = Field(
        None, gt=0, le=64, description="This stage's functions only: vCPUs per invocation; default: the target's"
    )
    cache: bool | None = Field(
        None,
        description="Reuse this stage's output from an earlier run with the same inputs, options and code. "
        "Default: yes, unless the stage is not deterministic by design (asp/ssp/hsp training, lock-based "
        "sums with several workers); true caches those too; false never",
    )
    requirements: list[PackageName] = Field(
        default_factory=list,
        max_length=100,
        description="Python packages this stage's functions need besides mlspec's (e.g. for your own model): "
        "installed into its images at the versions installed here, and checked before a run",
    )

    # Filled in by the spec loader from the files the code fields name, by field (anything written here is
    # replaced): the source travels with the stage to every function, which never reads your working directory.
    user_code: SkipJsonSchema[dict[str, UserCode]] = Field(default_factory=dict)

    def stage_refs(self) -> dict[str, str]:
        """Field name -> name of the stage it depends on (explicit data dependencies)."""
        return {}

    def dataset_refs(self) -> dict[str, str]:
        """Field name -> name of the dataset it reads."""
        return {}


class PreprocessStage(StageBase):
    """Reads a dataset, fits features on the training split only, writes worker shards to the object store."""

    kind: Literal["preprocess"]
    dataset: Name = Field(description="Name of a dataset under `datasets`")
    workers: int = Field(
        1,
        ge=1,
        le=1000,
        description="Functions that fit the features at once, each on its part of the data (a map: one "
        "function splits the dataset into parts, then one merges the parts' counts exactly)",
    )
    max_features: int = Field(200_000, ge=16, le=5_000_000, description="Text: TF-IDF vocabulary size")
    ngram_max: int = Field(2, ge=1, le=3, description="Text: longest word n-gram")
    min_df: int = Field(
        2,
        ge=1,
        le=1_000_000,
        description="Text: ignore terms in fewer documents (at most the training documents: TF-IDF keeps terms "
        "in up to all of them)",
    )

    scaling: Literal["standard", "min_max"] = Field(
        "standard",
        description="Images: how training scales each channel's pixels, from the training split's statistics "
        "(merged exactly over the map): standard (minus the mean, over the standard deviation) or min_max "
        "(minus the minimum, over the range: into [0, 1])",
    )
    transform: str | None = Field(
        None,
        json_schema_extra={"pattern": f"^({IMPORT_PATH})$"},
        description="Your own function applied to the raw examples before the features, on each part of the "
        "map and to every request served: a list of texts in, a list of texts out (text); an uint8 array "
        "N x H x W x C in, one out (images). By import path: text.py:strip_html (a file beside the spec) or "
        "package.module:function",
        examples=["text.py:strip_html"],
    )
    vectorizer: str | None = Field(
        None,
        json_schema_extra={"pattern": f"^({IMPORT_PATH})$"},
        description="Text: a scikit-learn transformer of texts to replace the built-in TF-IDF (max_features, "
        "ngram_max and min_df then do not apply). One that needs no fitting (HashingVectorizer) runs on each part "
        "of the map; one that does is fitted once on the whole training split, in the merge",
        examples=["sklearn.feature_extraction.text:HashingVectorizer"],
    )
    vectorizer_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the vectorizer's constructor (a list where its default is a tuple, "
        "e.g. ngram_range: [1, 2], is passed as a tuple)",
    )

    code_fields: ClassVar[tuple[str, ...]] = ("transform", "vectorizer")

    @model_validator(mode="after")
    def _options_need_vectorizer(self) -> PreprocessStage:
        if self.vectorizer_options and not self.vectorizer:
            raise ValueError("vectorizer_options without a vectorizer: name one (vectorizer: module:Class)")
        return self

    def dataset_refs(self) -> dict[str, str]:
        return {"dataset": self.dataset}


class TrainStage(StageBase):
    """Data-parallel training: `workers` functions, each on its shard, averaging models through the stores."""

    code_fields: ClassVar[tuple[str, ...]] = ("model",)

    kind: Literal["train"]
    data: Name = Field(description="Name of the preprocess stage whose output this trains on")
    model: str = Field(
        json_schema_extra={"pattern": MODEL_PATTERN},
        description="small_cnn (images, torch), logistic_regression (TF-IDF text), or your own by import path: "
        "a file beside the spec (nets.py:ResNet9, a torch.nn.Module) or an installed module "
        "(sklearn.linear_model:SGDClassifier, an estimator with partial_fit)",
        examples=["small_cnn", "nets.py:ResNet9", "sklearn.linear_model:SGDClassifier"],
    )
    model_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of your model's constructor (num_classes, and in_features for text, are "
        "filled in from the data when the constructor takes them)",
    )
    # 1,000: the largest concurrency quota in the catalog (AWS Lambda's default, Azure Flex's); bsp/ssp need
    # every worker running at once, so more could never pass a barrier.
    workers: int = Field(1, ge=1, le=1000, description="Number of parallel training functions")
    epochs: int = Field(3, ge=1, le=10_000)
    batch_size: int = Field(
        64,
        ge=1,
        le=65_536,
        description="Global minibatch size, split evenly between workers (so results compare across worker counts)",
    )
    learning_rate: float = Field(
        0.05,
        gt=0,
        le=100_000,
        description="Step size; gradient_averaging and admm on logistic_regression take plain minibatch steps, "
        "which on TF-IDF features want a large one (e.g. 100-1000)",
    )
    lr_schedule: Literal["constant", "one_cycle"] = Field(
        "constant",
        description="constant: learning_rate throughout; one_cycle: up linearly from 0 to learning_rate over the "
        "first fifth of training, then down to 0 (torch models)",
    )
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum (torch models)")
    weight_decay: float = Field(5e-4, ge=0, le=1, description="L2 penalty (alpha for logistic_regression)")
    sync_every_steps: int | None = Field(
        None, ge=1, description="Average models every N minibatches; absent: once per epoch"
    )
    pattern: Literal["allreduce", "scatter_reduce"] = Field(
        "allreduce", description="allreduce: every worker reads every model; scatter_reduce: hierarchical, by shards"
    )
    protocol: Literal["bsp", "ssp", "asp", "hsp"] = Field(
        "bsp", description="bsp: barrier every sync; asp: none; ssp: bounded staleness; hsp: asp within an epoch"
    )
    staleness: int = Field(2, ge=0, le=1000, description="ssp: how many syncs a worker may run ahead of the slowest")
    algorithm: Literal["model_averaging", "gradient_averaging", "admm"] = Field(
        "model_averaging",
        description="model_averaging: average models at each sync; gradient_averaging: average gradients every "
        "minibatch; admm: consensus ADMM (logistic_regression only)",
    )
    admm_rho: float = Field(
        0.01,
        gt=0,
        le=1000,
        description="admm: weight of the consensus penalty (small on TF-IDF features, whose losses are flat)",
    )

    @field_validator("model")
    @classmethod
    def _model_named(cls, model: str) -> str:
        if not re.match(MODEL_PATTERN, model):
            raise ValueError(
                f"{model!r} is not a model: small_cnn, logistic_regression, or an import path like "
                "nets.py:ResNet9 (a file beside the spec) or sklearn.linear_model:SGDClassifier"
            )
        return model

    @model_validator(mode="after")
    def _algorithm_fits(self) -> TrainStage:
        if self.lr_schedule != "constant" and self.model == "logistic_regression":
            raise ValueError(
                "lr_schedule is for torch models: logistic_regression follows scikit-learn's `optimal` schedule"
            )
        if self.algorithm == "admm" and self.model != "logistic_regression":
            raise ValueError(
                "algorithm admm is for the linear model: use model logistic_regression, or "
                "algorithm model_averaging or gradient_averaging"
            )
        if self.algorithm == "gradient_averaging" and (self.sync_every_steps or 1) != 1:
            raise ValueError(
                "gradient_averaging exchanges gradients every minibatch: remove sync_every_steps "
                "(or use algorithm model_averaging to sync every N steps)"
            )
        return self

    hyperparameters: Name | None = Field(
        None, description="A tune stage: its best configuration replaces this stage's values for what it searched"
    )

    def stage_refs(self) -> dict[str, str]:
        refs = {"data": self.data}
        if self.hyperparameters:
            refs["hyperparameters"] = self.hyperparameters
        return refs


class SearchRange(StrictModel):
    """One hyperparameter's range: a list of `values`, or `low`..`high` (optionally on a log scale)."""

    values: list[float] | None = Field(None, min_length=1, max_length=100)
    low: float | None = None
    high: float | None = None
    log: bool = Field(False, description="Sample low..high uniformly in log space")

    @model_validator(mode="after")
    def _one_form(self) -> SearchRange:
        if self.values is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("give either values or low/high, not both")
            return self
        if self.low is None or self.high is None:
            raise ValueError("give values: [...] or both low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low:g}) must be below high ({self.high:g})")
        if self.log and self.low <= 0:
            raise ValueError("log: true needs low > 0")
        return self


# What a tune stage may search; batch_size and epochs take whole numbers.
Tunable = Literal["learning_rate", "weight_decay", "momentum", "batch_size", "epochs", "admm_rho"]
INTEGER_HYPERPARAMETERS = ("batch_size", "epochs")
_BOUNDS = {
    "gt": (operator.gt, "above"),
    "ge": (operator.ge, "at least"),
    "lt": (operator.lt, "below"),
    "le": (operator.le, "at most"),
}


def tunable_problem(name: str, value: float) -> str | None:
    """Why the train stage would refuse this value of a hyperparameter (None: it takes it): its own
    constraints on that field, so a trial never asks for what the spec itself could not say."""
    if name in INTEGER_HYPERPARAMETERS and value != round(value):
        return f"{name} takes whole numbers (got {value:g})"
    for constraint in TrainStage.model_fields[name].metadata:
        for attr, (holds, words) in _BOUNDS.items():
            bound = getattr(constraint, attr, None)
            if bound is not None and not holds(value, bound):
                return f"{name} must be {words} {bound:g} (got {value:g})"
    return None


class TuneStage(StageBase):
    """Hyperparameter search: every trial is one training function on the training split minus a
    validation part; hopeless trials stop early; the train stage naming this one in `hyperparameters`
    trains with the best configuration. The spec's own values always run as trial 0 (the default)."""

    kind: Literal["tune"]
    data: Name = Field(description="Name of the preprocess stage the trials train on (the tuned stage's data)")
    search: Literal["grid", "random", "bayes"] = Field(
        "random", description="grid: every combination of values; random: sampled; bayes: Optuna's TPE"
    )
    trials: int = Field(8, ge=1, le=1000, description="random/bayes: trials besides the default; grid: a cap")
    parallel: int | None = Field(None, ge=1, le=1000, description="Trials at once; default: all (capped by the target)")
    space: dict[Tunable, SearchRange] = Field(min_length=1, description="Hyperparameter -> range searched")
    epochs: int | None = Field(None, ge=1, le=10_000, description="Epochs per trial; default: the tuned stage's")
    validation_fraction: float = Field(0.2, gt=0, lt=0.9, description="Of the training split, held out to score")
    early_stopping: Literal["median", "none"] = Field(
        "median",
        description="median: stop a trial whose validation accuracy is below the median of the "
        "others at the same epoch",
    )
    grace_epochs: int = Field(1, ge=1, le=10_000, description="Epochs every trial runs before it may be stopped")

    @model_validator(mode="after")
    def _grid_has_values(self) -> TuneStage:
        if self.search == "grid":
            ranges = [name for name, r in self.space.items() if r.values is None]
            if ranges:
                raise ValueError(f"search grid needs values: [...] for {', '.join(ranges)}")
        return self

    def space_problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """(path within this stage, message) for every listed value, low or high the tuned train stage refuses."""
        out: list[tuple[tuple[str | int, ...], str]] = []
        for name, r in self.space.items():
            points: list[tuple[tuple[str | int, ...], float | None]] = (
                [(("values", i), v) for i, v in enumerate(r.values)]
                if r.values is not None
                else [(("low",), r.low), (("high",), r.high)]
            )
            for where, value in points:
                problem = None if value is None else tunable_problem(name, value)
                if problem:
                    out.append((("space", name, *where), problem))
        return out

    def stage_refs(self) -> dict[str, str]:
        return {"data": self.data}


class EvaluateStage(StageBase):
    """Accuracy and loss of a trained model on the held-out test split of its data."""

    kind: Literal["evaluate"]
    model: Name = Field(description="Name of the train stage whose model is evaluated")

    def stage_refs(self) -> dict[str, str]:
        return {"model": self.model}


class ServeStage(StageBase):
    """The trained model as an inference function: `mlspec run` packages it (with the fitted features) into a
    serving bundle and checks it on held-out examples; `mlspec serve RUN_ID` answers HTTP requests with it."""

    kind: Literal["serve"]
    model: Name = Field(description="Name of the train stage whose model is served")
    max_batch: int = Field(256, ge=1, le=100_000, description="Most inputs one request may carry")
    max_request_bytes: int = Field(
        8 * 1024 * 1024, ge=1024, le=1024**3, description="Largest request body accepted (bytes); larger: 413"
    )
    port: int = Field(8000, ge=0, le=65_535, description="Default port of `mlspec serve` (0: any free port)")

    def stage_refs(self) -> dict[str, str]:
        return {"model": self.model}


class IterativeStage(StageBase):
    """An iterative algorithm on shared state (the Lithops paper's k-means and logistic regression): every
    iteration `workers` functions each compute their shard's partial result, combined into the shared state
    in the parameter store, until it moves less than `tolerance` or `iterations` run out."""

    kind: Literal["iterative"]
    data: Name = Field(description="Name of the preprocess stage whose training split this runs on")
    algorithm: Literal["kmeans", "logistic_regression"] = Field(
        description="kmeans: Lloyd's k-means (needs clusters); logistic_regression: multinomial, full-batch "
        "gradient descent (held-out accuracy reported)"
    )
    workers: int = Field(
        1,
        ge=1,
        le=1000,
        description="Number of parallel functions, one shard each (at most "
        "1,000, as for train stages: every iteration waits for all of them)",
    )
    iterations: int = Field(100, ge=1, le=100_000, description="At most this many iterations")
    tolerance: float = Field(
        1e-4, ge=0, description="Stop when the shared state moves less than this (L2 norm of the change / norm)"
    )
    shared_state: Literal["lock_based", "lock_free"] = Field(
        "lock_free",
        description="lock_based: each worker adds its partial into one shared sum under a lock in the parameter "
        "store; lock_free: each worker writes its own partial, the coordinator merges them",
    )
    clusters: int | None = Field(None, ge=1, le=100_000, description="kmeans only: number of clusters")
    learning_rate: float | None = Field(
        None, gt=0, le=100_000, description="logistic_regression only: gradient-descent step size (default 1.0)"
    )

    @model_validator(mode="after")
    def _options_fit(self) -> IterativeStage:
        if self.algorithm == "kmeans":
            if self.clusters is None:
                raise ValueError("algorithm kmeans needs clusters (the number of clusters, e.g. clusters: 10)")
            if self.learning_rate is not None:
                raise ValueError(
                    "learning_rate is for algorithm logistic_regression; kmeans has no step size: remove it"
                )
        elif self.clusters is not None:
            raise ValueError(
                "clusters is for algorithm kmeans; logistic_regression learns one weight vector per class: remove it"
            )
        return self

    def stage_refs(self) -> dict[str, str]:
        return {"data": self.data}


STAGE_KINDS: tuple[type[StageBase], ...] = (
    PreprocessStage,
    TrainStage,
    TuneStage,
    EvaluateStage,
    ServeStage,
    IterativeStage,
)
Stage = Annotated[
    PreprocessStage | TrainStage | TuneStage | EvaluateStage | ServeStage | IterativeStage,
    Field(discriminator="kind"),
]

# Which stage kinds a reference may point at, keyed by (referring kind, field).
REFERENCE_KINDS: dict[tuple[str, str], tuple[str, ...]] = {
    ("train", "data"): ("preprocess",),
    ("iterative", "data"): ("preprocess",),
    ("evaluate", "model"): ("train",),
    ("train", "hyperparameters"): ("tune",),
    ("tune", "data"): ("preprocess",),
    ("serve", "model"): ("train",),
}


# ---------------------------------------------------------------- targets


def _targets_model() -> type[BaseModel]:
    """`targets:` as a model with one optional field per registered platform besides `local`."""
    fields: dict[str, Any] = {}
    for platform in all_platforms():
        if platform.key != LOCAL:  # declared on TargetsBase: every pipeline may run on this machine
            settings = load(platform.target)
            fields[platform.key.replace("-", "_")] = (settings | None, Field(None, alias=platform.key))
    return create_model("Targets", __base__=TargetsBase, __doc__=TargetsBase.__doc__, **fields)


class TargetsBase(StrictModel):
    """Platforms this pipeline may run on, keyed by platform name."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, validate_default=True)

    local: LocalTarget = Field(default_factory=LocalTarget)

    def configured(self) -> dict[str, TargetBase]:
        """Platform name -> its settings, for every platform present."""
        out: dict[str, TargetBase] = {}
        for field_name, info in type(self).model_fields.items():
            value = getattr(self, field_name)
            if value is not None:
                out[info.alias or field_name] = value
        return out

    def deploy_notes(self) -> list[str]:
        """One line per configured cloud target that `mlspec deploy` cannot carry out, saying why."""
        platforms = {p.key: p for p in all_platforms()}
        notes = []
        for key, settings in self.configured().items():
            if key == LOCAL:
                continue
            problem = platforms[key].deploy_problem(settings.model_dump())
            if not platforms[key].deployable:
                notes.append(f"targets.{key}: priced only (mlspec compares its cost but does not deploy to it)")
            elif problem:
                notes.append(f"targets.{key}: cannot be deployed: {problem}")
        return notes


if TYPE_CHECKING:
    Targets = TargetsBase
else:
    Targets = _targets_model()


# ---------------------------------------------------------------- objective and storage


class Objective(StrictModel):
    """What the planner optimises: least cost under a deadline, or least time under a budget."""

    minimize: Literal["cost", "time"] = "cost"
    deadline: Seconds | None = Field(None, description='Seconds, or "30m", "2h"')
    budget: Usd | None = Field(None, description='USD, e.g. 2.5 or "$2.50"')
    replan: bool | None = Field(
        None,
        description="In a run that follows a plan, change a train stage's workers after an epoch when the "
        "deadline or budget would be missed, or fewer or more workers are 20 % better (default: on when a "
        "deadline or budget is set)",
    )

    @property
    def replans(self) -> bool:
        return self.replan if self.replan is not None else (self.deadline is not None or self.budget is not None)


class LocalObjectStoreSpec(StrictModel):
    kind: Literal["local"] = "local"
    root: str | None = Field(None, description="Directory; default: inside the run's record directory")


class S3ObjectStoreSpec(StrictModel):
    kind: Literal["s3"]
    bucket: str = Field(min_length=3, max_length=63)
    prefix: str = Field("mlspec", description="Key prefix; each run writes under PREFIX/<run-id>/")
    endpoint_url: str | None = Field(None, description="For S3-speaking servers other than AWS")
    region: str | None = None


class GcsObjectStoreSpec(StrictModel):
    kind: Literal["gcs"]
    bucket: str = Field(min_length=3, max_length=222)
    prefix: str = Field("mlspec", description="Object name prefix; each run writes under PREFIX/<run-id>/")
    endpoint_url: str | None = Field(
        None,
        description="For a GCS emulator (anonymous credentials); default: Google Cloud Storage with the "
        "standard credential chain (GOOGLE_APPLICATION_CREDENTIALS, gcloud, the metadata server)",
    )
    project: str | None = Field(None, description="Google Cloud project; default: the credentials' project")


AZURE_CONNECTION_STRING_ENV = "AZURE_STORAGE_CONNECTION_STRING"


class AzureBlobObjectStoreSpec(StrictModel):
    kind: Literal["azure_blob"]
    container: str = Field(min_length=3, max_length=63)
    prefix: str = Field("mlspec", description="Blob name prefix; each run writes under PREFIX/<run-id>/")
    connection_string_env: str = Field(
        AZURE_CONNECTION_STRING_ENV,
        description="Name of the environment variable that holds the storage "
        "account's connection string (the secret itself never goes in the spec); used without account_url",
    )
    account_url: str | None = Field(
        None,
        description="e.g. https://ACCOUNT.blob.core.windows.net, signed in with DefaultAzureCredential",
    )

    @model_validator(mode="after")
    def _one_credential(self) -> AzureBlobObjectStoreSpec:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.connection_string_env):
            raise ValueError(
                "connection_string_env is the name of an environment variable (e.g. "
                f"{AZURE_CONNECTION_STRING_ENV}), not the connection string itself"
            )
        if self.account_url and "connection_string_env" in self.model_fields_set:
            raise ValueError("give either account_url (DefaultAzureCredential) or connection_string_env, not both")
        return self


class LocalParamStoreSpec(StrictModel):
    kind: Literal["local"] = "local"


class RedisParamStoreSpec(StrictModel):
    kind: Literal["redis"]
    url: str = Field(pattern=r"^rediss?://", description="e.g. redis://127.0.0.1:6379/0")


ObjectStoreSpec = Annotated[
    LocalObjectStoreSpec | S3ObjectStoreSpec | GcsObjectStoreSpec | AzureBlobObjectStoreSpec,
    Field(discriminator="kind"),
]
ParamStoreSpec = Annotated[LocalParamStoreSpec | RedisParamStoreSpec, Field(discriminator="kind")]


class StorageSpec(StrictModel):
    """Object store for data, checkpoints and models; parameter store for model exchange."""

    object_store: ObjectStoreSpec = Field(default_factory=LocalObjectStoreSpec)
    param_store: ParamStoreSpec = Field(default_factory=LocalParamStoreSpec)


if TYPE_CHECKING:
    ContainerPlatform = str
else:  # the platforms mlspec builds images for, from the registry
    ContainerPlatform = Literal[image_platforms()]


class RaySpec(StrictModel):
    """The Ray cluster the ray executor runs the functions on (pip extra mlspec[ray])."""

    address: str | None = Field(
        None,
        description="host:port of the cluster's head (`ray start --head` prints it); none: RAY_ADDRESS when set, "
        "else a Ray instance started for the run on this machine",
    )


class ExecutionSpec(StrictModel):
    """Which executor runs the functions."""

    executor: Literal["local", "lithops", "local-container", "ray"] = Field(
        "local",
        description="local: one OS process per invocation; lithops: through Lithops; "
        "local-container: one container per invocation, in the images `mlspec build --target local` built; "
        "ray: one Ray task per invocation on a Ray cluster (execution.ray)",
    )
    ray: RaySpec = Field(default_factory=RaySpec)
    lithops: dict[str, Any] = Field(
        default_factory=dict,
        description="Lithops configuration passed through as is (e.g. {lithops: {backend: aws_lambda}, aws: ...}); "
        "empty: Lithops' localhost backend",
    )
    container_platform: ContainerPlatform = Field(
        LOCAL,
        description="local-container: whose envelope the engine enforces on each container "
        "(--memory, and --cpus from that platform's memory-to-vCPU rule)",
    )
    container_build_dir: str = Field(
        "build",
        description="local-container: the `mlspec build --out` directory holding the images' manifest",
    )


# ---------------------------------------------------------------- pipeline


class Pipeline(StrictModel):
    """A whole pipeline.yaml."""

    name: Name
    description: str | None = None
    seed: Seed = Field(0, description="Seeds data order, initialisation and sharding")
    datasets: dict[Name, DatasetSpec] = Field(min_length=1)
    stages: dict[Name, Stage] = Field(min_length=1)
    targets: Targets = Field(default_factory=Targets)
    objective: Objective = Field(default_factory=Objective)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    execution: ExecutionSpec = Field(default_factory=ExecutionSpec)
    requirements: list[PackageName] = Field(
        default_factory=list,
        max_length=100,
        description="Python packages every function needs besides mlspec's (e.g. for your own model); a stage "
        "can add its own (stages.NAME.requirements)",
    )

    def stage_order(self) -> list[str]:
        """Stage names with every stage after the stages it depends on (file order otherwise)."""
        order: list[str] = []
        placed: set[str] = set()

        def place(name: str, visiting: frozenset[str]) -> None:
            if name in placed or name in visiting or name not in self.stages:
                return
            for dep in self.stages[name].stage_refs().values():
                place(dep, visiting | {name})
            placed.add(name)
            order.append(name)

        for name in self.stages:
            place(name, frozenset())
        return order

    def dataset_of(self, stage_name: str) -> str:
        """The dataset a stage ultimately reads, following its references."""
        stage = self.stages[stage_name]
        refs = stage.dataset_refs()
        if refs:
            return next(iter(refs.values()))
        return self.dataset_of(next(iter(stage.stage_refs().values())))
