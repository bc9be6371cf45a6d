"""Preprocess: load a dataset, fit features on the training split only, and write one shard set per
worker count downstream plus the test split to the object store.

One invocation does it all (no `step` in the event), or the stage maps over `parts` (`workers`) in
three steps: `split` reads the dataset once and writes each part's share of both splits; `count`
(invocation i) summarises part i; `merge` combines the summaries into the features and writes the
outputs. Both ways run the same fitting code (mlspec.datasets.features): one function summarises the whole
training split as one part and transforms the test split with the fitted features. A brought `transform:`
runs where the rows are summarised (on each part, or on the whole), before the features."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from mlspec.datasets import Dataset, load_dataset, part_bounds, shard_indices
from mlspec.datasets.features import (
    BROUGHT_OPTIONS,
    Fitted,
    Summary,
    brought_transform,
    fitter_for,
    prefixed,
    unprefixed,
)
from mlspec.layout import preprocess_part_key, raw_test_sample_key, text_features_keys, vectorizer_key
from mlspec.runtime.context import Context
from mlspec.storage import ObjectStore
from mlspec.storage.codec import pack, pack_xy, unpack


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    return STEPS[event.get("step", "whole")](event, context)


def whole(event: dict[str, Any], context: Context) -> dict[str, Any]:
    store = context.object_store(event["object_store"])
    data = _load(event, context)
    options = event["options"]
    fitter = fitter_for(data.format, options)
    facts = _write_dataset_facts(store, event["output"], data, fitter.encode)
    context.report(phase="fitting features")
    transform = brought_transform(options)
    train_x, test_x = transform(data.train_x), transform(data.test_x)
    fitted = fitter.merge([fitter.part(train_x, None, options)], options)
    fitted = replace(fitted, test_x=fitter.transform(fitted, test_x, options))
    return _write_outputs(store, event, facts, fitted, data.train_y, data.test_y)


def split(event: dict[str, Any], context: Context) -> dict[str, Any]:
    """Each part's rows of the training and the test split, contiguous and in order."""
    store = context.object_store(event["object_store"])
    out = event["output"]
    data = _load(event, context)
    fitter = fitter_for(data.format, event["options"])
    facts = _write_dataset_facts(store, out, data, fitter.encode)
    store.put(preprocess_part_key(out, "dataset.json"), json.dumps(facts).encode())
    parts = event["parts"]
    bounds = zip(part_bounds(len(data.train_y), parts), part_bounds(len(data.test_y), parts), strict=True)
    for part, ((a, b), (c, d)) in enumerate(bounds):
        context.report(phase=f"splitting into {parts} parts", done=part, total=parts)
        arrays = {
            **prefixed("train", fitter.encode(data.train_x[a:b])),
            **prefixed("test", fitter.encode(data.test_x[c:d])),
            "labels_train": data.train_y[a:b],
            "labels_test": data.test_y[c:d],
        }
        store.put(preprocess_part_key(out, f"input-{part}.npz"), pack(**arrays))
    return {"metrics": {"train_examples": len(data.train_y), "test_examples": len(data.test_y)}}


def count(event: dict[str, Any], context: Context) -> dict[str, Any]:
    """The summary of part `worker` (with its labels), for the merge."""
    store = context.object_store(event["object_store"])
    out, part = event["output"], event["worker"]
    facts = json.loads(store.get(preprocess_part_key(out, "dataset.json")))
    arrays = unpack(store.get(preprocess_part_key(out, f"input-{part}.npz")))
    context.report(phase=f"summarising part {part + 1} of {event['parts']}")
    options = event["options"]
    fitter = fitter_for(facts["format"], options)
    transform = brought_transform(options)
    train_x, test_x = (transform(fitter.decode(unprefixed(split, arrays))) for split in ("train", "test"))
    summary = fitter.part(train_x, test_x, options)
    labels = {"labels_train": arrays["labels_train"], "labels_test": arrays["labels_test"]}
    store.put(preprocess_part_key(out, f"summary-{part}.npz"), pack(**summary, **labels))
    return {"metrics": {"train_examples": len(labels["labels_train"])}}


