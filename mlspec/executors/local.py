"""The embedded default executor: each invocation is a separate OS process (`mlspec.runtime.process`)
that shares nothing with the others but the stores. The target's memory limit is enforced by
watching each process's resident set (polled every 20 ms) and its time limit by the wall clock; an
invocation over either is killed and reported as such. A vCPU count is given as cores (CPU affinity) and
math-library threads; a fraction of one core (Lambda's 0.07 vCPU at 128 MB) as a duty cycle."""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

from mlspec.compile import FunctionNode
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback, identity, stage_limits
from mlspec.records import InvocationRecord
from mlspec.runtime.process import PARENT_PID_ENV, cpu_seconds, process_alive

POLL_S = 0.02
STOP_GRACE_S = 3.0  # between SIGTERM and SIGKILL when the run is stopped from outside (Ctrl-C, SIGTERM)
# A vCPU below one: in each period the process may use vcpu x this period of CPU time, then is stopped
# (SIGSTOP) for the rest, as a CPU quota (cgroup cpu.max) holds it; short enough that a step of training sees
# the average share.
THROTTLE_PERIOD_S = 0.1
# How long the last messages of an ended process may take to be read: its reader thread may be waiting for the GIL
# under load, and without them a finished invocation looks like one that returned nothing.
READ_LAST_S = 10.0


def _proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in kB from /proc, or {} when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    out = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":", 1)
            out[key] = int(value.split()[0])
    return out


class _Running:
    def __init__(self, inv: Invocation, proc: subprocess.Popen[str], log: IO[bytes], reader: threading.Thread) -> None:
        self.inv = inv
        self.proc = proc
        self.log = log
        self.reader = reader  # reads the process's messages until it ends
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.peak_kb = 0
        self.status: str | None = None
        self.error: str | None = None
        self.message: dict[str, Any] | None = None
        self.ready_at: float | None = None
        self.cores: list[int] | None = None  # as the process reported its affinity
        self.assigned: tuple[int, ...] = ()  # the cores the executor gave it (with a vCPU count)
        self.share: float | None = None  # of one core, when its vCPU is below one
        self.ready_rss_kb: int | None = None  # resident once imported, before the function ran
        self.cpu_s = 0.0
        self.wall_s = 0.0
        self.done = False


