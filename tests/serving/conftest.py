"""A small trained run with a serve stage per task, and `mlspec serve` subprocesses on free ports."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SPEC = """
name: served
seed: 0
datasets:
  reviews: {format: imdb, synthetic: {train_size: 600, test_size: 200, seed: 0}}
  images: {format: cifar10, synthetic: {train_size: 200, test_size: 100, seed: 0}}
stages:
  prep_reviews: {kind: preprocess, dataset: reviews, max_features: 5000}
  train_reviews: {kind: train, data: prep_reviews, model: logistic_regression, epochs: 2}
  eval_reviews: {kind: evaluate, model: train_reviews}
  serve_reviews: {kind: serve, model: train_reviews, max_batch: 64, max_request_bytes: 65536}
  prep_images: {kind: preprocess, dataset: images}
  train_images: {kind: train, data: prep_images, model: small_cnn, epochs: 1, batch_size: 50}
  eval_images: {kind: evaluate, model: train_images}
  serve_images: {kind: serve, model: train_images}
"""


def mlspec(*args: str, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@dataclass(frozen=True)
class TrainedRun:
    workdir: Path
    runs_dir: Path
    record: dict[str, Any]

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def objects(self) -> Path:
        return self.runs_dir / self.run_id / "objects"


def run_spec(workdir: Path, spec: str, *overrides: str) -> TrainedRun:
    (workdir / "pipeline.yaml").write_text(spec)
    args = ["run", "pipeline.yaml", "--json", "--runs-dir", "runs"]
    for override in overrides:
        args += ["--set", override]
    proc = mlspec(*args, cwd=workdir, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return TrainedRun(workdir, workdir / "runs", json.loads(proc.stdout))


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return run_spec(tmp_path_factory.mktemp("served"), SPEC)


def offline_predictions(objects: Path, train_stage: str) -> np.ndarray:
    """Class probabilities on the stored test features, computed exactly as the evaluate stage does."""
    from mlspec.models import build_model
    from mlspec.storage.codec import unpack, unpack_xy

    spec = json.loads((objects / "models" / train_stage / "model.json").read_text())
    meta = json.loads((objects / spec["data"] / "meta.json").read_text())
    model = build_model(spec["model"], spec["options"], meta, seed=0)
    model.set_params(unpack((objects / "models" / train_stage / "model.npz").read_bytes())["params"])
    x, _ = unpack_xy((objects / spec["data"] / "test.npz").read_bytes())
    return np.asarray(model.predict_proba(x))


class Server:
    """A running `mlspec serve` subprocess."""

    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = "application/json"
    ) -> tuple[int, dict[str, Any]]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        if content_type:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def predict(self, payload: Any) -> tuple[int, dict[str, Any]]:
        return self.request("POST", "/predict", json.dumps(payload).encode())

    def stop(self) -> tuple[int, str]:
        """Ctrl-C; returns the exit status and stderr."""
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, err


def start_server(run: TrainedRun, *args: str) -> Server:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlspec", "serve", run.run_id, "--runs-dir", str(run.runs_dir), "--port", "0", *args],
        cwd=run.workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return Server(proc, match.group(1))
    _, err = proc.communicate(timeout=30)
    raise AssertionError(f"mlspec serve exited {proc.returncode} without listening: {err[-3000:]}")


@pytest.fixture(scope="session")
def reviews_server(trained: TrainedRun) -> Iterator[Server]:
    server = start_server(trained, "--stage", "serve_reviews")
    yield server
    if server.proc.poll() is None:
        server.stop()


@pytest.fixture(scope="session")
def images_server(trained: TrainedRun) -> Iterator[Server]:
    server = start_server(trained, "--stage", "serve_images")
    yield server
    if server.proc.poll() is None:
        server.stop()
