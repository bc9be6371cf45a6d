"""Batched prediction with a loaded bundle: validated request in, labels and probabilities out."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from mlspec.models import build_model
from mlspec.serving.bundle import Bundle
from mlspec.serving.inputs import InputSpec, decode_request


class Predictor:
    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.model = build_model(bundle.model, bundle.options, bundle.data_meta, seed=0)
        self.model.set_params(bundle.params)
        # One batch at a time: concurrent torch calls on a few cores only oversubscribe them.
        self._lock = threading.Lock()

    @property
    def input(self) -> InputSpec:
        return self.bundle.input

    def probabilities(self, inputs: list[str] | np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n, classes), for decoded inputs."""
        with self._lock:
            return np.asarray(self.model.predict_proba(self.bundle.features.features(inputs)))

    def predict(self, payload: Any) -> dict[str, Any]:
        """Answer a request payload ({"inputs": [...]}); raises InputError for a bad one."""
        proba = self.probabilities(decode_request(payload, self.input))
        classes = self.bundle.classes
        return {
            "labels": [classes[i] for i in proba.argmax(axis=1)],
            "probabilities": proba.astype(np.float64).round(6).tolist(),
            "classes": classes,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.bundle.model,
            "classes": self.bundle.classes,
            "input": self.input.describe(),
            "max_request_bytes": self.bundle.max_request_bytes,
        }