def merge(event: dict[str, Any], context: Context) -> dict[str, Any]:
    store = context.object_store(event["object_store"])
    out = event["output"]
    facts = json.loads(store.get(preprocess_part_key(out, "dataset.json")))
    summaries: list[Summary] = []
    for part in range(event["parts"]):
        context.report(phase="reading parts", done=part, total=event["parts"])
        summaries.append(unpack(store.get(preprocess_part_key(out, f"summary-{part}.npz"))))
    context.report(phase=f"merging {event['parts']} parts")
    train_y, test_y = (np.concatenate([s.pop(f"labels_{split}") for s in summaries]) for split in ("train", "test"))
    fitted = fitter_for(facts["format"], event["options"]).merge(summaries, event["options"])
    result = _write_outputs(store, event, facts, fitted, train_y, test_y)
    store.delete_prefix(preprocess_part_key(out, ""))
    return result


STEPS: dict[str, Callable[[dict[str, Any], Context], dict[str, Any]]] = {
    "whole": whole,
    "split": split,
    "count": count,
    "merge": merge,
}


def _load(event: dict[str, Any], context: Context) -> Dataset:
    def progress(what: str, done: int, total: int | None) -> None:
        context.report(phase=what, done=done, total=total)

    context.report(phase="loading dataset")
    return load_dataset(event["dataset"], Path(event["cache_dir"]), progress)


# Held-out examples kept as a client would send them (before any transform), to check a serving bundle.
RAW_TEST_SAMPLE = 256


def _write_dataset_facts(
    store: ObjectStore, out: str, data: Dataset, encode: Callable[[Any], Summary]
) -> dict[str, Any]:
    """What the outputs say of the dataset itself, and the first held-out examples kept raw."""
    store.put(raw_test_sample_key(out), pack(**encode(data.test_x[:RAW_TEST_SAMPLE])))
    return {
        "format": data.format,
        "classes": data.classes,
        "source": data.source,
        "n_train": len(data.train_y),
        "available": list(data.available or (len(data.train_y), len(data.test_y))),
        "n_test": len(data.test_y),
    }


def _write_outputs(
    store: ObjectStore,
    event: dict[str, Any],
    facts: dict[str, Any],
    fitted: Fitted,
    train_y: np.ndarray,
    test_y: np.ndarray,
) -> dict[str, Any]:
    out = event["output"]
    brought = {k: v for k, v in event["options"].items() if k in BROUGHT_OPTIONS}
    # The brought code's names, options and sources: what serving applies to raw requests.
    meta = {**fitted.meta, **facts, "shards": {}, **({"brought": brought} if brought else {})}
    if fitted.vectorizer is not None:
        store.put(vectorizer_key(out), fitted.vectorizer)
    if fitted.terms is not None and fitted.idf is not None:
        # What inference needs to turn raw text into these features, as plain data (never a pickle).
        terms_key, idf_key = text_features_keys(out)
        store.put(terms_key, json.dumps({"terms": fitted.terms, "ngram_max": event["options"]["ngram_max"]}).encode())
        store.put(idf_key, pack(idf=fitted.idf))
    for shard_count in sorted(set(event["shard_counts"])):
        sizes = []
        for shard in range(shard_count):
            rows = shard_indices(len(train_y), shard_count, shard, event["seed"])
            store.put(f"{out}/shards-{shard_count}/{shard}.npz", pack_xy(fitted.train_x[rows], train_y[rows]))
            sizes.append(len(rows))
        meta["shards"][str(shard_count)] = sizes
    store.put(f"{out}/test.npz", pack_xy(fitted.test_x, test_y))
    store.put(f"{out}/meta.json", json.dumps(meta).encode())
    train_available, test_available = facts["available"]
    return {
        "metrics": {
            "train_examples": meta["n_train"],
            "test_examples": meta["n_test"],
            # What the source holds (before max_train / max_test): what a plan for all of it scales to.
            "train_available": train_available,
            "test_available": test_available,
        }
    }
