"""The Lithops executor: the same functions on any Lithops backend (AWS Lambda, IBM Code Engine, Google
Cloud Run, Azure, Oracle Functions, Kubernetes, or Lithops' own localhost backend, the default here).

Every invocation is one Lithops call of `run_event`, a module-level function that gets nothing but
its event (the stores travel in it as config dicts, as on every other executor) and calls
`mlspec.runtime.invoke`. The function catches its own exceptions and returns an envelope with the
result or the error, plus what it measured about itself (CPU time, peak RSS, import time), so the
executor can build the same InvocationRecord as the local process executor whatever the backend.
Failures that happen outside the function (Lithops' time limit, an out-of-memory kill, a crashed
worker) come back as Lithops call exceptions and are mapped to a status too.

Lithops is imported lazily: the CLI must start fast.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from mlspec.errors import exception_line
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback, identity
from mlspec.records import InvocationRecord
from mlspec.records.model import InvocationStatus
from mlspec.runtime import invoke, load_function
from mlspec.runtime.context import Context
from mlspec.runtime.process import exit_with

POLL_S = 0.1
# How long past its time limit the executor keeps waiting for a call before giving up on it. Lithops
# counts its own limit from when the worker starts the call; this also covers queueing and a cold
# start (a container pull, a Lambda init) before that.
WAIT_GRACE_S = 30.0


def run_event(event: dict[str, Any]) -> dict[str, Any]:
    """Runs on a Lithops worker: one invocation, from its event alone. Never raises for the
    function's own failures, so their message and the I/O done up to them reach the executor."""
    import resource
    import traceback

    if event.get("coordinator_pid"):  # on this host (localhost backend): end with the coordinator
        exit_with(int(event["coordinator_pid"]))
    started = time.monotonic()
    context = Context(time_limit_s=event.get("time_limit_s"))
    envelope: dict[str, Any] = {}
    try:
        load_function(event.get("function"))
        envelope["load_s"] = time.monotonic() - started  # our imports: the cold part of a cold start
        envelope["result"] = invoke(event, context)
    except Exception as exc:
        envelope["error"] = exception_line(exc)
        traceback.print_exc()  # into the call's activation log, which the executor saves
        envelope["io"] = context.io_summary()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # The whole worker process that ran this call (on localhost: Lithops' JobRunner, forked per call).
    envelope["cpu_s"] = usage.ru_utime + usage.ru_stime
    envelope["peak_rss_mb"] = usage.ru_maxrss / 1024  # kB on Linux, where every Lithops runtime runs
    return envelope


LITHOPS_SESSION_ENV = ("__LITHOPS_SESSION_ID", "__LITHOPS_TOTAL_EXECUTORS")


