"""The AWS Lambda executor: every invocation of a group is a synchronous Lambda Invoke
(InvocationType=RequestResponse, LogType=Tail) of the function `mlspec deploy` created for its stage,
all of a group at once, one thread each.

The figures in each InvocationRecord are Lambda's own, parsed from the REPORT line of the log tail:
Duration (wall_s), Billed Duration (billed_s), Memory Size (memory_limit_mb), Max Memory Used
(peak_rss_mb) and Init Duration (init_s; present only on a cold start). All are measured on
aws-lambda. Lambda reports no CPU time, so cpu_s is None ("not reported") for these invocations, and
so is peak_rss_mb when the log tail has no REPORT line.

Throttling (TooManyRequestsException) is retried here with backoff, so progress can say so; botocore's
own retries are off. A function error (FunctionError Unhandled/Handled) is a failed invocation with
Lambda's error message. Lambda cannot stream progress or stop a running invocation: progress is
reported when an invocation starts, is throttled and finishes, and when one fails the others are
abandoned (they run on, until their own time limit, on Lambda)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback, identity
from mlspec.executors.http import CACHE_DIR, THROTTLE_DELAYS_S, failed, run_at_once, short
from mlspec.platforms.aws_lambda.credentials import aws_session
from mlspec.records import InvocationRecord
from mlspec.records.model import InvocationStatus
from mlspec.wording import plural

THROTTLE_CODES = frozenset({"TooManyRequestsException", "ThrottlingException", "Throttling"})
# Lambda's longest time limit is 900 s; a synchronous Invoke holds the connection that long.
READ_TIMEOUT_S = 960


def parse_report(log_tail: str) -> dict[str, float | str]:
    """The REPORT line's fields, e.g. {"RequestId": "...", "Duration": 102.25, "Billed Duration": 103.0,
    "Memory Size": 128.0, "Max Memory Used": 70.0, "Init Duration": 150.12}; {} when there is none."""
    line = next((x for x in reversed(log_tail.splitlines()) if x.startswith("REPORT ")), None)
    if line is None:
        return {}
    fields: dict[str, float | str] = {}
    for part in line.removeprefix("REPORT ").split("\t"):
        key, _, value = part.partition(": ")
        if key == "RequestId":
            fields[key] = value.strip()
        elif value:
            try:
                fields[key.strip()] = float(value.split()[0])
            except ValueError:
                continue
    return fields


def report_number(report: dict[str, float | str], key: str) -> float | None:
    value = report.get(key)
    return value if isinstance(value, float) else None


def _status(error_type: str, message: str, report: dict[str, float | str]) -> InvocationStatus:
    if "Task timed out" in message:
        return "timeout"
    used, size = report_number(report, "Max Memory Used"), report_number(report, "Memory Size")
    killed_at_limit = "signal: killed" in message and used is not None and size is not None and used >= size
    if error_type == "Runtime.OutOfMemory" or killed_at_limit:
        return "memory"
    return "error"


def lambda_client(region: str, concurrency: int = 10) -> Any:
    from botocore.config import Config

    config = Config(
        read_timeout=READ_TIMEOUT_S,
        connect_timeout=10,
        retries={"total_max_attempts": 1},
        max_pool_connections=max(10, concurrency),
    )
    return aws_session(region).client("lambda", region_name=region, config=config)


class AwsLambdaExecutor:
    name = "aws-lambda"

    def __init__(self, log_dir: Path, options: dict[str, Any], client: Any = None) -> None:
        """options: {"functions": {stage: function name}, "region": ..., "max_concurrency": ...}."""
        self.log_dir = log_dir
        self.functions: dict[str, str] = dict(options["functions"])
        self.client = client or lambda_client(
            str(options.get("region") or "us-east-1"), int(options.get("max_concurrency") or 10)
        )
        self.sleep: Callable[[float], None] = time.sleep

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return run_at_once(self.name, invocations, limits, lambda inv: self._invoke(inv, limits, on_progress))

    def _invoke(self, inv: Invocation, limits: Limits, on_progress: ProgressCallback) -> Outcome:
        from botocore.exceptions import ClientError

        name = self.functions[inv.stage]
        payload = json.dumps({**inv.event, "cache_dir": CACHE_DIR}).encode()
        started = time.time()
        on_progress(inv.id, {"phase": f"invoking {name} on aws-lambda"})
        for attempt, delay in enumerate((*THROTTLE_DELAYS_S, None), start=1):
            try:
                response = self.client.invoke(
                    FunctionName=name, InvocationType="RequestResponse", LogType="Tail", Payload=payload
                )
                break
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code", ""))
                message = short(exc.response.get("Error", {}).get("Message", "") or exc)
                if code not in THROTTLE_CODES:
                    return failed(self.name, inv, limits, started, "error", f"{code}: {message}")
                if delay is None:
                    return failed(
                        self.name,
                        inv,
                        limits,
                        started,
                        "error",
                        f"throttled by Lambda ({code}) {plural(attempt, 'time')}; gave up",
                    )
                on_progress(inv.id, {"phase": f"throttled ({code}); retry {attempt} in {delay:g} s"})
                self.sleep(delay)
        outcome = self._finished(inv, limits, started, response)
        on_progress(inv.id, {"phase": f"finished on aws-lambda: {outcome.record.status}"})
        return outcome

    def _finished(self, inv: Invocation, limits: Limits, started: float, response: dict[str, Any]) -> Outcome:
        log_tail = base64.b64decode(response.get("LogResult") or b"").decode(errors="replace")
        if log_tail:
            with open(self.log_dir / f"{inv.id}.log", "a") as log:
                log.write(log_tail)
        report = parse_report(log_tail)
        raw = response["Payload"].read() if response.get("Payload") is not None else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status: InvocationStatus = "ok"
        error: str | None = None
        result: dict[str, Any] | None = None
        if response.get("FunctionError"):
            details = body if isinstance(body, dict) else {}
            message = " ".join(str(details.get("errorMessage") or raw.decode(errors="replace")).split())
            error_type = str(details.get("errorType") or response["FunctionError"])
            status, error = _status(error_type, message, report), f"{error_type}: {message}"
        elif isinstance(body, dict):
            result = body
        else:
            status, error = "error", "function returned no result"
        duration_ms, init_ms = report_number(report, "Duration"), report_number(report, "Init Duration")
        billed_ms, memory_size = report_number(report, "Billed Duration"), report_number(report, "Memory Size")
        record = InvocationRecord(
            **identity(inv),
            target=self.name,
            started_at=started,
            wall_s=duration_ms / 1000 if duration_ms is not None else time.time() - started,
            cpu_s=None,
            peak_rss_mb=report_number(report, "Max Memory Used"),
            init_s=init_ms / 1000 if init_ms is not None else None,
            cold_start=init_ms is not None,
            status=status,
            error=error,
            memory_limit_mb=int(memory_size) if memory_size is not None else limits.memory_mb,
            time_limit_s=limits.timeout_s,
            io=(result or {}).get("io", {}),
            metrics=(result or {}).get("metrics", {}),
            billed_s=billed_ms / 1000 if billed_ms is not None else None,
            request_id=str(report["RequestId"]) if "RequestId" in report else None,
        )
        return Outcome(record, result)
