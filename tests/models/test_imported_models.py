"""Models users bring by import path, through the CLI as a user runs them: a torch module from a file beside
the spec and from an installed package, a scikit-learn estimator, each through model averaging (and the torch
module through gradient averaging), evaluate and serve; the file's source travels with the stage (the cache
key follows it); broken user code is one line naming the user's file, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlspec import spec as spec_module
from mlspec.compile import graph

NETS = """\
import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 16) -> None:
        super().__init__()
        features = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(4), nn.Flatten()]
        self.body = nn.Sequential(*features, nn.Linear(width * 64, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
"""

SPEC = """\
name: byo
seed: 0
datasets:
  images: {format: cifar10, synthetic: {train_size: 600, test_size: 200, seed: 0}}
  reviews: {format: imdb, synthetic: {train_size: 600, test_size: 200, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: images}
  averaged: {kind: train, data: prep, model: "nets.py:TinyNet", model_options: {width: 8}, workers: 2, epochs: 3,
             batch_size: 32, learning_rate: 0.02}
  eval_averaged: {kind: evaluate, model: averaged}
  serve_averaged: {kind: serve, model: averaged}
  gradients: {kind: train, data: prep, model: "nets.py:TinyNet", workers: 2, epochs: 3, batch_size: 32,
              learning_rate: 0.02, algorithm: gradient_averaging}
  packaged: {kind: train, data: prep, model: "mlspec_test_nets.nets:TinyNet", workers: 2, epochs: 3,
             batch_size: 32, learning_rate: 0.02}
  prep_text: {kind: preprocess, dataset: reviews, max_features: 2000}
  sgd: {kind: train, data: prep_text, model: "sklearn.linear_model:SGDClassifier",
        model_options: {loss: log_loss, alpha: 0.0001}, workers: 2, epochs: 3}
  eval_sgd: {kind: evaluate, model: sgd}
  serve_sgd: {kind: serve, model: sgd}
"""


def mlspec(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mlspec", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=600
    )


def package_env(root: Path) -> dict[str, str]:
    """An installed-like package `mlspec_test_nets` with the same network, on PYTHONPATH."""
    package = root / "site" / "mlspec_test_nets"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "nets.py").write_text(NETS)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "site"), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture(scope="module")
def brought(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("byo")
    project = root / "project"
    project.mkdir()
    (project / "nets.py").write_text(NETS)
    (project / "byo.yaml").write_text(SPEC)
    elsewhere = root / "elsewhere"  # run from another folder: the file is found beside the spec
    elsewhere.mkdir()
    done = mlspec(
        "run",
        str(project / "byo.yaml"),
        "--json",
        "--runs-dir",
        str(root / "runs"),
        cwd=elsewhere,
        env=package_env(root),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    record: dict[str, Any] = json.loads(done.stdout)
    return record


@pytest.mark.parametrize("stage", ["averaged", "gradients", "packaged", "sgd"])
def test_brought_models_train_through_the_stores(brought: dict[str, Any], stage: str) -> None:
    metrics = brought["stages"][stage]["metrics"]
    chance = 0.1 if stage != "sgd" else 0.5
    assert metrics["test_accuracy"] > chance + 0.05  # learned something on the held-out split
    workers = [i for i in brought["invocations"] if i["stage"] == stage]
    assert len(workers) == 2 and all(i["io"]["param_bytes_written"] > 0 for i in workers)


def test_evaluate_and_serve_load_the_brought_model(brought: dict[str, Any]) -> None:
    for trained, evaluated, served in (
        ("averaged", "eval_averaged", "serve_averaged"),
        ("sgd", "eval_sgd", "serve_sgd"),
    ):
        accuracy = brought["stages"][trained]["metrics"]["test_accuracy"]
        assert brought["stages"][evaluated]["metrics"]["test_accuracy"] == pytest.approx(accuracy)
        assert brought["stages"][served]["status"] == "succeeded"


def test_the_source_travels_with_the_stage_and_its_key_follows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package_env(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    (tmp_path / "nets.py").write_text(NETS)
    (tmp_path / "byo.yaml").write_text(SPEC)
    first = spec_module.load(tmp_path / "byo.yaml")
    code = first.stages["averaged"].user_code["model"]
    assert code is not None and code.name == "nets.py" and code.source == NETS
    node = next(n for n in graph(first).nodes if n.stage == "averaged")
    assert node.config["options"]["code"]["model"]["sha256"] == code.sha256 and node.requirements[0] == "torch"
    (tmp_path / "nets.py").write_text(NETS.replace("width: int = 16", "width: int = 12"))
    changed = next(n for n in graph(spec_module.load(tmp_path / "byo.yaml")).nodes if n.stage == "averaged")
    assert changed.config != node.config  # so the stage cache's key changes with the file
    sgd = next(n for n in graph(first).nodes if n.stage == "sgd")
    assert "code" not in sgd.config["options"] and sgd.requirements[0] == "scikit-learn"


ONE_STAGE = """\
name: broken
datasets:
  images: {format: cifar10, synthetic: {train_size: 200, test_size: 50, seed: 0}}
stages:
  prep: {kind: preprocess, dataset: images}
  train: {kind: train, data: prep, model: "nets.py:TinyNet", epochs: 1}
"""


@pytest.mark.parametrize(
    ("source", "model", "expected"),
    [
        ("import torch\nclass TinyNet(torch.nn.Module:\n    pass\n", "nets.py:TinyNet", "nets.py:2: SyntaxError"),
        (NETS, "missing.py:TinyNet", "missing.py: no such file"),
        (NETS, "mlspec_no_such_package.nets:TinyNet", "package 'mlspec_no_such_package' is not installed"),
    ],
    ids=["syntax", "missing-file", "missing-package"],
)
def test_broken_code_found_before_anything_runs(tmp_path: Path, source: str, model: str, expected: str) -> None:
    (tmp_path / "nets.py").write_text(source)
    (tmp_path / "broken.yaml").write_text(ONE_STAGE.replace("nets.py:TinyNet", model))
    done = mlspec("validate", "broken.yaml", cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("broken.yaml:6:") and expected in line


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch\nimport mlspec_no_such_module\n", "nets.py:2: ModuleNotFoundError: No module named"),
        (NETS.replace("nn.Linear(width * 64, num_classes)", "nn.Linear(width * 64, 7)"), "returned shape (32, 7)"),
        (NETS.replace("return self.body(x)", "return self.body(x.flatten(1))"), "nets.py:12: RuntimeError"),
    ],
    ids=["import", "output-shape", "first-batch"],
)
def test_broken_code_fails_the_run_in_one_line_naming_the_file(tmp_path: Path, source: str, expected: str) -> None:
    (tmp_path / "nets.py").write_text(source)
    (tmp_path / "broken.yaml").write_text(ONE_STAGE.replace("epochs: 1", "epochs: 1, batch_size: 32"))
    done = mlspec("run", "broken.yaml", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    error = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and expected in error[0] and "Traceback" not in done.stderr
    # --debug: where the user's code raised, in the user's file names, and none of mlspec's frames.
    debug = mlspec("run", "broken.yaml", "--debug", "--runs-dir", str(tmp_path / "debug"), cwd=tmp_path).stderr
    shown = debug[debug.index("traceback of train.train_worker:") : debug.index("error:")]
    assert "mlspec/" not in shown and expected.split(": ")[-1] in shown
    assert ('File "nets.py", line' in shown) == (expected.startswith("nets.py:"))  # frames only where it raised
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]
    assert record["stages"]["train"]["retries"] == 0  # the same code would fail the same way


def test_the_worked_examples_validate(repo: Path) -> None:
    for example in ("cifar10-resnet", "imdb-sgd"):
        done = mlspec("validate", f"examples/{example}/pipeline.yaml", cwd=repo)
        assert done.returncode == 0, done.stderr
    loaded = spec_module.load(repo / "examples" / "cifar10-resnet" / "pipeline.yaml")
    code = loaded.stages["train"].user_code["model"]
    assert code is not None and code.source == (repo / "examples" / "cifar10-resnet" / "nets.py").read_text()
    text = spec_module.load(repo / "examples" / "imdb-sgd" / "pipeline.yaml").stages["prep"].user_code["transform"]
    assert text.source == (repo / "examples" / "imdb-sgd" / "text.py").read_text()


UNSEEDED = NETS.replace(
    "        self.body = nn.Sequential(*features, nn.Linear(width * 64, num_classes))",
    "        self.body = nn.Sequential(*features, nn.Linear(width * 64, num_classes))\n"
    "        import numpy\n"
    "        head = self.body[-1].weight\n"
    "        head.data = torch.from_numpy(numpy.random.default_rng().normal(size=tuple(head.shape))).float()",
)


def test_workers_starting_from_different_parameters_are_stopped_before_averaging(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(UNSEEDED)
    (tmp_path / "broken.yaml").write_text(ONE_STAGE.replace("epochs: 1", "epochs: 1, workers: 2, batch_size: 32"))
    done = mlspec("run", "broken.yaml", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 2, done.stderr[-2000:]
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "the initial parameters of worker 1 differ from worker 0's" in error
    [record] = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*/record.json")]
    assert not record["stages"]["train"]["history"]  # stopped before any epoch was averaged


def test_requirements_reach_the_functions_and_a_missing_one_stops_the_run_before_it_starts(tmp_path: Path) -> None:
    (tmp_path / "nets.py").write_text(NETS)
    text = "requirements: [numpy]\n" + ONE_STAGE.replace("epochs: 1", "epochs: 1, requirements: [mlspec-no-such-dist]")
    (tmp_path / "needs.yaml").write_text(text)
    nodes = {n.stage: n for n in graph(spec_module.load(tmp_path / "needs.yaml")).nodes}
    assert nodes["train"].requirements == ("torch", "scipy", "numpy", "mlspec-no-such-dist")  # what its images get
    assert "numpy" in nodes["prep"].requirements and "mlspec-no-such-dist" not in nodes["prep"].requirements
    done = mlspec("run", "needs.yaml", "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: stage 'train' needs 'mlspec-no-such-dist': not installed here (pip install mlspec-no-such-dist)"
    )
    assert not (tmp_path / "runs").exists()  # refused before a run directory was made
    doctor = mlspec("doctor", "--spec", "needs.yaml", cwd=tmp_path).stdout.splitlines()
    assert any(
        line.split()
        == ["missing", "package", "mlspec-no-such-dist", "pip", "install", "mlspec-no-such-dist", "(stages", "train)"]
        for line in doctor
    )
    assert any(line.startswith("ok") and "package numpy" in line and "stages prep, train" in line for line in doctor)
