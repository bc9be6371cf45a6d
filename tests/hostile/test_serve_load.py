"""`mlspec serve` under hostile load, against a real server process on loopback: many clients at once,
slow clients, ambiguous framing, clients that go away, and the example it prints."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from mlspec.serving.http import QUEUE_PER_WORKER
from tests.conftest import wait_until
from tests.serving.conftest import Server, TrainedRun, run_spec, start_server

CLIENTS = 200
SPEC = """
name: hostile
seed: 0
datasets:
  reviews: {format: imdb, synthetic: {train_size: 200, test_size: 64, seed: 0}}
  images: {format: cifar10, synthetic: {train_size: 100, test_size: 64, seed: 0}}
stages:
  prep_reviews: {kind: preprocess, dataset: reviews, max_features: 2000}
  train_reviews: {kind: train, data: prep_reviews, model: logistic_regression, epochs: 1}
  serve_reviews: {kind: serve, model: train_reviews}
  prep_images: {kind: preprocess, dataset: images}
  train_images: {kind: train, data: prep_images, model: small_cnn, epochs: 1, batch_size: 50}
  serve_images: {kind: serve, model: train_images}
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedRun:
    return run_spec(tmp_path_factory.mktemp("hostile-serve"), SPEC)


@pytest.fixture(scope="module")
def shared_server(trained: TrainedRun) -> Iterator[Server]:
    """A reviews server for the tests that do not stop it or need other options."""
    started = start_server(trained, "--stage", "serve_reviews")
    yield started
    if started.proc.poll() is None:
        started.stop()


