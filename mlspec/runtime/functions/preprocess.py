"""Preprocess: load a dataset, fit features on the training split only, and write one shard set per
worker count downstream plus the test split to the object store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mlspec.datasets import Dataset, load_dataset, shard_indices
from mlspec.layout import raw_test_sample_key, text_features_keys
from mlspec.runtime.context import Context
from mlspec.storage.codec import pack, pack_xy

RAW_TEST_SAMPLE = 256  # held-out texts kept raw, so a serving bundle can be checked without the dataset


def run(event: dict[str, Any], context: Context) -> dict[str, Any]:
    store = context.object_store(event["object_store"])
    out = event["output"]

    def progress(what: str, done: int, total: int | None) -> None:
        context.report(phase=what, done=done, total=total)

    context.report(phase="loading dataset")
    data = load_dataset(event["dataset"], Path(event["cache_dir"]), progress)
    context.report(phase="fitting features")
    train_x, test_x, meta = _features(data, event["options"], store, out)
    meta.update(
        format=data.format,
        classes=data.classes,
        source=data.source,
        n_train=len(data.train_y),
        n_test=len(data.test_y),
        shards={},
    )
    for count in sorted(set(event["shard_counts"])):
        sizes = []
        for shard in range(count):
            rows = shard_indices(len(data.train_y), count, shard, event["seed"])
            store.put(f"{out}/shards-{count}/{shard}.npz", pack_xy(train_x[rows], data.train_y[rows]))
            sizes.append(len(rows))
        meta["shards"][str(count)] = sizes
    store.put(f"{out}/test.npz", pack_xy(test_x, data.test_y))
    store.put(f"{out}/meta.json", json.dumps(meta).encode())
    return {"metrics": {"train_examples": meta["n_train"], "test_examples": meta["n_test"]}}


def _features(data: Dataset, options: dict[str, Any], store: Any, out: str) -> tuple[Any, Any, dict[str, Any]]:
    if data.format == "cifar10":
        # Per-channel statistics from the training split only; images stay uint8 to keep shards small.
        pixels = data.train_x.reshape(-1, 3).astype(np.float64) / 255.0
        return data.train_x, data.test_x, {"mean": pixels.mean(0).tolist(), "std": pixels.std(0).tolist()}
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        ngram_range=(1, options["ngram_max"]),
        min_df=options["min_df"],
        max_features=options["max_features"],
        sublinear_tf=True,
        dtype=np.float32,
    )
    train_x = vectorizer.fit_transform(data.train_x)
    test_x = vectorizer.transform(data.test_x)
    # What inference needs to turn raw text into these features, as plain data (never a pickle).
    terms_key, idf_key = text_features_keys(out)
    terms = vectorizer.get_feature_names_out().tolist()
    store.put(terms_key, json.dumps({"terms": terms, "ngram_max": options["ngram_max"]}).encode())
    store.put(idf_key, pack(idf=vectorizer.idf_.astype(np.float32)))
    store.put(raw_test_sample_key(out), json.dumps(list(data.test_x[:RAW_TEST_SAMPLE])).encode())
    return train_x, test_x, {"features": int(train_x.shape[1])}
