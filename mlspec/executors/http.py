"""What the cloud executors share: running a group's invocations all at once on a remote platform,
the records of remote invocations, and invoking a function by an HTTP POST of its event (Cloud Run
services, Azure Functions).

A remote platform reports no CPU time and, over HTTP, no peak memory: those fields are None in the
records ("not reported"), never 0.0, which would read like a measurement."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from mlspec.errors import one_line
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback, identity
from mlspec.records import InvocationRecord
from mlspec.records.model import InvocationStatus
from mlspec.wording import plural

CACHE_DIR = "/tmp/mlspec-cache"  # the only writable directory on Lambda, Cloud Run and Azure Functions
THROTTLE_DELAYS_S = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
CONNECT_TIMEOUT_S = 10.0
MAX_MESSAGE = 300  # an error page from a front end can be a whole HTML document
# Response headers that name the request in the platform's logs.
REQUEST_ID_HEADERS = ("X-Cloud-Trace-Context", "x-ms-request-id", "Request-Context")


def short(text: object) -> str:
    return one_line(text)[:MAX_MESSAGE]


def failed(
    target: str,
    inv: Invocation,
    limits: Limits,
    started: float,
    status: InvocationStatus,
    error: str,
    request_id: str | None = None,
) -> Outcome:
    record = InvocationRecord(
        **identity(inv),
        target=target,
        started_at=started,
        wall_s=time.time() - started,
        cpu_s=None,
        peak_rss_mb=None,
        cold_start=False,
        status=status,
        error=error,
        memory_limit_mb=limits.memory_mb,
        time_limit_s=limits.timeout_s,
        request_id=request_id,
    )
    return Outcome(record, None)


def succeeded(
    target: str,
    inv: Invocation,
    limits: Limits,
    started: float,
    wall_s: float,
    result: dict[str, Any] | None,
    request_id: str | None,
) -> Outcome:
    record = InvocationRecord(
        **identity(inv),
        target=target,
        started_at=started,
        wall_s=wall_s,
        cpu_s=None,
        peak_rss_mb=None,
        cold_start=False,
        status="ok",
        memory_limit_mb=limits.memory_mb,
        time_limit_s=limits.timeout_s,
        io=(result or {}).get("io", {}),
        metrics=(result or {}).get("metrics", {}),
        request_id=request_id,
    )
    return Outcome(record, result)


def run_at_once(
    target: str, invocations: list[Invocation], limits: Limits, run_one: Callable[[Invocation], Outcome]
) -> list[Outcome]:
    """All of a group at once, one thread each; when one fails the others are abandoned (they run on
    until their own time limit on the platform: a remote invocation cannot be recalled)."""
    finished: queue.Queue[tuple[int, Outcome]] = queue.Queue()

    def worker(index: int, inv: Invocation) -> None:
        try:
            outcome = run_one(inv)
        except Exception as exc:  # an unexpected reply must not leave the group waiting for ever
            outcome = failed(target, inv, limits, time.time(), "error", f"{type(exc).__name__}: {short(exc)}")
        finished.put((index, outcome))

    # Daemon threads: an abandoned invocation must not keep the process alive until the platform answers.
    for index, inv in enumerate(invocations):
        threading.Thread(target=worker, args=(index, inv), daemon=True).start()
    outcomes: dict[int, Outcome] = {}
    while len(outcomes) < len(invocations):
        index, outcome = finished.get()
        outcomes[index] = outcome
        if outcome.record.status != "ok":
            message = f"abandoned because {invocations[index].id} failed (it runs on until its time limit)"
            for other, inv in enumerate(invocations):
                if other not in outcomes:
                    outcomes[other] = failed(target, inv, limits, time.time(), "killed", message)
    return [outcomes[i] for i in range(len(invocations))]


@dataclass(frozen=True)
class HttpEndpoint:
    url: str
    headers: dict[str, str]  # the credential (bearer token or function key): sent, never recorded


def post_one(
    target: str,
    session: Any,
    endpoint: HttpEndpoint,
    inv: Invocation,
    limits: Limits,
    on_progress: ProgressCallback,
    sleep: Callable[[float], None],
) -> Outcome:
    """POST the event; 429 and 503 (no instance free yet) are retried with backoff. wall_s is the
    round trip measured here: the response carries no billed duration."""
    import requests

    started = time.time()
    payload = json.dumps({**inv.event, "cache_dir": CACHE_DIR}, default=float)
    on_progress(inv.id, {"phase": f"invoking on {target}"})
    for attempt, delay in enumerate((*THROTTLE_DELAYS_S, None), start=1):
        try:
            reply = session.post(
                endpoint.url,
                data=payload,
                timeout=(CONNECT_TIMEOUT_S, limits.timeout_s + 30),
                headers={**endpoint.headers, "Content-Type": "application/json"},
            )
        except requests.Timeout:
            return failed(target, inv, limits, started, "timeout", f"no answer within {limits.timeout_s:g} s")
        except requests.RequestException as exc:
            return failed(target, inv, limits, started, "error", f"{type(exc).__name__}: {short(exc)}")
        if reply.status_code not in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE):
            break
        if delay is None:
            throttled = f"throttled (HTTP {reply.status_code}) {plural(attempt, 'time')}"
            return failed(target, inv, limits, started, "error", throttled)
        on_progress(inv.id, {"phase": f"throttled (HTTP {reply.status_code}); retry {attempt} in {delay:g} s"})
        sleep(delay)
    wall_s = time.time() - started
    request_id = next((reply.headers[h] for h in REQUEST_ID_HEADERS if h in reply.headers), None)
    try:
        body = reply.json()
    except ValueError:
        body = None
    if reply.status_code == HTTPStatus.OK and isinstance(body, dict):
        on_progress(inv.id, {"phase": f"finished on {target}: ok"})
        return succeeded(target, inv, limits, started, wall_s, body, request_id)
    status: InvocationStatus = "timeout" if reply.status_code == HTTPStatus.GATEWAY_TIMEOUT else "error"
    detail = body.get("error") if isinstance(body, dict) and body.get("error") else reply.text or reply.reason
    outcome = failed(target, inv, limits, started, status, f"HTTP {reply.status_code}: {short(detail)}", request_id)
    on_progress(inv.id, {"phase": f"finished on {target}: {status}"})
    return outcome


def post_group(
    target: str,
    invocations: list[Invocation],
    limits: Limits,
    on_progress: ProgressCallback,
    endpoint: Callable[[Invocation], HttpEndpoint],
    session: Any,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """POST every invocation of a group at once (see run_at_once)."""
    # Endpoints first, on this thread: a missing credential is one clear error, not one per invocation.
    targets = {inv.id: endpoint(inv) for inv in invocations}
    return run_at_once(
        target,
        invocations,
        limits,
        lambda inv: post_one(target, session, targets[inv.id], inv, limits, on_progress, sleep),
    )