@pytest.fixture()
def server(trained: TrainedRun, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A reviews server of the test's own; `@pytest.mark.parametrize("server", [[ARGS...]], indirect=True)`
    adds arguments."""
    started = start_server(trained, "--stage", "serve_reviews", *getattr(request, "param", []))
    yield started
    if started.proc.poll() is None:
        started.stop()


def _connect(server: Server) -> socket.socket:
    url = urlsplit(server.url)
    return socket.create_connection((url.hostname, url.port), timeout=60)


def _read_reply(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    reply = b""
    while chunk := sock.recv(65536):
        reply += chunk
    return reply


def test_200_clients_at_once_all_get_an_answer(shared_server: Server) -> None:
    start = threading.Barrier(CLIENTS)

    def client(i: int) -> int | str:
        start.wait(timeout=120)  # every client connects at the same moment
        try:
            status, body = shared_server.predict({"inputs": [f"review number {i}: a wonderful, moving film"]})
        except OSError as exc:  # no answer within the client's 60 s, or refused
            return f"{type(exc).__name__}: {exc}"
        return status if len(body.get("labels", [])) == 1 else str(body)

    with ThreadPoolExecutor(CLIENTS) as pool:
        outcomes = list(pool.map(client, range(CLIENTS)))
    failed = [o for o in outcomes if o != 200]
    assert not failed, f"{len(failed)} of {CLIENTS} clients got no 200: {failed[:5]}"


@pytest.mark.parametrize("server", [["--workers", "1"]], indirect=True)
def test_connections_beyond_the_queue_get_503_at_once(server: Server) -> None:
    """One handler thread, held by a kept-alive client, and QUEUE_PER_WORKER connections waiting behind it:
    the connections after those are answered 503 at once, not left hanging."""
    extra = 6
    # The first client's answered request proves the only handler thread holds it (kept alive, waiting for
    # the next request), however slowly the machine ran: the queue then starts empty and fills in order.
    holder = _connect(server)
    holder.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head or not head.rstrip().endswith(b"}"):
        head += holder.recv(65536)
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head, head
    silent = [holder] + [_connect(server) for _ in range(QUEUE_PER_WORKER + extra)]
    with selectors.DefaultSelector() as selector:
        for i, sock in enumerate(silent[1:], start=1):
            selector.register(sock, selectors.EVENT_READ, i)
        answered: dict[int, bytes] = {}
        for _ in range(100):  # until the refused ones have answers; 50 s at most
            for key, _ in selector.select(timeout=0.5):
                answered[key.data] = _read_reply(silent[key.data])
                selector.unregister(silent[key.data])
            if len(answered) >= extra:
                break
    refused = sorted(answered)
    assert refused == list(range(1 + QUEUE_PER_WORKER, 1 + QUEUE_PER_WORKER + extra)), refused
    for reply in answered.values():
        assert reply.startswith(b"HTTP/1.1 503 Service Unavailable\r\n") and b"the server is busy" in reply, reply
    for sock in silent:
        sock.close()
    # The waiting ones are let go: once the thread has drained the closed connections, it answers again.
    wait_until(lambda: server.request("GET", "/healthz") == (200, {"status": "ok"}), 60, "the server answers 200")


# Part of a request, then one byte every 0.2 s: never idle long enough for a per-read timeout.
SLOW_STARTS = {
    "body": (
        b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        b'{"inputs": ["',
        b"a",
    ),
    "headers": (b"POST /predict HTTP/1.1\r\nHost: x\r\nX-Slow: ", b"a"),
}


@pytest.mark.parametrize("server", [["--request-timeout", "2", "--workers", "2"]], indirect=True)
@pytest.mark.parametrize("part", sorted(SLOW_STARTS))
def test_a_client_dribbling_its_request_gets_408_and_others_are_answered(server: Server, part: str) -> None:
    start, drip = SLOW_STARTS[part]
    slow = _connect(server)
    slow.sendall(start)
    # While the slow client holds a handler thread, the other one answers everybody else.
    assert [server.request("GET", "/healthz")[0] for _ in range(5)] == [200] * 5
    slow.settimeout(0.2)
    reply = b""
    for _ in range(100):  # 20 s at most, ten times the deadline
        try:
            slow.sendall(drip)
            reply = slow.recv(65536)
        except TimeoutError:
            continue
        except ConnectionError:  # closed by the server after its answer
            break
        if reply:
            # The headers and the body may arrive apart (a busy machine): read on until the server closes.
            slow.settimeout(30)
            with contextlib.suppress(ConnectionError):
                reply += _read_reply(slow)
            break
    slow.close()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", reply[:300]
    assert b"did not arrive whole within 2 s" in rest
    assert server.request("GET", "/healthz") == (200, {"status": "ok"})


BODY = b'{"inputs": ["fine"]}'


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ([f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY) + 5}"], "2 Content-Length headers"),
        ([f"Content-Length: {len(BODY)}", f"Content-Length: {len(BODY)}"], "2 Content-Length headers"),
        ([f"Content-Length: {len(BODY)}", "Transfer-Encoding: identity"], "both Transfer-Encoding and Content-Length"),
        ([f"Content-Length: {len(BODY)}", "Transfer-Encoding: chunked"], "both Transfer-Encoding and Content-Length"),
        ([f"Content-Length: +{len(BODY)}"], "Content-Length is not a number"),
    ],
)
def test_ambiguous_body_framing_gets_400(shared_server: Server, headers: list[str], message: str) -> None:
    sock = _connect(shared_server)
    head = "\r\n".join(["POST /predict HTTP/1.1", "Host: x", "Content-Type: application/json", *headers])
    sock.sendall(head.encode() + b"\r\n\r\n" + BODY)
    reply = _read_reply(sock)
    sock.close()
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 400 Bad Request", reply[:300]
    assert message in json.loads(rest.partition(b"\r\n\r\n")[2])["error"]


def test_clients_that_go_away_mid_answer_leave_no_traceback(server: Server) -> None:
    """Each client pipelines many requests, never reads an answer, and resets the connection: the server
    meets the reset while answering. It counts such clients and says so when it stops, quietly."""
    requests = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3000
    for _ in range(5):
        sock = _connect(server)
        sock.sendall(requests)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = reset
        sock.close()
    assert server.request("GET", "/healthz") == (200, {"status": "ok"})
    status, err = server.stop()
    assert status == 0 and "Traceback" not in err and "Error" not in err, err[-3000:]
    assert "went away before their answer" in err, err


@pytest.mark.parametrize("stage", ["serve_reviews", "serve_images"])
def test_the_printed_curl_example_is_answered(trained: TrainedRun, stage: str, tmp_path: Path) -> None:
    started = start_server(trained, "--stage", stage)
    try:
        assert started.proc.stdout is not None
        line = started.proc.stdout.readline()
        assert line.startswith("try: curl "), line
        proc = subprocess.run(
            ["bash", "-c", line.removeprefix("try: ").rstrip("\n") + " -w '\\n%{http_code}'"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
    finally:
        started.stop()
    body, _, status = proc.stdout.rpartition("\n")
    assert (proc.returncode, status) == (0, "200"), (proc.stdout[-500:], proc.stderr[-500:])
    answer = json.loads(body)
    assert len(answer["labels"]) == 1 and answer["labels"][0] in answer["classes"]