class LocalProcessExecutor:
    name = "local"

    def __init__(self, log_dir: Path, target: str = "local", pin_cores: bool = True) -> None:
        self.log_dir = log_dir
        self.target = target
        # With a vCPU count, give each invocation cores of its own (False: threads only, where another
        # executor on this host, e.g. a second Ray node, would hand out the same cores).
        self.pin_cores = pin_cores
        # Every invocation alive now, across threads (a tune stage runs groups from several), so that
        # stop() reaches them all; once stopped, no new one starts. Reentrant: stop() runs in a signal
        # handler, which may interrupt the main thread while it holds the lock.
        self._live: dict[str, _Running] = {}
        self._live_lock = threading.RLock()
        self._stopped = False
        self._cores = sorted(os.sched_getaffinity(0))
        self._core_users = dict.fromkeys(self._cores, 0)  # invocations given each core now

    def stop(self) -> None:
        """Stops every running invocation (SIGTERM to its process group, then SIGKILL after a short
        grace) and refuses new ones: the run is being abandoned (Ctrl-C, SIGTERM, an error)."""
        with self._live_lock:
            self._stopped = True
            live = list(self._live.values())
        for run in live:
            self._terminate(run)
        deadline = time.monotonic() + STOP_GRACE_S
        while any(process_alive(run.proc.pid) for run in live) and time.monotonic() < deadline:
            time.sleep(POLL_S)
        for run in live:
            self._kill(run, "killed", "stopped: the run was interrupted")

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        cap = limits.max_concurrency or len(invocations)
        # The host's cores shared among the invocations running at once: a vCPU count above that share gets
        # the share (two workers of 1.1 vCPU on two cores: a thread and a core each; two threads each ran
        # 8x slower, their threads taking turns at every synchronisation).
        fair = max(1, len(self._cores) // min(cap, len(invocations)))
        threads = fair if limits.vcpu is None else min(math.ceil(limits.vcpu), fair)
        messages: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        waiting = list(invocations)
        running: dict[str, _Running] = {}
        finished: dict[str, _Running] = {}
        never_started: list[Invocation] = []
        failed_first: _Running | None = None
        while waiting or running:
            while waiting and len(running) < cap and failed_first is None:
                inv = waiting.pop(0)
                running[inv.id] = self._start(inv, limits, threads, messages)
            self._drain(messages, running, finished, on_progress)
            for run in list(running.values()):
                self._check(run, limits)
                if run.done:
                    del running[run.inv.id]
                    with self._live_lock:
                        self._live.pop(run.inv.id, None)
                        for core in run.assigned:
                            self._core_users[core] -= 1
                    finished[run.inv.id] = run
                    if run.status != "ok" and failed_first is None:
                        failed_first = run
            if failed_first is not None:
                for run in list(running.values()):
                    self._kill(run, "killed", f"stopped because {failed_first.inv.id} failed")
                never_started, waiting = waiting, []
            time.sleep(POLL_S)
        for run in finished.values():
            run.reader.join(READ_LAST_S)
        self._drain(messages, running, finished, on_progress)
        outcomes = {run_id: self._outcome(run, limits) for run_id, run in finished.items()}
        for inv in never_started:
            outcomes[inv.id] = self._not_started(inv, limits, failed_first)
        return [outcomes[inv.id] for inv in invocations]

    def _command(self, inv: Invocation, limits: Limits, threads: int) -> tuple[list[str], dict[str, str]]:
        """The command that runs one invocation through the JSON-lines shim, and its environment."""
        env = dict(os.environ)
        env.update(thread_env(threads))
        env["MLSPEC_INVOCATION_ID"] = inv.id  # like a platform's request id; lets tools find the process
        env[PARENT_PID_ENV] = str(os.getpid())  # the shim exits when this process dies (even by SIGKILL)
        return [sys.executable, "-m", "mlspec.runtime.process"], env

    def _workdir(self) -> Path | None:
        """The directory the invocation's command starts in (None: this process's own)."""
        return None

    def _start(self, inv: Invocation, limits: Limits, threads: int, messages: queue.Queue[Any]) -> _Running:
        with self._live_lock:
            if self._stopped:
                raise KeyboardInterrupt  # the run is being stopped: start nothing more
            assigned = self._assign_cores(threads) if limits.vcpu is not None and self.pin_cores else ()
        command, env = self._command(inv, limits, threads)
        log = open(self.log_dir / f"{inv.id}.log", "ab")  # noqa: SIM115 - closed when the process ends
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
            start_new_session=True,
            cwd=self._workdir(),
            # In the child before it runs anything: every thread it starts inherits the affinity.
            preexec_fn=(lambda: os.sched_setaffinity(0, assigned)) if assigned else None,
        )
        event = dict(inv.event, time_limit_s=limits.timeout_s)
        assert proc.stdin is not None and proc.stdout is not None
        reader = threading.Thread(target=_read_lines, args=(inv.id, proc.stdout, messages), daemon=True)
        run = _Running(inv, proc, log, reader)
        run.assigned = assigned
        run.share = limits.vcpu if limits.vcpu is not None and limits.vcpu < 1 else None
        try:
            proc.stdin.write(json.dumps(event))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        reader.start()
        with self._live_lock:
            self._live[inv.id] = run
        return run

    def _drain(
        self,
        messages: queue.Queue[Any],
        running: dict[str, _Running],
        finished: dict[str, _Running],
        on_progress: ProgressCallback,
    ) -> None:
        while True:
            try:
                inv_id, message = messages.get_nowait()
            except queue.Empty:
                return
            run = running.get(inv_id) or finished.get(inv_id)
            if run is None:
                continue
            if message.get("type") == "ready":
                run.ready_at = float(message["at"])
                run.ready_rss_kb = _proc_status(run.proc.pid).get("VmRSS")
                run.cores = message.get("cores")
                if run.share is not None:
                    threading.Thread(target=self._throttle, args=(run, run.share), daemon=True).start()
            elif message.get("type") == "progress":
                on_progress(inv_id, message["progress"])
            elif message.get("type") in ("result", "error"):
                run.message = message

    def _sample(self, run: _Running) -> int | None:
        """Update the run's peak memory; returns the resident kB to hold to the memory limit (None: the
        limit is enforced elsewhere)."""
        status = _proc_status(run.proc.pid)
        run.peak_kb = max(run.peak_kb, status.get("VmHWM", 0), status.get("VmRSS", 0))
        return status.get("VmRSS", 0)

    def _exited(self, run: _Running) -> None:
        """Called once the process has ended and been reaped, before its status is settled."""

    def _check(self, run: _Running, limits: Limits) -> None:
        resident_kb = self._sample(run)
        pid, code, usage = os.wait4(run.proc.pid, os.WNOHANG)
        if pid:
            run.proc.returncode = os.waitstatus_to_exitcode(code)
            run.cpu_s = usage.ru_utime + usage.ru_stime
            run.wall_s = time.monotonic() - run.started
            run.done = True
            run.log.close()
            self._exited(run)
            if run.status is None:
                run.status = "ok" if run.proc.returncode == 0 else "error"
            return
        if run.status is not None:
            return
        if resident_kb is not None and resident_kb > limits.memory_mb * 1024:
            self._kill(run, "memory", f"exceeded memory_mb={limits.memory_mb} (resident {resident_kb / 1024:.0f} MB)")
        elif time.monotonic() - run.started > limits.timeout_s:
            self._kill(run, "timeout", f"exceeded timeout_s={limits.timeout_s:g}")

    def _kill(self, run: _Running, status: str, error: str) -> None:
        if run.status is None:
            run.status, run.error = status, error
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGKILL)

    def _terminate(self, run: _Running) -> None:
        """Asks the invocation to end (SIGTERM to its process group); stop() kills what remains."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.proc.pid, signal.SIGTERM)

    def _not_started(self, inv: Invocation, limits: Limits, cause: _Running | None) -> Outcome:
        record = InvocationRecord(
            **identity(inv),
            target=self.target,
            started_at=time.time(),
            wall_s=0.0,
            cpu_s=0.0,
            peak_rss_mb=0.0,
            cold_start=False,
            status="killed",
            error=f"not started because {cause.inv.id if cause else 'another invocation'} failed",
            memory_limit_mb=limits.memory_mb,
            time_limit_s=limits.timeout_s,
        )
        return Outcome(record, None)

    def _outcome(self, run: _Running, limits: Limits) -> Outcome:
        message = run.message or {}
        result = message.get("result") if message.get("type") == "result" else None
        error = run.error
        if error is None and run.status != "ok":
            error = message.get("error") or f"process exited with status {run.proc.returncode}"
        if run.status == "ok" and result is None:
            run.status, error = "error", "function returned no result"
        peak_mb = run.peak_kb / 1024 or float(message.get("peak_rss_mb") or 0.0)
        record = InvocationRecord(
            **identity(run.inv),
            target=self.target,
            started_at=run.started_wall,
            wall_s=run.wall_s,
            cpu_s=run.cpu_s,
            peak_rss_mb=peak_mb,
            init_s=run.ready_at - run.started_wall if run.ready_at else None,
            ready_rss_mb=run.ready_rss_kb / 1024 if run.ready_rss_kb else None,
            cold_start=True,
            status=run.status or "killed",
            error=error,
            memory_limit_mb=limits.memory_mb,
            time_limit_s=limits.timeout_s,
            io=(result or message).get("io", {}),
            metrics=(result or {}).get("metrics", {}),
            vcpu=limits.vcpu,
            cores=run.cores,
            traceback=message.get("traceback") if message.get("type") == "error" else None,
        )
        return Outcome(record, result)

    def _throttle(self, run: _Running, share: float) -> None:
        """Hold the process to `share` of a core's CPU time from when its function starts (the process start
        and imports run at full speed, as the time model takes them), until it ends or the run is stopped.
        It is measured on the process's CPU clock, not the wall clock: a stop lands late when this thread
        waits for the GIL or the process is inside a long system call (20-40 ms seen), and what it ran past
        its quota is taken from the next period; quota left unused expires, as a CPU quota's does."""
        quota = share * THROTTLE_PERIOD_S
        origin = cpu_seconds(run.proc.pid)
        granted = 0.0  # the CPU the process may have used since `origin`
        period_end = time.monotonic()
        while origin is not None and not run.done and run.status is None and not self._stopped:
            # Periods on a fixed grid: a late wake-up (this thread waiting for the GIL) shortens the next period
            # instead of adding to the time the process is held; periods slept through entirely are skipped.
            period_end = max(period_end + THROTTLE_PERIOD_S, time.monotonic())
            now = cpu_seconds(run.proc.pid)
            if now is None:
                return  # the process is gone
            used = now - origin
            granted = min(granted, used) + quota
            while used < granted and time.monotonic() < period_end:
                # One thread uses CPU no faster than the wall clock runs: sleep until the quota could be gone.
                time.sleep(max(0.0, min(granted - used, period_end - time.monotonic())) + 1e-4)
                now = cpu_seconds(run.proc.pid)
                if now is None:
                    return
                used = now - origin
            if used >= granted:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.proc.pid, signal.SIGSTOP)
                time.sleep(max(0.0, period_end - time.monotonic()))
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(run.proc.pid, signal.SIGCONT)

    def _assign_cores(self, count: int) -> tuple[int, ...]:
        """The `count` cores fewest running invocations were given (the caller holds the lock): cores of
        its own while the host has enough, shared evenly beyond that."""
        chosen = sorted(self._cores, key=lambda core: (self._core_users[core], core))[: min(count, len(self._cores))]
        for core in chosen:
            self._core_users[core] += 1
        return tuple(sorted(chosen))


