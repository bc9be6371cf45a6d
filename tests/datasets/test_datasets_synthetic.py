"""Synthetic twins (shapes, determinism, a learnable signal), sharding, and a light package import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlspec.datasets import CIFAR10_CLASSES, DatasetError, load_dataset, shard_indices


def test_synthetic_cifar10_shapes_balance_and_determinism(tmp_path: Path) -> None:
    config = {"format": "cifar10", "synthetic": {"train_size": 200, "test_size": 50, "seed": 7}}
    a = load_dataset(config, tmp_path)
    b = load_dataset(config, tmp_path)
    assert a.format == "cifar10" and a.classes == CIFAR10_CLASSES and a.source == "synthetic(seed=7)"
    assert a.train_x.shape == (200, 32, 32, 3) and a.train_x.dtype == np.uint8
    assert a.test_x.shape == (50, 32, 32, 3) and a.test_y.shape == (50,)
    assert a.train_y.dtype == np.int64 and a.test_y.dtype == np.int64
    assert np.bincount(a.train_y, minlength=10).tolist() == [20] * 10
    assert np.bincount(a.test_y, minlength=10).tolist() == [5] * 10
    assert np.array_equal(a.train_x, b.train_x) and np.array_equal(a.train_y, b.train_y)
    assert np.array_equal(a.test_x, b.test_x)
    other = load_dataset({**config, "synthetic": {"train_size": 200, "test_size": 50, "seed": 8}}, tmp_path)
    assert not np.array_equal(a.train_x, other.train_x)
    # the test split does not depend on the training size
    bigger = load_dataset({**config, "synthetic": {"train_size": 300, "test_size": 50, "seed": 7}}, tmp_path)
    assert np.array_equal(a.test_x, bigger.test_x)
    # pixels use the whole range and are noisy, not constant per class
    assert a.train_x.std() > 30 and a.train_x.min() < 20 and a.train_x.max() > 235


def test_synthetic_cifar10_has_a_learnable_but_not_trivial_signal(tmp_path: Path) -> None:
    data = load_dataset({"format": "cifar10", "synthetic": {"train_size": 1000, "test_size": 500}}, tmp_path)

    def features(x: np.ndarray) -> np.ndarray:
        # magnitude of the low-frequency 2-D spectrum per channel: shift-invariant texture features
        spectrum = np.abs(np.fft.fft2(x.astype(np.float64) - 128, axes=(1, 2)))[:, :5, :5, :]
        return spectrum.reshape(len(x), -1)

    train, test = features(data.train_x), features(data.test_x)
    mean, std = train.mean(0), train.std(0) + 1e-9
    train, test = (train - mean) / std, (test - mean) / std
    centroids = np.stack([train[data.train_y == c].mean(0) for c in range(10)])
    predicted = ((test[:, None, :] - centroids[None]) ** 2).sum(-1).argmin(1)
    accuracy = float((predicted == data.test_y).mean())
    assert 0.3 < accuracy < 0.99  # chance is 0.1


def test_synthetic_imdb_reviews(tmp_path: Path) -> None:
    config = {"format": "imdb", "synthetic": {"train_size": 400, "test_size": 100, "seed": 1}}
    a = load_dataset(config, tmp_path)
    assert a.format == "imdb" and a.classes == ["neg", "pos"] and a.source == "synthetic(seed=1)"
    assert len(a.train_x) == 400 and len(a.test_x) == 100
    assert all(isinstance(text, str) for text in a.train_x)
    assert a.train_y.dtype == np.int64 and np.bincount(a.train_y).tolist() == [200, 200]
    assert a.train_x == load_dataset(config, tmp_path).train_x
    lengths = [len(text.replace("<br /><br />", " ").split()) for text in a.train_x]
    assert min(lengths) >= 30 and max(lengths) <= 135
    # a crude lexicon count separates the classes well, but not perfectly
    positive = ("great", "wonderful", "excellent", "superb", "loved", "amazing", "brilliant")
    negative = ("terrible", "awful", "boring", "worst", "bad", "dull", "waste")

    def score(text: str) -> int:
        words = text.lower().replace(".", " ").replace("!", " ").split()
        return sum(w in positive for w in words) - sum(w in negative for w in words)

    predicted = np.array([score(t) > 0 for t in a.train_x], dtype=np.int64)
    decided = np.array([score(t) != 0 for t in a.train_x])
    accuracy = float((predicted[decided] == a.train_y[decided]).mean())
    assert 0.65 < accuracy < 0.99


def test_synthetic_defaults_and_limits(tmp_path: Path) -> None:
    data = load_dataset({"format": "imdb", "max_train": 50, "max_test": 20}, tmp_path)
    assert len(data.train_x) == 50 and data.train_y.shape == (50,) and len(data.test_x) == 20
    full = load_dataset({"format": "imdb", "synthetic": None}, tmp_path)
    assert len(full.train_x) == 2000 and len(full.test_x) == 500 and full.source == "synthetic(seed=0)"
    assert full.train_x[:50] == data.train_x
    with pytest.raises(DatasetError, match="max_train must be >= 1"):
        load_dataset({"format": "imdb", "max_train": 0}, tmp_path)
    with pytest.raises(DatasetError, match=r"synthetic\.train_size must be an integer"):
        load_dataset({"format": "cifar10", "synthetic": {"train_size": "many"}}, tmp_path)


@pytest.mark.parametrize(("n", "shards"), [(0, 1), (1, 3), (10, 3), (1000, 7), (5438, 4)])
def test_shard_indices_disjoint_cover_and_deterministic(n: int, shards: int) -> None:
    parts = [shard_indices(n, shards, s, seed=11) for s in range(shards)]
    assert all(p.dtype == np.int64 for p in parts)
    together = np.concatenate(parts)
    assert sorted(together.tolist()) == list(range(n))  # disjoint and covering
    sizes = [len(p) for p in parts]
    assert max(sizes) - min(sizes) <= 1
    assert all(np.array_equal(p, shard_indices(n, shards, s, seed=11)) for s, p in enumerate(parts))
    if n >= 10:
        assert not np.array_equal(together, np.arange(n))  # shuffled
        assert not np.array_equal(shard_indices(n, shards, 0, seed=12), parts[0])


@pytest.mark.parametrize(
    "args", [(-1, 2, 0, 0), (10, 0, 0, 0), (10, 2, 2, 0), (10, 2, -1, 0), (10, 2, 0, -5), (10.0, 2, 0, 0)]
)
def test_shard_indices_bad_arguments(args: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError):
        shard_indices(*args)


def test_import_is_light() -> None:
    code = (
        "import sys, mlspec.datasets; "
        "heavy = {'tarfile', 'urllib.request', 'http.client', 'torch', 'sklearn'} & set(sys.modules); "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
