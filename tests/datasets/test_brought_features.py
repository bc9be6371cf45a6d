"""Preprocessing users bring: a `transform:` function from a file beside the spec and a scikit-learn
`vectorizer:` by import path, mapped over parts exactly as one function would, through training, evaluate and
the serve stage's check (raw held-out examples through the same transform and vectorizer); broken code is one
line naming the user's file, exit 2."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfVectorizer

from mlspec.datasets import load_dataset
from mlspec.datasets.features import BroughtVectorizer, RequestFeatures, brought_transform
from mlspec.errors import UserCodeError

TEXT = """\
import re


def clean(texts):
    return [re.sub(r"<br\\s*/?>", " ", t).lower() for t in texts]


def broken(texts):
    return [t.missing() for t in texts]


def short(texts):
    return texts[1:]
"""

IMAGES = """\
def mirror(images):
    return images[:, :, ::-1, :].copy()
"""

SPEC = """\
name: brought-features
seed: 0
datasets:
  reviews: {format: imdb, synthetic: {train_size: 600, test_size: 200, seed: 0}}
  images: {format: cifar10, synthetic: {train_size: 600, test_size: 200, seed: 0}}
stages:
  hashed:
    kind: preprocess
    dataset: reviews
    workers: 2
    transform: "text.py:clean"
    vectorizer: sklearn.feature_extraction.text:HashingVectorizer
    vectorizer_options: {n_features: 4096, ngram_range: [1, 2], alternate_sign: false}
  train_hashed: {kind: train, data: hashed, model: logistic_regression, workers: 2, epochs: 3}
  serve_hashed: {kind: serve, model: train_hashed}
  fitted:
    kind: preprocess
    dataset: reviews
    workers: 2
    vectorizer: sklearn.feature_extraction.text:TfidfVectorizer
    vectorizer_options: {min_df: 2, sublinear_tf: true}
  train_fitted: {kind: train, data: fitted, model: "sklearn.linear_model:SGDClassifier",
                 model_options: {loss: log_loss}, workers: 2, epochs: 3}
  eval_fitted: {kind: evaluate, model: train_fitted}
  serve_fitted: {kind: serve, model: train_fitted}
  mirrored: {kind: preprocess, dataset: images, workers: 2, transform: "images.py:mirror", scaling: min_max}
  train_mirrored: {kind: train, data: mirrored, model: small_cnn, epochs: 3, batch_size: 32, learning_rate: 0.02}
  serve_mirrored: {kind: serve, model: train_mirrored}
