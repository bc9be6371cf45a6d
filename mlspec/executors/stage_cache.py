"""The stage cache as the coordinator uses it. A stage's key hashes everything its output depends on: its
resolved options (node config, after `--set`), the keys of the stages it reads, the content of its dataset,
the code its function runs (mlspec's version and the source of every module that function reaches) and the
seed (in its config). A stage whose key has a complete entry is restored instead of run; a stage that ran is
stored. A stage that is not deterministic by design is cached only with `cache: true`; without it, nothing
that reads its output is reused or stored either."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlspec import __version__
from mlspec.cache import (
    CorruptEntry,
    Manifest,
    code_id,
    content_id,
    digest,
    read_manifest,
    remove_entry,
    restore_entry,
    write_entry,
)
from mlspec.compile import FunctionGraph, FunctionNode
from mlspec.errors import UsageError
from mlspec.records import CachedFrom, RunRecord, StageRecord, TrialRecord
from mlspec.runtime import FUNCTIONS
from mlspec.storage import ObjectStore, open_object_store

CONTENT_MEMO = "content-ids.json"
# What of a tune stage's settings one trial's outcome depends on (the search around it does not count).
TRIAL_SETTINGS = (
    "tuned_stage",
    "global_batch_size",
)  # in the dataset cache directory: file digests by path, size and mtime


@dataclass(frozen=True)
class CacheSettings:
    """`mlspec run`'s choices: `use` False (--no-cache) neither reads nor writes; `force` recomputes those
    stages and every stage that reads them, and stores their new output."""

    use: bool = True
    force: frozenset[str] = frozenset()
    unused_because: str = "--no-cache"  # said of every stage when `use` is False


USE_CACHE = CacheSettings()


def dataset_identity(config: dict[str, Any], located: Path | None, cache_dir: Path) -> str:
    """What a dataset's content is, for keys: its file's (or folder's) digest; a synthetic twin's settings."""
    if located is None:
        return digest({"synthetic": config.get("synthetic")})
    return content_id(located, cache_dir / CONTENT_MEMO)


class StageCache:
    def __init__(
        self,
        functions: FunctionGraph,
        store_config: dict[str, Any],
        dataset_ids: dict[str, str],
        settings: CacheSettings,
        run_id: str,
    ) -> None:
        unknown = sorted(settings.force - {n.stage for n in functions.nodes})
        if unknown:
            known = ", ".join(n.stage for n in functions.nodes)
            raise UsageError(f"--force names no stage of this pipeline: {', '.join(unknown)} (stages: {known})")
        self.store_config = store_config
        self.dataset_ids = dataset_ids  # digest of a dataset config -> its content identity
        self.settings = settings
        self.run_id = run_id
        self.forced = _with_readers(functions, settings.force)
        self.keys: dict[str, str] = {}
        self.parts: dict[str, dict[str, Any]] = {}
        # Stages whose output only this run has (not deterministic, or reading such a stage's output).
        self.run_only: set[str] = set()

    def key(self, node: FunctionNode) -> str:
        """The stage's key (its upstream stages' keys known: stages come in order)."""
        config = dict(node.config)
        if "dataset" in config:
            config["dataset"] = {
                **{k: v for k, v in config["dataset"].items() if k != "path"},
                "content": self.dataset_ids[digest(config["dataset"])],
            }
        self.parts[node.stage] = {
            "function": node.function,
            "fan_out": node.fan_out,
            "config": config,
            "reads": {stage: self.keys[stage] for stage in node.after},
            "code": {"mlspec": __version__, "modules": code_id(FUNCTIONS[node.function].partition(":")[0])},
        }
        self.keys[node.stage] = digest(self.parts[node.stage])
        return self.keys[node.stage]

    def skipped(self, node: FunctionNode) -> str | None:
        """Why the stage is neither reused nor stored; None when it is cached."""
        if not self.settings.use:
            return self.settings.unused_because
        if node.cache is False:
            return "cache: false in the spec"
        if node.nondeterministic and node.cache is not True:
            return f"not deterministic ({node.nondeterministic}); `cache: true` caches it anyway"
        uncached = [stage for stage in node.after if stage in self.run_only]
        if uncached:
            return f"it reads {uncached[0]}, whose output is this run's own"
        return None

    def restore(self, node: FunctionNode, stage: StageRecord, record: RunRecord, run_store: dict[str, Any]) -> bool:
        """Fill `stage` from the entry of its key and copy its output into the run; False when there is no
        usable entry (a corrupt one is removed, noted in the record's warnings, and the stage recomputed)."""
        key = self.key(node)
        stage.cache_key = key
        if (node.nondeterministic and node.cache is not True) or self.run_only.intersection(node.after):
            self.run_only.add(node.stage)  # an output no other run can have made: what reads it runs too
        reason = self.skipped(node) or ("--force" if node.stage in self.forced else None)
        if reason is not None:
            stage.cache_note = f"not reused: {reason}"
            return False
        started = time.time()
        cache = open_object_store(self.store_config)
        target = open_object_store(run_store)
        output = node.config.get("output")
        try:
            manifest = read_manifest(cache, key)
            if manifest is None:
                return False
            restore_entry(cache, manifest, target, output)
        except CorruptEntry as exc:
            record.warnings.append(f"stage {node.stage!r}: cache entry {key[:12]} is corrupt ({exc}); recomputed")
            remove_entry(cache, key)
            if output:
                target.delete_prefix(f"{output}/")  # nothing half-restored is read as the stage's output
            return False
        outcome = manifest.outcome
        stage.status = "succeeded"
        stage.started_at = started
        stage.wall_s = time.time() - started
        stage.metrics = outcome.get("metrics", {})
        stage.history = outcome.get("history", [])
        stage.trials = [TrialRecord.model_validate(t) for t in outcome.get("trials", [])]
        stage.best = outcome.get("best")
        stage.cached_from = CachedFrom(
            run_id=manifest.run_id,
            wall_s=outcome.get("wall_s"),
            invocations=outcome.get("invocations", 0),
            cpu_s=outcome.get("cpu_s"),
        )
        return True

    def store(self, node: FunctionNode, stage: StageRecord, record: RunRecord, run_store: dict[str, Any]) -> None:
        """Keep the output of a stage that ran, under its key (when it is cached)."""
        if self.skipped(node) is not None:
            return
        cpu = [i.cpu_s for i in record.invocations if i.stage == node.stage and i.cpu_s is not None]
        outcome = {
            "wall_s": stage.wall_s,
            "invocations": stage.invocations,
            "cpu_s": sum(cpu) if cpu else None,
            "metrics": stage.metrics,
            "history": stage.history,
            "trials": [t.model_dump(mode="json") for t in stage.trials],
            "best": stage.best,
        }
        key = self.keys[node.stage]
        self._write(key, node, outcome, open_object_store(run_store), node.config.get("output"))
        stage.cache_note = stage.cache_note or "stored"

    def trial_key(self, node: FunctionNode, values: dict[str, float]) -> str:
        """A tune trial's own key: the stage's inputs and the trial's values, not the search around it."""
        parts = dict(self.parts[node.stage])
        config = {k: v for k, v in parts["config"].items() if k != "output"}
        config["tune"] = {k: v for k, v in config["tune"].items() if k in TRIAL_SETTINGS}
        return digest({"trial": {**parts, "fan_out": 1, "config": config}, "values": values})

    def trial(self, node: FunctionNode, values: dict[str, float]) -> Manifest | None:
        """A trial that ran to the end with these values before, when trials of this stage are reused."""
        if self.skipped(node) is not None or node.stage in self.forced:
            return None
        try:
            return read_manifest(open_object_store(self.store_config), self.trial_key(node, values))
        except CorruptEntry:
            return None

    def store_trial(self, node: FunctionNode, values: dict[str, float], trial: TrialRecord, history: list[Any]) -> None:
        if self.skipped(node) is None and trial.status == "ok":
            outcome = {"trial": trial.model_dump(mode="json"), "history": history}
            self._write(self.trial_key(node, values), node, outcome, None, None)

    def _write(
        self, key: str, node: FunctionNode, outcome: dict[str, Any], source: ObjectStore | None, prefix: str | None
    ) -> None:
        def describe(writer: str) -> Manifest:
            return Manifest(
                key, node.stage, node.kind, self.run_id, time.time(), writer, {}, outcome, self.parts[node.stage]
            )

        write_entry(open_object_store(self.store_config), key, source, prefix, describe)


def _with_readers(functions: FunctionGraph, stages: frozenset[str]) -> frozenset[str]:
    """`stages` and every stage that reads one of them, directly or not."""
    found = set(stages)
    for node in functions.nodes:  # in dependency order: a reader comes after what it reads
        if found.intersection(node.after):
            found.add(node.stage)
    return frozenset(found)
