"""`mlspec serve` on a run trained on the real IMDb archive answers real reviews as offline evaluation does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlspec.datasets import load_dataset
from tests.conftest import REPO, shared_archive
from tests.serving.conftest import offline_predictions, run_spec, start_server

SERVE_STAGE = "  serve:\n    kind: serve"


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_real_reviews_get_offline_evaluations_predictions(tmp_path: Path) -> None:
    archive = shared_archive("aclImdb_v1.tar.gz")
    spec = (REPO / "examples" / "imdb.yaml").read_text()
    assert SERVE_STAGE in spec  # the example packages its model for serving
    run = run_spec(tmp_path, spec, f"datasets.imdb.path={archive}", "stages.train.workers=2")
    assert run.record["stages"]["serve"]["metrics"]["check_agreement"] == 1.0
    data = load_dataset(run.record["spec"]["datasets"]["imdb"], tmp_path / "cache")
    rows = np.random.default_rng(0).choice(len(data.test_y), size=200, replace=False)  # both classes, mixed
    offline = offline_predictions(run.objects, "train")[rows]
    server = start_server(run)
    try:
        status, body = server.predict({"inputs": [data.test_x[i] for i in rows]})
    finally:
        server.stop()
    assert status == 200, body
    assert body["labels"] == [body["classes"][i] for i in offline.argmax(1)]
    np.testing.assert_allclose(body["probabilities"], offline, atol=1e-5)
    assert np.mean(offline.argmax(1) == data.test_y[rows]) > 0.8  # a trained model, not a constant
