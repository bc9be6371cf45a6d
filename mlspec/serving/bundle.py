"""The serving bundle: everything inference needs, in the object store as plain data (JSON + .npz): the
trained parameters, the data statistics the model uses, the fitted text features, the brought preprocessing
code, the input format and the request limits.

    <prefix>/bundle.json   model name and options, data meta (with the brought code), input spec, limits,
                           text vocabulary
    <prefix>/bundle.npz    params (float32), idf (built-in text features), vectorizer (a brought vectorizer
                           fitted on the training split: the one pickle, the run's own, as uint8 bytes)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlspec.datasets.features import RequestFeatures, TextFeatures, fitter_for
from mlspec.layout import raw_test_sample_key, text_features_keys, vectorizer_key
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
    features: RequestFeatures

    @property
    def classes(self) -> list[str]:
        return list(self.data_meta["classes"])


def package(objects: ObjectStore, config: dict[str, Any]) -> tuple[Bundle, Any, Any, np.ndarray]:
    """A bundle for the serve node `config` (see compile.graph._serve), with held-out examples both raw
    (as a client would send them) and as the stored features offline evaluation scores: (bundle, raw, x, y).
    The features are the preprocess stage's own (fitted TF-IDF, brought code), read back from the object store."""
    spec = json.loads(objects.get(f"{config['model_prefix']}/model.json"))
    data = spec["data"]
    meta = json.loads(objects.get(f"{data}/meta.json"))
    params = unpack(objects.get(f"{config['model_prefix']}/model.npz"))["params"]
    test_x, test_y = unpack_xy(objects.get(f"{data}/test.npz"))
    brought = meta.get("brought", {})
    raw = fitter_for(meta["format"], brought).decode(unpack(objects.get(raw_test_sample_key(data))))
    text: TextFeatures | None = None
    terms_key, idf_key = text_features_keys(data)
    if objects.exists(terms_key):
        terms = json.loads(objects.get(terms_key))
        text = TextFeatures(terms["terms"], unpack(objects.get(idf_key))["idf"], terms["ngram_max"])
    fitted = objects.get(vectorizer_key(data)) if objects.exists(vectorizer_key(data)) else None
    if meta["format"] == "imdb":
        spec_in = InputSpec("text", config["max_batch"])
    else:
        spec_in = InputSpec("image", config["max_batch"], tuple(raw.shape[1:]))
    features = RequestFeatures(brought, text, fitted)
    bundle = Bundle(spec["model"], spec["options"], meta, params, spec_in, config["max_request_bytes"], features)
    return bundle, raw, test_x, test_y


def save_bundle(objects: ObjectStore, prefix: str, bundle: Bundle) -> int:
    """Write the bundle; returns its size in bytes."""
    text = bundle.features.text
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
        "text": None if text is None else {"terms": text.terms, "ngram_max": text.ngram_max},
    }
    arrays = {"params": bundle.params} | ({"idf": text.idf} if text else {})
    if bundle.features.vectorizer is not None:
        arrays["vectorizer"] = np.frombuffer(bundle.features.vectorizer, dtype=np.uint8)
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
        RequestFeatures(
            doc["data_meta"].get("brought", {}),
            None if text is None else TextFeatures(text["terms"], arrays["idf"], text["ngram_max"]),
            arrays["vectorizer"].tobytes() if "vectorizer" in arrays else None,
        ),
    )
