"""`mlspec serve` under load: requests/s and p50/p99 latency of POST /predict on loopback, driven from a
second process (N keep-alive connections, each sending its next request when the last is answered, for a
fixed time), for batches of 1 and 32 inputs. Baseline, measured in the same run: the same predictor
called in-process (JSON request decoding, validation and prediction, no HTTP), one call at a time; the
ratio is HTTP requests/s over in-process calls/s. The model is trained first, through `mlspec run`, on the
synthetic IMDb twin (and, without --quick, the synthetic CIFAR-10 twin). All figures measured."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 32)
CONNECTIONS = 4
SECONDS = {True: 2.5, False: 10.0}  # load per (task, batch size); the baseline gets the same
SPEC = """
name: bench-serve
datasets:
  reviews: {format: imdb, synthetic: {train_size: 2000, test_size: 200, seed: 0}}
  images: {format: cifar10, synthetic: {train_size: 300, test_size: 100, seed: 0}}
stages:
  prep_reviews: {kind: preprocess, dataset: reviews, max_features: 20000}
  train_reviews: {kind: train, data: prep_reviews, model: logistic_regression, epochs: 2}
  serve_reviews: {kind: serve, model: train_reviews}
"""
IMAGE_STAGES = """
  prep_images: {kind: preprocess, dataset: images}
  train_images: {kind: train, data: prep_images, model: small_cnn, epochs: 1, batch_size: 50}
  serve_images: {kind: serve, model: train_images}
"""


def _train(workdir: Path, images: bool) -> str:
    (workdir / "pipeline.yaml").write_text(SPEC + (IMAGE_STAGES if images else ""))
    proc = subprocess.run(
        [sys.executable, "-m", "mlspec", "run", "pipeline.yaml", "--json", "--runs-dir", "runs"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"mlspec run failed: {proc.stderr[-500:]}")
    return str(json.loads(proc.stdout)["run_id"])


def _inputs(workdir: Path, run_id: str, task: str, batch: int) -> list[Any]:
    """Held-out inputs as a client sends them: review texts, or images as nested lists."""
    from mlspec.datasets import load_dataset

    spec = json.loads((workdir / "runs" / run_id / "spec.json").read_text())
    data = load_dataset(spec["datasets"][task], workdir / "cache")
    raw = data.test_x[:batch]
    return raw.tolist() if isinstance(raw, np.ndarray) else list(raw)


def _client(host: str, port: int, body: bytes, stop_at: float, latencies: list[float], errors: list[str]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=60)
    headers = {"Content-Type": "application/json"}
    while time.perf_counter() < stop_at:
        start = time.perf_counter()
        conn.request("POST", "/predict", body, headers)
        response = conn.getresponse()
        response_body = response.read()
        if response.status != 200:
            errors.append(f"{response.status} {response_body[:200]!r}")
            return
        latencies.append(time.perf_counter() - start)
    conn.close()


def _load(url: str, body: bytes, seconds: float, connections: int, out: Any) -> None:
    """The load generator (its own process): `connections` clients for `seconds`; sends back latencies."""
    parts = urlsplit(url)
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors: list[str] = []
    stop_at = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=_client, args=(parts.hostname, parts.port, body, stop_at, lat, errors))
        for lat in latencies
    ]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(
        {"latencies": [x for lat in latencies for x in lat], "wall_s": time.perf_counter() - started, "errors": errors}
    )


def _http(url: str, body: bytes, seconds: float) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    process = ctx.Process(target=_load, args=(url, body, seconds, CONNECTIONS, queue))
    process.start()
    result = queue.get(timeout=seconds + 120)
    process.join()
    if result["errors"]:
        raise RuntimeError(f"requests failed: {result['errors'][0]}")
    lat = np.array(result["latencies"]) * 1000
    return {
        "requests_per_s": len(lat) / result["wall_s"],
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
        "requests": float(len(lat)),
    }


def _in_process(predictor: Any, body: bytes, seconds: float) -> float:
    """Calls per second of decoding + validating + predicting one request body, without HTTP."""
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        predictor.predict(json.loads(body))
        calls += 1
    return calls / (time.perf_counter() - start)


def _serve(workdir: Path, run_id: str, stage: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlspec", "serve", run_id, "--runs-dir", "runs", "--port", "0", "--stage", stage],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return proc, match.group(1)
    raise RuntimeError(f"mlspec serve did not start: {proc.communicate(timeout=30)[1][-500:]}")


def _task(workdir: Path, run_id: str, task: str, quick: bool, verbose: bool) -> list[dict[str, Any]]:
    from mlspec.records import RunDir
    from mlspec.serving.bundle import load_bundle
    from mlspec.serving.predictor import Predictor
    from mlspec.storage import open_object_store

    stage = f"serve_{task}"
    objects = open_object_store({"kind": "local", "root": str(RunDir(workdir / "runs", run_id).objects)})
    predictor = Predictor(load_bundle(objects, f"serving/{stage}"))
    server, url = _serve(workdir, run_id, stage)
    rows = []
    try:
        for batch in BATCHES:
            body = json.dumps({"inputs": _inputs(workdir, run_id, task, batch)}).encode()
            http_figures = _http(url, body, SECONDS[quick])
            baseline = _in_process(predictor, body, SECONDS[quick])
            row = {
                "task": task,
                "batch": batch,
                "body_bytes": len(body),
                **http_figures,
                "inputs_per_s": http_figures["requests_per_s"] * batch,
                "in_process_calls_per_s": baseline,
                "ratio": http_figures["requests_per_s"] / baseline,
            }
            rows.append(row)
            if verbose:
                print(
                    f"  {task:8} batch {batch:3d}: {row['requests_per_s']:8.1f} req/s ({row['inputs_per_s']:8.1f} "
                    f"inputs/s), p50 {row['p50_ms']:7.2f} ms, p99 {row['p99_ms']:7.2f} ms | in-process "
                    f"{baseline:8.1f} calls/s, ratio {row['ratio']:.2f}  (measured)"
                )
    finally:
        # SIGTERM, as a service manager stops it: a benchmark started by a shell without job control (`cmd &`)
        # passes SIGINT on ignored, and the server would never see a Ctrl-C.
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=30)
    return rows


def run(quick: bool = False, verbose: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    tasks = ("reviews",) if quick else ("reviews", "images")
    if verbose:
        mode = " [quick]" if quick else ""
        print(
            f"serve: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; {CONNECTIONS} "
            f"connections from a second process, {SECONDS[quick]:g} s per figure{mode}"
        )
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        workdir = Path(tmp)
        train_started = time.perf_counter()
        run_id = _train(workdir, images=not quick)
        if verbose:
            print(f"  trained {', '.join(tasks)} in {time.perf_counter() - train_started:.1f} s (measured)")
        rows = [row for task in tasks for row in _task(workdir, run_id, task, quick, verbose)]
    return {
        "quick": quick,
        "cpus": os.cpu_count(),
        "connections": CONNECTIONS,
        "seconds_per_figure": SECONDS[quick],
        "figures": rows,
        "seconds": time.perf_counter() - started,
    }
