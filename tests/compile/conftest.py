"""Specs and a built set of contexts shared by the compile tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlspec import spec as spec_module
from mlspec.compile.build import BuildResult, build
from mlspec.spec.models import Pipeline

ALL_TARGETS = """
targets:
  local: {memory_mb: 2048, timeout_s: 600}
  aws-lambda: {memory_mb: 2048, timeout_s: 900}
  gcp-cloud-run: {memory_mb: 2048, vcpu: 1}
  azure-functions: {plan: flex, memory_mb: 2048}
"""

SPEC = (
    """
name: both
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 100, test_size: 50}}
  reviews: {format: imdb, synthetic: {train_size: 100, test_size: 50}}
stages:
  prep_images: {kind: preprocess, dataset: images}
  train_images: {kind: train, data: prep_images, model: small_cnn, workers: 2, epochs: 1}
  eval_images: {kind: evaluate, model: train_images}
  prep_reviews: {kind: preprocess, dataset: reviews, max_features: 1000}
  train_reviews: {kind: train, data: prep_reviews, model: logistic_regression, workers: 2, epochs: 1}
  eval_reviews: {kind: evaluate, model: train_reviews}
"""
    + ALL_TARGETS
)

TEXT_SPEC = (
    """
name: text
datasets:
  reviews: {format: imdb}
stages:
  prep: {kind: preprocess, dataset: reviews}
  train: {kind: train, data: prep, model: logistic_regression, workers: 3}
  evaluate: {kind: evaluate, model: train}
"""
    + ALL_TARGETS
)

NOOP_EVENT: dict[str, Any] = {"function": "noop", "payload": 42}


def load(text: str, overrides: list[str] | None = None) -> Pipeline:
    return spec_module.load_text(text, "<test>", overrides)


def manifest(directory: Path) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return result


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """Contexts for every platform of the two-task pipeline, no images."""
    return build(load(SPEC), tmp_path_factory.mktemp("build"), engine="none")


@pytest.fixture(scope="session")
def context_dirs(built: BuildResult) -> dict[str, Path]:
    """platform -> the context directory of one function on it."""
    return {c.platform: built.directory / c.name for c in built.contexts if c.stage == "eval_reviews"}
