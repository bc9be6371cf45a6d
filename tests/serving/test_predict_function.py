"""The serve stage in the graph, in build contexts, and its `predict` function called as a platform
shim calls it: `invoke(event)` with `inputs`."""

from __future__ import annotations

import numpy as np
import pytest

from mlspec import spec as spec_module
from mlspec.compile import graph
from mlspec.compile.build import render_context
from mlspec.datasets import load_dataset
from mlspec.errors import SpecError
from mlspec.runtime import invoke
from mlspec.serving.inputs import InputError
from mlspec.spec.targets import LocalTarget
from tests.serving.conftest import SPEC, TrainedRun, offline_predictions


def test_serve_stage_becomes_one_predict_function_after_its_model() -> None:
    functions = graph(spec_module.load_text(SPEC))
    node = functions.node("serve_reviews")
    assert (node.function, node.fan_out, node.after) == ("predict", 1, ("train_reviews",))
    assert node.requirements == ("scipy",)
    assert functions.node("serve_images").requirements == ("torch",)
    assert node.config["output"] == "serving/serve_reviews" and node.config["max_batch"] == 64
    order = [n.stage for n in functions.nodes]
    assert order.index("serve_reviews") > order.index("train_reviews")


def test_serve_must_name_a_train_stage() -> None:
    with pytest.raises(SpecError, match=r"preprocess stage; serve\.model needs train"):
        spec_module.load_text(
            SPEC.replace(
                "serve_reviews: {kind: serve, model: train_reviews", "serve_reviews: {kind: serve, model: prep_reviews"
            )
        )


def test_build_renders_a_context_for_the_serve_stage() -> None:
    pipeline = spec_module.load_text(SPEC)
    context = render_context(pipeline, graph(pipeline).node("serve_reviews"), "local", LocalTarget())
    assert context.function == "predict" and "scipy==" in context.files["requirements.txt"].decode()
    assert b'"function": "predict"' in context.files["function.json"]


def test_invoke_with_inputs_answers_like_offline_evaluation(trained: TrainedRun) -> None:
    node = graph(spec_module.load_text(SPEC)).node("serve_reviews")
    texts = list(load_dataset(trained.record["spec"]["datasets"]["reviews"], trained.workdir / "cache").test_x[:8])
    event = {**node.config, "function": "predict", "object_store": {"kind": "local", "root": str(trained.objects)}}
    result = invoke({**event, "inputs": texts})
    offline = offline_predictions(trained.objects, "train_reviews")[:8]
    assert result["labels"] == [result["classes"][i] for i in offline.argmax(1)]
    np.testing.assert_allclose(result["probabilities"], offline, atol=1e-5)
    with pytest.raises(InputError, match="inputs\\[0\\]: expected a text"):
        invoke({**event, "inputs": [1]})
