"""The real archives in $MLSPEC_DATA or ../shared/data (slow; skipped when they are absent)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from mlspec.datasets import load_dataset, verify_source
from tests.conftest import shared_archive

IMDB_SHA256 = "fc132c2a23a4d23eec474b518907765dbc9c59e648c1e57ac8010670238ed697"
CIFAR_SHA256 = "702b99257390ebd03f5fa7294c72d239b6d89c01c9285b74b46da60c06ea10fb"


@pytest.mark.slow
def test_real_imdb(tmp_path: Path) -> None:
    archive = shared_archive("aclImdb_v1.tar.gz")
    config = {"format": "imdb", "path": str(archive), "sha256": IMDB_SHA256}
    assert verify_source(config, tmp_path) == archive
    start = time.perf_counter()
    data = load_dataset(config, tmp_path)
    print(f"\nIMDb loaded in {time.perf_counter() - start:.2f} s")
    assert len(data.train_x) == len(data.train_y) == 25_000
    assert len(data.test_x) == len(data.test_y) == 25_000
    assert np.bincount(data.train_y).tolist() == [12_500, 12_500]
    assert np.bincount(data.test_y).tolist() == [12_500, 12_500]
    assert data.classes == ["neg", "pos"] and data.source == str(archive)
    lengths = [len(text) for text in data.train_x + data.test_x]
    assert min(lengths) >= 10 and max(lengths) <= 14_000
    assert "<br /><br />" in "".join(data.train_x[:200])


@pytest.mark.slow
def test_real_cifar10_subset(tmp_path: Path) -> None:
    archive = shared_archive("cifar-10-subset-python.tar.gz")
    config = {"format": "cifar10", "path": str(archive), "sha256": CIFAR_SHA256}
    start = time.perf_counter()
    data = load_dataset(config, tmp_path)
    print(f"\nCIFAR-10 subset loaded in {time.perf_counter() - start:.2f} s")
    assert data.train_x.shape == (5_438, 32, 32, 3) and data.train_x.dtype == np.uint8
    assert data.test_x.shape == (1_017, 32, 32, 3)
    assert data.train_y[:5].tolist() == [6, 9, 9, 4, 1]
    assert data.test_y[:5].tolist() == [3, 8, 8, 0, 6]
    assert data.classes[:3] == ["airplane", "automobile", "bird"] and len(data.classes) == 10
    assert np.bincount(data.train_y, minlength=10).tolist() == [541, 564, 524, 529, 563, 523, 540, 548, 572, 534]
    assert np.bincount(data.test_y, minlength=10).tolist() == [105, 93, 100, 104, 92, 87, 114, 102, 110, 110]
    # real photos: varied pixels, not noise (neighbouring pixels are strongly correlated)
    x = data.train_x.astype(np.float64)
    assert 40 < x.std() < 90
    assert np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1] > 0.8
    limited = load_dataset({**config, "max_train": 100, "max_test": 10}, tmp_path)
    assert np.array_equal(limited.train_x, data.train_x[:100]) and len(limited.test_y) == 10
