"""`mlspec serve` on a run trained through the real coordinator: a real server process on loopback
answers batches with offline evaluation's predictions, and every bad request with a 4xx and a message."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest

from mlspec.datasets import load_dataset
from tests.serving.conftest import SPEC, Server, TrainedRun, mlspec, offline_predictions, run_spec, start_server


def _dataset(run: TrainedRun, name: str) -> object:
    return load_dataset(run.record["spec"]["datasets"][name], run.workdir / "cache")


def test_the_run_packages_and_checks_a_bundle_per_serve_stage(trained: TrainedRun) -> None:
    for stage in ("serve_reviews", "serve_images"):
        metrics = trained.record["stages"][stage]["metrics"]
        assert metrics["check_agreement"] == 1.0 and metrics["check_examples"] >= 64, metrics
        assert (trained.objects / "serving" / stage / "bundle.json").is_file()
    serve = next(i for i in trained.record["invocations"] if i["stage"] == "serve_reviews")
    assert serve["function"] == "predict" and serve["status"] == "ok"


def test_reviews_batch_gets_offline_evaluations_predictions(trained: TrainedRun, reviews_server: Server) -> None:
    data = _dataset(trained, "reviews")
    texts = list(data.test_x[:64])  # type: ignore[attr-defined]
    status, body = reviews_server.predict({"inputs": texts})
    assert status == 200, body
    offline = offline_predictions(trained.objects, "train_reviews")[:64]
    assert body["classes"] == ["neg", "pos"]
    assert body["labels"] == [body["classes"][i] for i in offline.argmax(1)]
    np.testing.assert_allclose(body["probabilities"], offline, atol=1e-5)
    # The labels scored this way give the evaluate stage's held-out accuracy on the whole split.
    all_labels = []
    for start in range(0, len(data.test_y), 64):  # type: ignore[attr-defined]
        status, body = reviews_server.predict({"inputs": list(data.test_x[start : start + 64])})  # type: ignore[attr-defined]
        all_labels += [body["classes"].index(label) for label in body["labels"]]
    accuracy = float(np.mean(np.array(all_labels) == data.test_y))  # type: ignore[attr-defined]
    assert accuracy == pytest.approx(trained.record["stages"]["eval_reviews"]["metrics"]["test_accuracy"])


def test_images_as_lists_in_either_layout_or_base64_get_offline_predictions(
    trained: TrainedRun, images_server: Server
) -> None:
    images = _dataset(trained, "images").test_x[:20]  # type: ignore[attr-defined]
    offline = offline_predictions(trained.objects, "train_images")[:20]
    expected = [int(i) for i in offline.argmax(1)]
    for inputs in (
        images.tolist(),
        images.transpose(0, 3, 1, 2).tolist(),
        [base64.b64encode(image.tobytes()).decode() for image in images],
    ):
        status, body = images_server.predict({"inputs": inputs})
        assert status == 200, body
        assert [body["classes"].index(label) for label in body["labels"]] == expected
        np.testing.assert_allclose(body["probabilities"], offline, atol=1e-5)


def test_describe_and_health(reviews_server: Server) -> None:
    assert reviews_server.request("GET", "/healthz") == (200, {"status": "ok"})
    status, about = reviews_server.request("GET", "/")
    assert status == 200 and about["stage"] == "serve_reviews" and about["model"] == "logistic_regression"
    assert about["input"]["kind"] == "text" and about["input"]["max_batch"] == 64


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"inputs": ["fine", ', "application/json", 400, "not valid JSON"),
        (b"\xff\xfe", "application/json", 400, "not UTF-8"),
        (b"[" * 10_000 + b"]" * 10_000, "application/json", 400, "nested too deeply"),
        (b'{"inputs": []}', "application/json", 400, '"inputs" is empty'),
        (b'{"texts": ["a"]}', "application/json", 400, "1 unknown field: 'texts'"),
        (b"{}", "application/json", 400, 'missing field "inputs"'),
        (b'["a"]', "application/json", 400, "expected a JSON object"),
        (b'{"inputs": "a review"}', "application/json", 400, '"inputs" must be a list, got a string'),
        (b'{"inputs": ["ok", 3]}', "application/json", 400, "inputs[1]: expected a text (string), got a number"),
        (b'{"inputs": [null]}', "application/json", 400, "inputs[0]: expected a text (string), got null"),
        (json.dumps({"inputs": ["x"] * 65}).encode(), "application/json", 413, "exceed max_batch=64"),
        (json.dumps({"inputs": ["word " * 20_000]}).encode(), "application/json", 413, "exceeds max_request_bytes"),
        (b'{"inputs": ["a"]}', "text/plain", 415, "Content-Type must be application/json"),
    ],
)
def test_bad_reviews_requests_get_4xx_with_a_message(
    reviews_server: Server, body: bytes, content_type: str | None, status: int, message: str
) -> None:
    got, reply = reviews_server.request("POST", "/predict", body, content_type)
    assert got == status and message in reply["error"], (got, reply)


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([[[[0] * 3] * 32] * 31], "inputs[0]: shape 31x32x3, expected 32x32x3 (HxWxC) or 3x32x32 (CxHxW)"),
        ([[[[0] * 3] * 32] * 32, "not an image"], "inputs[1]: not valid base64"),
        ([base64.b64encode(b"\0" * 100).decode()], "base64 decodes to 100 bytes, expected 3072"),
        ([[[["x"] * 3] * 32] * 32], "pixel values must be integers 0-255, got strings"),
        ([[[[True] * 3] * 32] * 32], "got booleans"),
        ([[[[300] * 3] * 32] * 32], "got 300 to 300"),
        ([[[[0.5] * 3] * 32] * 32], "fractional"),
        ([[[0] * 3] * 32 + [[0] * 2]], "not a rectangular array"),
        ([7], "inputs[0]: expected an image (nested lists or base64 string), got a number"),
    ],
)
def test_bad_images_get_400_with_a_message(images_server: Server, inputs: list[object], message: str) -> None:
    status, reply = images_server.predict({"inputs": inputs})
    assert status == 400 and message in reply["error"], (status, reply)


def test_unknown_paths_methods_and_broken_http_get_4xx(reviews_server: Server) -> None:
    status, reply = reviews_server.request("GET", "/nope")
    assert status == 404 and "POST /predict" in reply["error"]
    status, reply = reviews_server.request("GET", "/predict")
    assert status == 405 and "answers POST" in reply["error"]
    status, reply = reviews_server.request("OPTIONS", "/predict")
    assert status == 405
    host, port = urlsplit(reviews_server.url).hostname, urlsplit(reviews_server.url).port
    for raw, status, message in [
        (b"GARBAGE\r\n\r\n", 400, "Bad request syntax"),
        (
            b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: many\r\n\r\n",
            400,
            "Content-Length is not a number",
        ),
        (b"POST /predict HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 415, "got none"),
        (b"POST /predict HTTP/1.1\r\nContent-Type: application/json\r\n\r\n", 411, "Content-Length"),
    ]:
        with socket.create_connection((host, port), timeout=30) as conn:
            conn.sendall(raw)
            reply = b"".join(iter(lambda: conn.recv(65536), b"")).decode()  # the server closes after an error
        assert reply.split()[1] == str(status) and message in reply, reply
    # Still serving after all of the above.
    assert reviews_server.predict({"inputs": ["still here"]})[0] == 200


def test_ctrl_c_stops_the_server_cleanly(trained: TrainedRun) -> None:
    server = start_server(trained, "--stage", "serve_reviews")
    assert server.predict({"inputs": ["one"]})[0] == 200
    code, err = server.stop()
    assert code == 0 and "stopped" in err and "Traceback" not in err


def test_a_train_stage_without_serve_stage_is_packaged_on_the_fly(trained: TrainedRun) -> None:
    server = start_server(trained, "--stage", "train_reviews")
    try:
        texts = list(_dataset(trained, "reviews").test_x[:16])  # type: ignore[attr-defined]
        status, body = server.predict({"inputs": texts})
        offline = offline_predictions(trained.objects, "train_reviews")[:16]
        assert status == 200 and body["labels"] == [body["classes"][i] for i in offline.argmax(1)]
    finally:
        server.stop()
    assert (trained.objects / "serving" / "train_reviews" / "bundle.json").is_file()


def test_cli_errors_are_one_line_without_traceback(trained: TrainedRun, reviews_server: Server, tmp_path: Path) -> None:
    cases = [
        (["nope-run"], "unknown run 'nope-run'"),
        ([trained.run_id], "several serve stages: pick one with --stage (serve_reviews, serve_images)"),
        ([trained.run_id, "--stage", "prep_reviews"], "has no serve or train stage 'prep_reviews'"),
        (
            [trained.run_id, "--stage", "serve_reviews", "--port", str(urlsplit(reviews_server.url).port)],
            "is in use: pick another with --port",
        ),
    ]
    for args, message in cases:
        proc = mlspec("serve", *args, "--runs-dir", str(trained.runs_dir), cwd=trained.workdir, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_a_run_without_a_model_is_refused(tmp_path: Path) -> None:
    untrained = run_spec(tmp_path, SPEC.split("  train_reviews:")[0])  # the preprocess stage only
    proc = mlspec("serve", untrained.run_id, "--runs-dir", str(untrained.runs_dir), cwd=tmp_path, timeout=120)
    assert proc.returncode == 2 and "trained no model" in proc.stderr, proc.stderr