"""


def mlspec(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def code(name: str, source: str) -> dict[str, str]:
    return {"name": name, "sha256": hashlib.sha256(source.encode()).hexdigest(), "source": source}


def reviews(tmp_path: Path) -> tuple[list[str], list[str]]:
    spec = {"format": "imdb", "synthetic": {"train_size": 300, "test_size": 100, "seed": 1}}
    data = load_dataset(spec, tmp_path, lambda *_: None)
    return list(data.train_x), list(data.test_x)


def mapped(options: dict[str, Any], train: list[str], test: list[str], parts: int) -> Any:
    """The vectorizer over `parts` contiguous parts, summarised apart and merged, as the map runs it."""
    fitter = BroughtVectorizer()
    cuts = [np.array_split(np.arange(len(split)), parts) for split in (train, test)]
    summaries = [fitter.part([train[i] for i in a], [test[i] for i in b], options) for a, b in zip(*cuts, strict=True)]
    return fitter.merge(summaries, options)


def test_a_vectorizer_needing_no_fit_maps_to_the_same_features(tmp_path: Path) -> None:
    train, test = reviews(tmp_path)
    options = {
        "vectorizer": "sklearn.feature_extraction.text:HashingVectorizer",
        "vectorizer_options": {"n_features": 2048, "ngram_range": [1, 2]},
    }
    fitted = mapped(options, train, test, 3)
    direct = HashingVectorizer(n_features=2048, ngram_range=(1, 2))
    np.testing.assert_allclose(fitted.train_x.toarray(), direct.transform(train).toarray(), atol=1e-6)
    np.testing.assert_allclose(fitted.test_x.toarray(), direct.transform(test).toarray(), atol=1e-6)
    assert fitted.vectorizer is None and fitted.meta == {"features": 2048}


def test_a_vectorizer_needing_a_fit_is_fitted_on_the_training_split_only(tmp_path: Path) -> None:
    train, test = reviews(tmp_path)
    options = {"vectorizer": "sklearn.feature_extraction.text:TfidfVectorizer", "vectorizer_options": {"min_df": 2}}
    fitted = mapped(options, train, test, 3)
    direct = TfidfVectorizer(min_df=2).fit(train)
    np.testing.assert_allclose(fitted.train_x.toarray(), direct.transform(train).toarray(), atol=1e-6)
    np.testing.assert_allclose(fitted.test_x.toarray(), direct.transform(test).toarray(), atol=1e-6)
    # Serving rebuilds it from the pickled fit, not a fresh fit on whatever it is sent.
    served = RequestFeatures(options, vectorizer=fitted.vectorizer).features(test[:5])
    assert sparse.issparse(served) and np.allclose(served.toarray(), direct.transform(test[:5]).toarray(), atol=1e-6)


def test_a_transform_runs_on_the_raw_examples_and_its_errors_name_the_file() -> None:
    options = {"transform": "text.py:clean", "code": {"transform": code("text.py", TEXT)}}
    assert brought_transform(options)(["A<br />B", "C"]) == ["a b", "c"]
    with pytest.raises(UserCodeError, match=r"^text\.py:9: AttributeError: 'str' object has no attribute 'missing'"):
        brought_transform({**options, "transform": "text.py:broken"})(["a"])
    with pytest.raises(UserCodeError, match="2 texts in must give a list of 2 texts out"):
        brought_transform({**options, "transform": "text.py:short"})(["a", "b"])
    with pytest.raises(UserCodeError, match=r"text\.py has no function 'absent'"):
        brought_transform({**options, "transform": "text.py:absent"})(["a"])
    images = {"transform": "images.py:mirror", "code": {"transform": code("images.py", IMAGES)}}
    batch = np.arange(2 * 4 * 4 * 3, dtype=np.uint8).reshape(2, 4, 4, 3)
    np.testing.assert_array_equal(brought_transform(images)(batch), batch[:, :, ::-1, :])


@pytest.fixture(scope="module")
def brought_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("features")
    (root / "text.py").write_text(TEXT)
    (root / "images.py").write_text(IMAGES)
    (root / "spec.yaml").write_text(SPEC)
    done = mlspec("run", "spec.yaml", "--json", "--runs-dir", str(root / "runs"), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    record: dict[str, Any] = json.loads(done.stdout)
    return record


@pytest.mark.parametrize(("stage", "chance"), [("train_hashed", 0.5), ("train_fitted", 0.5), ("train_mirrored", 0.1)])
def test_brought_preprocessing_trains_and_serves_raw_inputs(
    brought_run: dict[str, Any], stage: str, chance: float
) -> None:
    assert brought_run["stages"][stage]["metrics"]["test_accuracy"] > chance + 0.05
    served = brought_run["stages"][stage.replace("train", "serve")]["metrics"]
    # Raw held-out examples through the transform and vectorizer in the bundle give offline evaluation's answers.
    assert served["check_agreement"] == 1.0 and served["check_examples"] >= 100
    prep = stage.removeprefix("train_")
    assert [i["id"] for i in brought_run["invocations"] if i["stage"] == prep][-1] == f"{prep}.preprocess.merge"


def test_broken_transform_fails_the_run_in_one_line_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "text.py").write_text(TEXT)
    spec = SPEC.split("  train_hashed:")[0].replace("text.py:clean", "text.py:broken")
    (tmp_path / "spec.yaml").write_text(spec.replace("  images: {format: cifar10", "  unused: {format: cifar10"))
    done = mlspec("run", "spec.yaml", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "text.py:9: AttributeError" in error and "Traceback" not in done.stderr


def test_a_vectorizer_on_images_is_refused_where_it_is_written(tmp_path: Path) -> None:
    spec = "name: x\ndatasets:\n  images: {format: cifar10}\nstages:\n  prep:\n    kind: preprocess\n"
    spec += "    dataset: images\n    vectorizer: sklearn.feature_extraction.text:HashingVectorizer\n"
    (tmp_path / "spec.yaml").write_text(spec)
    done = mlspec("validate", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("spec.yaml:8:") and "a vectorizer turns texts into features" in line
