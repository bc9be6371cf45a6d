"""The serving bundle: everything inference needs, in the object store as plain data (JSON + .npz,
never pickle): the trained parameters, the data statistics the model uses, the fitted text features,
the input format and the request limits.

    <prefix>/bundle.json   model name and options, data meta, input spec, limits, text vocabulary
    <prefix>/bundle.npz    params (float32), idf (text only)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.datasets.features import TextFeatures
from mlspec.layout import raw_test_sample_key, text_features_keys
from mlspec.serving.inputs import InputSpec
from mlspec.storage import ObjectStore
from mlspec.storage.codec import pack, unpack, unpack_xy


@dataclass(frozen=True)
class Bundle:
    model: str
    options: dict[str, Any]
    data_meta: dict[str, Any]  # the preprocess stage's meta.json: classes, image statistics, feature count
    params: np.ndarray
    input: InputSpec
    max_request_bytes: int
    text: TextFeatures | None = None

    @property
    def classes(self) -> list[str]:
        return list(self.data_meta["classes"])


def package(objects: ObjectStore, config: dict[str, Any]) -> tuple[Bundle, list[str] | np.ndarray, Any, np.ndarray]:
    """A bundle for the serve node `config` (see compile.graph._serve), with held-out examples both raw
    (as a client would send them) and as the stored features offline evaluation scores: (bundle, raw, x, y).
    Text features are the preprocess stage's own fitted TF-IDF, read back from the object store."""
    spec = json.loads(objects.get(f"{config['model_prefix']}/model.json"))
    data = spec["data"]
    meta = json.loads(objects.get(f"{data}/meta.json"))
    params = unpack(objects.get(f"{config['model_prefix']}/model.npz"))["params"]
    test_x, test_y = unpack_xy(objects.get(f"{data}/test.npz"))
    text: TextFeatures | None = None
    raw: list[str] | np.ndarray
    if meta["format"] == "imdb":
        terms_key, idf_key = text_features_keys(data)
        terms = json.loads(objects.get(terms_key))
        text = TextFeatures(terms["terms"], unpack(objects.get(idf_key))["idf"], terms["ngram_max"])
        raw = json.loads(objects.get(raw_test_sample_key(data)))
        spec_in = InputSpec("text", config["max_batch"])
    else:
        raw = test_x
        spec_in = InputSpec("image", config["max_batch"], tuple(test_x.shape[1:]))
    bundle = Bundle(spec["model"], spec["options"], meta, params, spec_in, config["max_request_bytes"], text)
    return bundle, raw, test_x, test_y


def save_bundle(objects: ObjectStore, prefix: str, bundle: Bundle) -> int:
    """Write the bundle; returns its size in bytes."""
    doc = {
        "model": bundle.model,
        "options": bundle.options,
        "data_meta": bundle.data_meta,
        "input": {
            "kind": bundle.input.kind,
            "max_batch": bundle.input.max_batch,
            "image_shape": list(bundle.input.image_shape),
        },
        "max_request_bytes": bundle.max_request_bytes,
        "text": None if bundle.text is None else {"terms": bundle.text.terms, "ngram_max": bundle.text.ngram_max},
    }
    arrays = {"params": bundle.params} | ({"idf": bundle.text.idf} if bundle.text else {})
    blobs = {f"{prefix}/bundle.json": json.dumps(doc).encode(), f"{prefix}/bundle.npz": pack(**arrays)}
    for key, data in blobs.items():
        objects.put(key, data)
    return sum(len(b) for b in blobs.values())


def bundle_exists(objects: ObjectStore, prefix: str) -> bool:
    return objects.exists(f"{prefix}/bundle.json") and objects.exists(f"{prefix}/bundle.npz")


def load_bundle(objects: ObjectStore, prefix: str) -> Bundle:
    doc = json.loads(objects.get(f"{prefix}/bundle.json"))
    arrays = unpack(objects.get(f"{prefix}/bundle.npz"))
    spec_in = doc["input"]
    text = doc["text"]
    return Bundle(
        doc["model"],
        doc["options"],
        doc["data_meta"],
        arrays["params"],
        InputSpec(spec_in["kind"], spec_in["max_batch"], tuple(spec_in["image_shape"])),
        doc["max_request_bytes"],
        None if text is None else TextFeatures(text["terms"], arrays["idf"], text["ngram_max"]),
    )
