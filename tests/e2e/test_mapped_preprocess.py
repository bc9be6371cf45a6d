"""A preprocess stage mapped over parts (`workers: 3`) in real runs on the local executor: the same
outputs as one function (vocabulary, idf, every shard and the test split, within float tolerance),
from a split, three counts at once and a merge, with no intermediate object left behind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mlspec.actions.run import execute, prepare
from mlspec.executors.coordinator import SilentReporter
from mlspec.records import RunRecord
from mlspec.spec import load
from mlspec.storage.codec import unpack, unpack_xy
from tests.cache.test_stage_cache_runs import write_imdb

TEXT = """\
name: mapped
seed: 3
datasets:
  data: {{format: imdb, path: {path}}}
stages:
  prep: {{kind: preprocess, dataset: data, max_features: 300, min_df: 2, workers: {workers}}}
  train: {{kind: train, data: prep, model: logistic_regression, workers: 2, epochs: 2, batch_size: 16}}
  evaluate: {{kind: evaluate, model: train}}
  serve: {{kind: serve, model: train}}
"""
IMAGES = """\
name: mapped
seed: 3
datasets:
  data: {{format: cifar10, synthetic: {{train_size: 90, test_size: 30}}}}
stages:
  prep: {{kind: preprocess, dataset: data, workers: {workers}}}
"""


def run(tmp_path: Path, template: str, workers: int, path: Path | None = None) -> tuple[RunRecord, Path]:
    spec = tmp_path / f"spec-{workers}.yaml"
    spec.write_text(template.format(path=path, workers=workers))
    runs = tmp_path / f"runs-{workers}"
    record = execute(str(spec), [], prepare(load(spec, []), "local", runs), SilentReporter())
    return record, runs / record.run_id / "objects" / "data" / "prep"


def assert_same_data(mapped: Path, single: Path) -> None:
    assert sorted(p.relative_to(mapped) for p in mapped.rglob("*")) == sorted(
        p.relative_to(single) for p in single.rglob("*")
    ), "the mapped stage left other objects than one function (or kept its parts)"
    meta = json.loads((mapped / "meta.json").read_text())
    assert meta == json.loads((single / "meta.json").read_text())
    for name in ["test.npz", *(f"shards-2/{i}.npz" for i in range(2))]:
        (x, y), (want_x, want_y) = (unpack_xy((folder / name).read_bytes()) for folder in (mapped, single))
        assert np.array_equal(y, want_y) and x.shape == want_x.shape
        assert abs(x - want_x).max() <= 1e-6 if hasattr(x, "indptr") else np.array_equal(x, want_x)


def test_mapped_text_preprocess_equals_one_function(tmp_path: Path) -> None:
    folder = write_imdb(tmp_path, per_label=40)
    mapped, mapped_data = run(tmp_path, TEXT, 3, folder)
    single, single_data = run(tmp_path, TEXT, 1, folder)

    ids = [i.id for i in mapped.invocations if i.stage == "prep"]
    assert ids == ["prep.preprocess.split", *(f"prep.preprocess.count#{i}" for i in range(3)), "prep.preprocess.merge"]
    assert mapped.stages["prep"].workers == 3 and mapped.stages["prep"].status == "succeeded"
    assert [i.id for i in single.invocations if i.stage == "prep"] == ["prep.preprocess"]
    assert_same_data(mapped_data, single_data)
    assert (mapped_data / "features.json").read_bytes() == (single_data / "features.json").read_bytes()
    for name, array in unpack((single_data / "test_sample.npz").read_bytes()).items():
        np.testing.assert_array_equal(unpack((mapped_data / "test_sample.npz").read_bytes())[name], array)
    np.testing.assert_allclose(
        unpack((mapped_data / "features.npz").read_bytes())["idf"],
        unpack((single_data / "features.npz").read_bytes())["idf"],
        atol=1e-6,
    )
    # Same features, same seed: the same model, and the serving bundle checks out against evaluation.
    for stage in ("evaluate", "serve"):
        assert mapped.stages[stage].metrics == pytest.approx(single.stages[stage].metrics, abs=1e-6)


def test_mapped_image_preprocess_equals_one_function(tmp_path: Path) -> None:
    mapped, mapped_data = run(tmp_path, IMAGES, 4)
    _, single_data = run(tmp_path, IMAGES, 1)
    assert len([i for i in mapped.invocations if i.stage == "prep"]) == 6
    meta, want = (json.loads((d / "meta.json").read_text()) for d in (mapped_data, single_data))
    for merged in ("std", "mean", "scale", "offset"):  # the pairwise merge's rounding differs from one pass
        np.testing.assert_allclose(meta.pop(merged), want.pop(merged), rtol=1e-12)
    assert meta == want
    for name in ["test.npz", "shards-1/0.npz"]:
        (x, y), (want_x, want_y) = (unpack_xy((d / name).read_bytes()) for d in (mapped_data, single_data))
        assert np.array_equal(x, want_x) and np.array_equal(y, want_y)
