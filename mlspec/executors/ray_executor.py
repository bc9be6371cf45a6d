"""The Ray executor: every invocation is a Ray task on a cluster (`ray start --head` on VMs, KubeRay on
Kubernetes), asking for the invocation's vCPUs and memory as Ray resources.

On its node the task runs the invocation exactly as the local process executor does, through it: a process
of its own (`mlspec.runtime.process`) whose resident memory and wall time are held to the limits, with the
vCPU count as math-library threads (or a CPU quota below one). So an invocation over its memory is
reported as `memory`, not as a Ray error, and the record has the same fields as a local one, plus the node
that ran it. The task streams what the process reports (Ray's streaming generator): first that it started
and where, then its progress, then its outcome and log.

Invocations that synchronise must all run at once: a group of them gets a placement group (all its
bundles reserved together, spread over the nodes), so stages running side by side never split the cluster
between them and wait for each other for ever. A group larger than the whole cluster is refused before
anything is reserved. Ray retries nothing itself: the coordinator restarts a failed group from its
checkpoint, as with every executor.

Ray is imported lazily (`mlspec[ray]`); the CLI must start fast.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mlspec.errors import MlspecError, one_line
from mlspec.executors.base import Invocation, Limits, Outcome, ProgressCallback, identity
from mlspec.executors.local import LocalProcessExecutor
from mlspec.records import InvocationRecord
from mlspec.records.model import InvocationStatus

POLL_S = 0.1
# How long past its time limit the executor waits for a started task's outcome before giving up on it: the
# node enforces the limit itself; this covers a node that stopped answering without Ray noticing.
WAIT_GRACE_S = 30.0
MB = 2**20
DEFAULT_VCPU = 1.0  # Ray's own default for a task, when the target gives no vCPU count


class ClusterTooSmall(MlspecError):
    """A group of invocations that must run at once needs more than the whole cluster has."""

    permanent = True


def run_on_node(inv: Invocation, limits: Limits, target: str) -> Iterator[dict[str, Any]]:
    """Runs as a Ray task on a node: the invocation in a watched process, as the local process executor runs
    it (never pinned to cores: other nodes on the same host would pin the same ones). Yields
    {"started": node}, then {"progress": ...} as the function reports, then {"outcome": ..., "log": ...}."""
    import ray

    context = ray.get_runtime_context()
    node = f"{context.get_node_id()[:12]}@{ray.util.get_node_ip_address()}"
    yield {"started": node}
    log_dir = Path(tempfile.mkdtemp(prefix="mlspec-ray-"))
    executor = LocalProcessExecutor(log_dir, target, pin_cores=False)
    messages: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        try:
            one = replace(limits, max_concurrency=1)
            [outcome] = executor.run_group([inv], one, lambda _, progress: messages.put(("p", progress)))
            messages.put(("outcome", outcome))
        except BaseException as exc:  # reaches the driver as this task's error
            messages.put(("raise", exc))

    threading.Thread(target=work, name="invocation", daemon=True).start()
    try:
        while True:
            kind, item = messages.get()
            if kind == "p":
                yield {"progress": item}
                continue
            if kind == "raise":
                raise item
            log_file = log_dir / f"{inv.id}.log"
            log = log_file.read_text(errors="replace") if log_file.exists() else ""
            record = item.record.model_copy(update={"node": node})
            yield {"outcome": {"record": record.model_dump(mode="json"), "result": item.result}, "log": log}
            return
    finally:
        executor.stop()  # the task was cancelled (a generator closed early): end the process too
        shutil.rmtree(log_dir, ignore_errors=True)


@dataclass
class _Task:
    """One submitted invocation, as the driver sees it."""

    inv: Invocation
    stream: Any = None  # Ray's ObjectRefGenerator
    node: str | None = None
    started: float | None = None  # monotonic, when the node said it started
    outcome: Outcome | None = None


class RayExecutor:
    name = "ray"

    def __init__(self, log_dir: Path, options: dict[str, Any] | None = None, target: str = "local") -> None:
        self.log_dir = log_dir
        self.options = options or {}
        self.target = target
        self._live: dict[str, _Task] = {}
        # Reentrant: stop() runs in a signal handler, which may interrupt the main thread while it holds the lock.
        self._lock = threading.RLock()
        self._stopped = False

    def _connect(self) -> Any:
        import ray

        if not ray.is_initialized():
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves this machine unasked
            # Ray's core logs warnings (e.g. that it could not reach 8.8.8.8 to find this host's address) to
            # stderr, between the progress bars; errors still show.
            os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "error")
            # None: RAY_ADDRESS when set, else a Ray instance started for this run on this machine.
            ray.init(
                address=self.options.get("address"),
                namespace="mlspec",
                log_to_driver=False,  # the functions' output goes to each invocation's log, as on every executor
                logging_level=logging.WARNING,
            )
        return ray

    def stop(self) -> None:
        """Cancels every running task (its worker process is killed, and the invocation's process with it)."""
        with self._lock:
            self._stopped = True
            live = list(self._live.values())
        self._cancel(live)

    def run_group(self, invocations: list[Invocation], limits: Limits, on_progress: ProgressCallback) -> list[Outcome]:
        if not invocations:
            return []
        ray = self._connect()
        from ray.util.placement_group import placement_group, remove_placement_group
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        self.log_dir.mkdir(parents=True, exist_ok=True)
        vcpu = limits.vcpu or DEFAULT_VCPU
        limits = replace(limits, vcpu=vcpu)  # the node's process: as many threads as Ray reserved CPUs
        bundle = {"CPU": vcpu, "memory": limits.memory_mb * MB}
        cap = limits.max_concurrency or len(invocations)
        together = len(invocations) > 1 and cap >= len(invocations)
        if together:
            self._check_fits(ray, bundle, len(invocations))
        group = placement_group([bundle] * len(invocations), strategy="SPREAD") if together else None
        tasks = [_Task(inv) for inv in invocations]
        remote = ray.remote(run_on_node)
        options = {"num_cpus": bundle["CPU"], "memory": bundle["memory"], "max_retries": 0, "num_returns": "streaming"}

        def submit(i: int, messages: queue.Queue[tuple[int, str, Any]]) -> None:
            where = PlacementGroupSchedulingStrategy(group, placement_group_bundle_index=i) if group else "SPREAD"
            self._submit(remote.options(**options, scheduling_strategy=where), tasks[i], i, limits, messages)

        try:
            if group is not None:
                self._wait_for(ray, group, invocations, bundle, on_progress)
            self._drive(tasks, submit, cap, limits, on_progress)
        finally:
            with self._lock:
                for task in tasks:
                    self._live.pop(task.inv.id, None)
            if group is not None:
                remove_placement_group(group)
        return [task.outcome for task in tasks if task.outcome is not None]

    def _drive(
        self,
        tasks: list[_Task],
        submit: Callable[[int, queue.Queue[tuple[int, str, Any]]], None],
        cap: int,
        limits: Limits,
        on_progress: ProgressCallback,
    ) -> None:
        """Submits the tasks (at most `cap` at once) and follows their streams until each has an outcome; once
        one fails, the others are cancelled and nothing more is submitted, as on the local executor."""
        messages: queue.Queue[tuple[int, str, Any]] = queue.Queue()
        waiting = list(range(len(tasks)))
        running: set[int] = set()
        failed: _Task | None = None
        while waiting or running:
            while waiting and len(running) < cap and failed is None:
                submit(waiting[0], messages)
                running.add(waiting.pop(0))
            try:
                i, kind, item = messages.get(timeout=POLL_S)
            except queue.Empty:
                i, kind, item = -1, "", None
            task = tasks[i] if i in running else None
            if task is not None and kind == "started":
                task.node, task.started = item, time.monotonic()
                on_progress(task.inv.id, {"phase": f"running on ray node {item}"})
            elif task is not None and kind == "progress":
                on_progress(task.inv.id, item)
            elif task is not None and kind == "outcome":
                running.discard(i)
                task.outcome = self._received(task.inv, item)
            elif task is not None and kind == "failed":
                running.discard(i)
                # Cancelled because another failed, or failed itself.
                stopped: tuple[InvocationStatus, str] = (
                    ("killed", f"stopped because {failed.inv.id} failed") if failed else _task_error(item)
                )
                task.outcome = self._unfinished(task, limits, *stopped)
            running -= self._silent(tasks, running, limits)
            if failed is None:
                failed = next((t for t in tasks if t.outcome and t.outcome.record.status != "ok"), None)
                if failed is not None:
                    self._cancel([tasks[j] for j in running])
        for task in tasks:
            if task.outcome is None:  # never submitted: an earlier one failed
                cause = failed.inv.id if failed else "another invocation"
                task.outcome = self._unfinished(task, limits, "killed", f"not started because {cause} failed")

    def _check_fits(self, ray: Any, bundle: dict[str, float], count: int) -> None:
        """Refuses a group that no placement of the cluster's nodes could hold at once (first fit, by node)."""
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        free = [[float(r.get("CPU", 0)), float(r.get("memory", 0))] for r in nodes]
        placed = 0
        for room in free:
            while placed < count and room[0] >= bundle["CPU"] - 1e-9 and room[1] >= bundle["memory"]:
                room[0] -= bundle["CPU"]
                room[1] -= bundle["memory"]
                placed += 1
        if placed < count:
            cpus = sum(float(r.get("CPU", 0)) for r in nodes)
            memory = sum(float(r.get("memory", 0)) for r in nodes) / MB
            raise ClusterTooSmall(
                f"the Ray cluster cannot run {count} invocations of {bundle['CPU']:g} vCPU and "
                f"{bundle['memory'] / MB:,.0f} MB at once (it has {len(nodes)} nodes: {cpus:g} CPUs, "
                f"{memory:,.0f} MB); fewer workers, or a bigger cluster"
            )

    def _wait_for(
        self, ray: Any, group: Any, invocations: list[Invocation], bundle: dict[str, float], on_progress: Any
    ) -> None:
        """Until the cluster has reserved the whole group (other stages may hold it for now)."""
        ready = group.ready()
        said = False
        while not ray.wait([ready], timeout=POLL_S * 5)[0]:
            if self._stopped:
                raise KeyboardInterrupt
            if not said:
                for inv in invocations:
                    on_progress(inv.id, {"phase": f"waiting for {len(invocations)} x {bundle['CPU']:g} CPU on ray"})
                said = True

    def _submit(self, remote: Any, task: _Task, i: int, limits: Limits, messages: queue.Queue[Any]) -> None:
        with self._lock:
            if self._stopped:
                raise KeyboardInterrupt  # the run is being stopped: start nothing more
            task.stream = remote.remote(task.inv, limits, self.target)
            self._live[task.inv.id] = task
        threading.Thread(target=_follow, args=(task.stream, i, messages), daemon=True).start()

    def _cancel(self, tasks: list[_Task]) -> None:
        if not tasks:
            return  # nothing to cancel: Ray need not be imported
        import ray

        for task in tasks:
            if task.stream is not None:
                ray.cancel(task.stream, force=True)

    def _silent(self, tasks: list[_Task], running: set[int], limits: Limits) -> set[int]:
        """Started tasks whose node has not answered long past the time limit: given up on (and cancelled)."""
        given_up = set()
        for i in running:
            task = tasks[i]
            if task.started is not None and time.monotonic() - task.started > limits.timeout_s + WAIT_GRACE_S:
                self._cancel([task])
                message = f"no outcome within timeout_s={limits.timeout_s:g} (+{WAIT_GRACE_S:g} s grace)"
                task.outcome = self._unfinished(task, limits, "timeout", message)
                given_up.add(i)
        return given_up

    def _received(self, inv: Invocation, item: dict[str, Any]) -> Outcome:
        """The outcome a node sent; its log appended to the invocation's log here."""
        with open(self.log_dir / f"{inv.id}.log", "a") as log:
            log.write(item.get("log", ""))
        data = item["outcome"]
        record = InvocationRecord.model_validate({**data["record"], "target": self.target})
        return Outcome(record, data["result"])

    def _unfinished(self, task: _Task, limits: Limits, status: InvocationStatus, error: str) -> Outcome:
        record = InvocationRecord(
            **identity(task.inv),
            target=self.target,
            started_at=time.time(),
            wall_s=time.monotonic() - task.started if task.started is not None else 0.0,
            cpu_s=None,
            peak_rss_mb=None,
            cold_start=True,
            status=status,
            error=error,
            memory_limit_mb=limits.memory_mb,
            time_limit_s=limits.timeout_s,
            vcpu=limits.vcpu,
            node=task.node,
        )
        return Outcome(record, None)


def _follow(stream: Any, i: int, messages: queue.Queue[tuple[int, str, Any]]) -> None:
    """Reads one task's stream into the driver's queue (one thread per task: Ray's get blocks)."""
    import ray

    try:
        for ref in stream:
            item = ray.get(ref)
            if "started" in item:
                messages.put((i, "started", item["started"]))
            elif "progress" in item:
                messages.put((i, "progress", item["progress"]))
            else:
                messages.put((i, "outcome", item))
                return
        messages.put((i, "failed", RuntimeError("the task ended without an outcome")))
    except Exception as exc:
        messages.put((i, "failed", exc))


def _task_error(exc: BaseException) -> tuple[InvocationStatus, str]:
    """Status and one-line message of a task Ray reports as failed: its node's memory monitor killed it
    (`memory`), it was cancelled (`killed`), or its worker or node died (`error`: retried from checkpoint)."""
    from ray import exceptions

    cause = exc.cause if isinstance(exc, exceptions.RayTaskError) and exc.cause is not None else exc
    if isinstance(cause, exceptions.OutOfMemoryError):
        status: InvocationStatus = "memory"
    elif isinstance(cause, exceptions.TaskCancelledError):
        status = "killed"
    else:
        status = "error"
    first_line = next((line for line in str(cause).splitlines() if line.strip()), "")
    return status, one_line(f"{type(cause).__name__}: {first_line}")[:300]


__all__ = ["RayExecutor", "run_on_node"]