class LithopsExecutor:
    name = "lithops"

    def __init__(self, log_dir: Path, config: dict[str, Any] | None = None, target: str = "lithops") -> None:
        self.log_dir = log_dir
        self.config = config
        self.target = target
        # Lithops names executors "<session>-<count>" and exports both to the environment, for the processes
        # it spawns. A session inherited from whatever started this process (a test runner, a script that ran
        # Lithops itself) would give every coordinator it starts the same executor ids, and with them the same
        # job storage keys: one run's cleaner then deletes another's job data. A session this process already
        # holds is kept in Lithops' own globals, so dropping the variables never splits one.
        for variable in LITHOPS_SESSION_ENV:
            os.environ.pop(variable, None)

    def lithops_config(self, workers: int) -> dict[str, Any]:
        """The Lithops configuration for a group of `workers` calls that must all run at once."""
        if self.config is not None:
            # Passed through as given (a spec selects its backend, region, runtime here). The one thing
            # filled in, only when absent, is the localhost backend's process count: its default (one
            # per CPU) queues the calls beyond it, and calls that wait for each other at a barrier
            # would then wait for ever.
            # Also the interpreter: Lithops' default is `python3` (its basename) from PATH, which need not
            # be the one running mlspec (a venv not on PATH) and may lack mlspec and its dependencies.
            config = copy.deepcopy(self.config)
            if _on_localhost(config):
                section = config.setdefault("localhost", {}) or {}
                section.setdefault("worker_processes", workers)
                section.setdefault("runtime", sys.executable)
                config["localhost"] = section
            return config
        # Lithops' localhost backend keeps its jobs, its localhost storage and its runner logs under
        # <tmp>/lithops-<user>/ (lithops.constants: fixed at import, not configurable per executor);
        # the job data is deleted by Lithops' cleaner at the end of every group (see run_group).
        return {
            "lithops": {"backend": "localhost", "storage": "localhost", "data_cleaner": True},
            # One task process per call, all started at once (the localhost v2 backend starts
            # `worker_processes` consumer threads, each running one call's process at a time).
            # The calls run with this interpreter (and this environment), as every local executor's do.
            "localhost": {"worker_processes": max(workers, 1), "runtime": sys.executable},
        }

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        if not invocations:
            return []
        from lithops import FunctionExecutor

        self.log_dir.mkdir(parents=True, exist_ok=True)
        config = self.lithops_config(len(invocations))
        # Calls on this host end when the coordinator does, even when it is killed with SIGKILL.
        here = {"coordinator_pid": os.getpid()} if _on_localhost(config) else {}
        events = [{"event": dict(inv.event, time_limit_s=limits.timeout_s, **here)} for inv in invocations]
        outcomes: dict[int, Outcome] = {}
        # log_level=None leaves logging as the caller set it up (Lithops would otherwise log at INFO to
        # stderr), unless the configuration asks for a level of its own.
        log_level = False if "log_level" in (config.get("lithops") or {}) else None
        # `run_event` travels by reference: the runtime has mlspec installed (a cloud runtime image is
        # built with it; localhost runs this interpreter). Lithops' default would analyse the function's
        # imports and ship the whole mlspec package with every job, which costs time and, on the
        # localhost backend, races: the calls of one job unpack those modules into one shared folder at
        # the same moment, and a call importing a half-written file fails with an ImportError. A
        # configuration that sets `include_modules` itself gets Lithops' behaviour for it.
        include_modules: list[str] | None = [] if "include_modules" in (config.get("lithops") or {}) else None
        with FunctionExecutor(config=config, log_level=log_level) as fexec:
            submitted = time.time()
            futures = fexec.map(
                run_event,
                events,
                runtime_memory=limits.memory_mb,
                timeout=max(1, math.ceil(limits.timeout_s)),
                include_modules=include_modules,
            )
            for inv in invocations:
                on_progress(inv.id, {"phase": "running on lithops"})
            deadline = time.monotonic() + limits.timeout_s + WAIT_GRACE_S
            failed_first: int | None = None
            while len(outcomes) < len(invocations) and failed_first is None:
                self._poll(fexec, futures)
                for i, future in enumerate(futures):
                    if i in outcomes or not future.done:
                        continue
                    outcomes[i] = self._finished(invocations[i], future, limits, submitted)
                    on_progress(invocations[i].id, {"phase": f"finished on lithops: {outcomes[i].record.status}"})
                    if outcomes[i].record.status != "ok" and failed_first is None:
                        failed_first = i
                if failed_first is None and len(outcomes) < len(invocations) and time.monotonic() > deadline:
                    for i, inv in enumerate(invocations):
                        if i not in outcomes:
                            message = f"no result within timeout_s={limits.timeout_s:g} (+{WAIT_GRACE_S:g} s grace)"
                            outcomes[i] = self._unfinished(inv, limits, submitted, "timeout", message)
                    break
                if failed_first is None and len(outcomes) < len(invocations):
                    time.sleep(POLL_S)
            if failed_first is not None:
                # Stop waiting for the others: they may be blocked at a barrier for the failed one. On
                # the localhost backend, leaving this `with` block kills them (the executor's exit
                # clears its jobs: Lithops drops the queued calls and SIGKILLs each running call's
                # process group). Cloud backends cannot stop a running call, so it runs on until its
                # own time limit. Either way stragglers are harmless: the coordinator retries the whole
                # group in a fresh store namespace.
                message = f"stopped because {invocations[failed_first].id} failed"
                for i, inv in enumerate(invocations):
                    if i not in outcomes:
                        outcomes[i] = self._unfinished(inv, limits, submitted, "killed", message)
            # Lithops' cleaner process deletes the job data (function, arguments, results) in the
            # background, whether or not every call finished, unless the Lithops configuration turns its
            # data cleaner off (`lithops: {data_cleaner: false}`).
            if fexec.data_cleaner:
                fexec.clean(fs=futures, clean_cloudobjects=True, clean_fn=True, force=True)
        return [outcomes[i] for i in range(len(invocations))]

    @staticmethod
    def _poll(fexec: Any, futures: list[Any]) -> None:
        """One non-blocking look at every call's status (Lithops' job monitor fills it in). Results
        small enough to travel inline in the status arrive with it; the others are fetched here."""
        from lithops.wait import ALWAYS

        # No `timeout` here: Lithops implements a wait timeout with SIGALRM, which only works in the main
        # thread; the executor keeps its own deadline instead.
        fexec.wait(
            fs=futures,
            throw_except=False,
            return_when=ALWAYS,
            download_results=False,
            show_progressbar=False,
            clean_jobs=False,
        )
        for future in futures:
            if future.success and not future.done:  # status in, result not inline: read it from storage
                future.result(throw_except=False, internal_storage=fexec.internal_storage)

    def _finished(self, inv: Invocation, future: Any, limits: Limits, submitted: float) -> Outcome:
        stats: dict[str, Any] = dict(future.stats)
        if getattr(future, "logs", None):  # the call's output, as Lithops returned it with the status
            with open(self.log_dir / f"{inv.id}.log", "a") as log:
                log.write(future.logs)
        # Done futures hold their output already (_poll fetched it), so this reads no storage.
        envelope = None if future.error else future.result(throw_except=False)
        status: InvocationStatus = "ok"
        error: str | None = None
        result: dict[str, Any] | None = None
        if future.error:
            status, error = _call_exception(future)
        elif not isinstance(envelope, dict):
            status, error = "error", "lithops returned no result for the call"
        elif "error" in envelope:
            status, error = "error", str(envelope["error"])
        else:
            result = envelope.get("result")
            if not isinstance(result, dict):
                status, error, result = "error", "function returned no result", None
        envelope = envelope if isinstance(envelope, dict) else {}
        submit = float(stats.get("host_submit_tstamp") or submitted)
        worker_start = _float(stats.get("worker_start_tstamp"))
        func_start = _float(stats.get("worker_func_start_tstamp"))
        # Billed-style duration: Lithops' worker_exec_time is the worker's whole handling of the call
        # (worker_end - worker_start: process start, unpickling, imports, the function, uploads). A call
        # that never reported (killed by Lithops) falls back to the time the host saw it take.
        wall_s = _float(stats.get("worker_exec_time"))
        if wall_s is None:
            wall_s = max(0.0, float(stats.get("host_status_done_tstamp") or time.time()) - submit)
        # Start-up before the function ran, on the worker's own clock (so inside wall_s, as on the local
        # executor): the worker forking the process for the call and unpickling the function
        # (worker_func_start - worker_start), plus our own imports inside it. The platform's part of a
        # cold start (worker_start - host_submit: queueing, container or runner start) is left out: it
        # mixes the host's and the worker's clocks on a cloud backend, and the planner adds each
        # platform's cold start itself.
        init_s: float | None = None
        if func_start is not None and worker_start is not None:
            init_s = max(0.0, func_start - worker_start) + float(envelope.get("load_s") or 0.0)
        # CPU time: measured by the function itself (getrusage of the worker process). Lithops'
        # worker_func_cpu_user_time/system_time are psutil.cpu_times() of the whole machine, not of
        # the call, so they are not used; a call that died before reporting gets 0.0.
        cpu_s = float(envelope.get("cpu_s") or 0.0)
        # Peak memory: Lithops' worker_peak_memory_end (ru_maxrss of the process that ran the function,
        # in bytes; Unix runtimes only), else what the function measured itself, else 0.0.
        peak_bytes = _float(stats.get("worker_peak_memory_end"))
        peak_mb = peak_bytes / (1024 * 1024) if peak_bytes else float(envelope.get("peak_rss_mb") or 0.0)
        record = InvocationRecord(
            **identity(inv),
            target=self.target,
            started_at=worker_start or submit,
            wall_s=wall_s,
            cpu_s=cpu_s,
            peak_rss_mb=peak_mb,
            init_s=init_s,
            cold_start=bool(stats.get("worker_cold_start", True)),
            status=status,
            error=error,
            memory_limit_mb=limits.memory_mb,
            time_limit_s=limits.timeout_s,
            io=(result or envelope).get("io", {}),
            metrics=(result or {}).get("metrics", {}),
        )
        return Outcome(record, result)

    def _unfinished(
        self, inv: Invocation, limits: Limits, submitted: float, status: InvocationStatus, error: str
    ) -> Outcome:
        record = InvocationRecord(
            **identity(inv),
            target=self.target,
            started_at=submitted,
            wall_s=time.time() - submitted,
            cpu_s=0.0,
            peak_rss_mb=0.0,
            cold_start=True,
            status=status,
            error=error,
            memory_limit_mb=limits.memory_mb,
            time_limit_s=limits.timeout_s,
        )
        return Outcome(record, None)


def _call_exception(future: Any) -> tuple[InvocationStatus, str]:
    """Status and one-line message of a call that Lithops reports as failed: its own time limit
    (TimeoutError), an out-of-memory kill of the worker process (MemoryError), or anything else."""
    # Lithops keeps the rebuilt (type, exception, traceback) on the future; its only public way to it,
    # result(throw_except=True), re-raises it and swaps sys.excepthook, so it is read directly.
    exc_info = getattr(future, "_exception", None)
    exc = exc_info[1] if isinstance(exc_info, tuple) and len(exc_info) > 1 else None
    if not isinstance(exc, BaseException):
        return "error", "lithops call failed without an exception"
    if isinstance(exc, TimeoutError):
        return "timeout", exception_line(exc)
    if isinstance(exc, MemoryError):
        return "memory", exception_line(exc)
    return "error", exception_line(exc)


def _on_localhost(config: dict[str, Any]) -> bool:
    return bool((config.get("lithops") or {}).get("backend") == "localhost")


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


__all__ = ["LithopsExecutor", "run_event"]