def host_limits(limits: Limits, nodes: Sequence[FunctionNode]) -> tuple[Limits, list[str]]:
    """Limits for invocations run on this host: its available memory and CPUs, which bound each stage by its
    own memory (executors.base.on_host). Also a note for each stage that will run more invocations at once
    than there are CPUs."""
    cpus = os.cpu_count() or 1
    hosted = replace(limits, host_memory_mb=_available_memory_mb(), host_cpus=cpus)
    notes = []
    for node in nodes:
        cap = stage_limits(node, hosted).max_concurrency or node.fan_out
        if cpus < min(node.fan_out, cap) and not (node.together and node.fan_out > cap):
            notes.append(
                f"stage {node.stage!r}: {min(node.fan_out, cap)} invocations at once share {cpus} CPUs "
                f"(measured times are slower than on a platform)"
            )
    return hosted, notes


def _available_memory_mb() -> int:
    """MemAvailable from /proc/meminfo (the memory new processes can take without swapping)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20)


def thread_env(threads: int) -> dict[str, str]:
    """Math-library thread counts (the host's cores shared among the invocations running at once)."""
    env = {var: str(threads) for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    return {**env, "PYTHONUNBUFFERED": "1"}


def _read_lines(inv_id: str, stream: IO[str], messages: queue.Queue[Any]) -> None:
    for line in stream:
        try:
            messages.put((inv_id, json.loads(line)))
        except json.JSONDecodeError:
            continue
