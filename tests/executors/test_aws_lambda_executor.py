"""The Lambda executor's invocation path with botocore's Stubber: Lambda cannot run code in moto
without Docker, so Lambda's answers (REPORT log tails, throttling, function errors) are canned."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from mlspec.executors.base import Invocation, Limits
from mlspec.executors.http import CACHE_DIR
from mlspec.platforms.aws_lambda.executor import AwsLambdaExecutor, parse_report

REPORT = (
    "REPORT RequestId: 8f5e-41\tDuration: 1234.56 ms\tBilled Duration: 1235 ms\tMemory Size: 2048 MB\t"
    "Max Memory Used: 312 MB\tInit Duration: 456.70 ms\t\n"
)
LIMITS = Limits(memory_mb=2048, timeout_s=300)


def _invocation(worker: int = 0) -> Invocation:
    return Invocation(
        id=f"train.train_worker#{worker}",
        stage="train",
        function="train_worker",
        worker=worker,
        event={"function": "train_worker", "worker": worker, "cache_dir": "/home/me/.cache/mlspec"},
    )


def _answer(body: dict[str, Any], log: str = REPORT, error: str | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode()
    response = {
        "StatusCode": 200,
        "LogResult": base64.b64encode(f"START\n{log}".encode()).decode(),
        "Payload": StreamingBody(io.BytesIO(data), len(data)),
        "ExecutedVersion": "$LATEST",
    }
    if error:
        response["FunctionError"] = error
    return response


def _expected(invocation: Invocation) -> dict[str, Any]:
    payload = json.dumps({**invocation.event, "cache_dir": CACHE_DIR}).encode()
    return {
        "FunctionName": "mlspec-p-train",
        "InvocationType": "RequestResponse",
        "LogType": "Tail",
        "Payload": payload,
    }


@pytest.fixture
def lambda_stub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[AwsLambdaExecutor, Stubber, list[float]]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret-mlspec-0123456789abcdef")
    client = boto3.client("lambda", region_name="us-east-1")
    executor = AwsLambdaExecutor(tmp_path / "logs", {"functions": {"train": "mlspec-p-train"}}, client=client)
    slept: list[float] = []
    executor.sleep = slept.append
    return executor, Stubber(client), slept


def test_report_line_fields() -> None:
    assert parse_report("START\n" + REPORT + "END\n") == {
        "RequestId": "8f5e-41",
        "Duration": 1234.56,
        "Billed Duration": 1235.0,
        "Memory Size": 2048.0,
        "Max Memory Used": 312.0,
        "Init Duration": 456.7,
    }
    assert parse_report("no report here") == {}


def test_success_records_lambdas_own_figures_stubbed(lambda_stub: Any) -> None:
    executor, stub, _ = lambda_stub
    invocation = _invocation()
    stub.add_response(
        "invoke", _answer({"metrics": {"accuracy": 0.9}, "io": {"object_store_bytes_out": 10}}), _expected(invocation)
    )
    progress: list[tuple[str, dict[str, Any]]] = []
    with stub:
        [outcome] = executor.run_group([invocation], LIMITS, lambda i, p: progress.append((i, p)))
    record = outcome.record
    assert (record.status, record.target, record.billed_s) == ("ok", "aws-lambda", 1.235)
    assert record.wall_s == pytest.approx(1.23456) and record.init_s == pytest.approx(0.4567)
    assert (record.peak_rss_mb, record.memory_limit_mb, record.cold_start) == (312.0, 2048, True)
    assert record.cpu_s is None  # Lambda reports no CPU time: "not reported", not a measured 0.0
    assert record.request_id == "8f5e-41" and record.metrics == {"accuracy": 0.9}
    assert record.io == {"object_store_bytes_out": 10} and outcome.result is not None
    assert [p["phase"] for _, p in progress] == ["invoking mlspec-p-train on aws-lambda", "finished on aws-lambda: ok"]
    assert "Billed Duration: 1235 ms" in (executor.log_dir / f"{invocation.id}.log").read_text()


def test_warm_invocations_run_at_once_and_come_back_in_order_stubbed(lambda_stub: Any) -> None:
    executor, stub, _ = lambda_stub
    warm = REPORT.replace("Init Duration: 456.70 ms\t", "")
    for _ in range(3):
        stub.add_response("invoke", _answer({"metrics": {}}, warm))
    with stub:
        outcomes = executor.run_group([_invocation(w) for w in range(3)], LIMITS, lambda i, p: None)
    assert [o.record.worker for o in outcomes] == [0, 1, 2]
    assert all(o.record.status == "ok" and not o.record.cold_start and o.record.init_s is None for o in outcomes)


def test_throttling_is_retried_with_backoff_stubbed(lambda_stub: Any) -> None:
    executor, stub, slept = lambda_stub
    for _ in range(2):
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", 429)
    stub.add_response("invoke", _answer({"metrics": {}}))
    progress: list[str] = []
    with stub:
        [outcome] = executor.run_group([_invocation()], LIMITS, lambda i, p: progress.append(p["phase"]))
    assert outcome.record.status == "ok" and slept == [1.0, 2.0]
    assert progress[1:3] == [
        "throttled (TooManyRequestsException); retry 1 in 1 s",
        "throttled (TooManyRequestsException); retry 2 in 2 s",
    ]


def test_throttling_retries_exhausted_fail_the_invocation_stubbed(lambda_stub: Any) -> None:
    executor, stub, slept = lambda_stub
    for _ in range(7):
        stub.add_client_error("invoke", "TooManyRequestsException", "Rate Exceeded.", 429)
    with stub:
        [outcome] = executor.run_group([_invocation()], LIMITS, lambda i, p: None)
    assert outcome.record.status == "error" and len(slept) == 6
    assert outcome.record.error == "throttled by Lambda (TooManyRequestsException) 7 times; gave up"


def test_function_error_is_a_failed_invocation_with_lambdas_message_stubbed(lambda_stub: Any) -> None:
    executor, stub, _ = lambda_stub
    stub.add_response(
        "invoke",
        _answer(
            {"errorMessage": "division by zero", "errorType": "ZeroDivisionError", "stackTrace": []}, error="Unhandled"
        ),
    )
    with stub:
        [outcome] = executor.run_group([_invocation()], LIMITS, lambda i, p: None)
    assert outcome.record.status == "error" and outcome.result is None
    assert outcome.record.error == "ZeroDivisionError: division by zero"
    assert outcome.record.billed_s == 1.235  # a failed invocation is billed too


def test_time_limit_and_memory_limit_are_told_apart_stubbed(lambda_stub: Any) -> None:
    executor, stub, _ = lambda_stub
    stub.add_response(
        "invoke",
        _answer({"errorMessage": "2026-11-23T07:00:00Z 8f5e Task timed out after 300.00 seconds"}, error="Unhandled"),
    )
    full = REPORT.replace("Max Memory Used: 312 MB", "Max Memory Used: 2048 MB")
    stub.add_response(
        "invoke",
        _answer(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": "RequestId: 8f5e Error: Runtime exited with error: signal: killed",
            },
            full,
            "Unhandled",
        ),
    )
    with stub:
        [timed_out] = executor.run_group([_invocation()], LIMITS, lambda i, p: None)
        [killed] = executor.run_group([_invocation()], LIMITS, lambda i, p: None)
    assert timed_out.record.status == "timeout" and killed.record.status == "memory"


def test_a_failed_invocation_abandons_the_rest_of_its_group_stubbed(lambda_stub: Any) -> None:
    executor, stub, _ = lambda_stub
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found: mlspec-p-train", 404)
    stub.add_client_error("invoke", "ResourceNotFoundException", "Function not found: mlspec-p-train", 404)
    with stub:
        outcomes = executor.run_group([_invocation(0), _invocation(1)], LIMITS, lambda i, p: None)
    statuses = sorted(o.record.status for o in outcomes)
    # Both may have failed on their own before the executor saw the first; at least one did.
    assert statuses in (["error", "error"], ["error", "killed"])
    assert any(o.record.error == "ResourceNotFoundException: Function not found: mlspec-p-train" for o in outcomes)


def test_figures_lambda_does_not_report_stay_none_through_record_and_usage_stubbed(lambda_stub: Any) -> None:
    """cpu_s (never reported) and peak_rss_mb (not reported by a failed invocation without a REPORT line)
    are None in the record; the stage's peak keeps only reported peaks, and planner usage says which of
    its figures are assumed."""
    from mlspec.executors.coordinator import record_outcomes
    from mlspec.planner.usage import usage_from_record
    from mlspec.records.model import RunRecord, StageRecord

    executor, stub, _ = lambda_stub
    ok, refused = _invocation(), _invocation()
    stub.add_response("invoke", _answer({"metrics": {}}), _expected(ok))
    stub.add_client_error("invoke", "ServiceException", "internal error")
    with stub:
        [first] = executor.run_group([ok], LIMITS, lambda i, p: None)
        [second] = executor.run_group([refused], LIMITS, lambda i, p: None)
    assert (first.record.cpu_s, first.record.peak_rss_mb) == (None, 312.0)
    assert (second.record.cpu_s, second.record.peak_rss_mb, second.record.status) == (None, None, "error")

    stage = StageRecord(name="train", kind="train", status="succeeded", workers=1)
    record = RunRecord(
        run_id="r1",
        name="p",
        spec_file="p.yaml",
        spec={},
        target="aws-lambda",
        executor="aws-lambda",
        started_at=0.0,
        mlspec_version="0",
        stages={"train": stage},
    )
    record_outcomes(stage, record, [first, second])
    assert stage.peak_rss_mb == 312.0
    again = RunRecord.model_validate_json(record.model_dump_json())
    assert [i.cpu_s for i in again.invocations] == [None, None]
    usage = usage_from_record(again)["train"]
    # One busy vCPU for the whole wall time is assumed where no CPU time was reported.
    assert usage.cpu_s == pytest.approx(first.record.wall_s) and not usage.cpu_s_reported
    assert (usage.peak_rss_mb, usage.peak_rss_reported) == (312.0, True)
