"""A real two-node Ray cluster for the tests, in a network namespace of its own.

Ray binds the machine's other addresses by default; inside a fresh network namespace (`unshare -n`, its
loopback brought up) 127.0.0.1 is the only address there is, so the cluster and the mlspec runs that use it
(started with `nsenter` into that namespace) talk over loopback only. Processes stay visible from outside
(only the network is separate), so a test can find and kill a node's worker. Both nodes run on this
machine, each with the CPU and memory resources it is given; the fixture checks that no mlspec run of the
test is left running, then kills every process of the namespace."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.servers import _missing, require_module

PORT = 6390  # inside the cluster's own namespace: nothing else listens there
# Logical resources per node (Ray schedules by them; the processes share this machine's cores): two stages of
# two 2,048 MB workers side by side fit in the cluster.
NODE_CPUS = 2
NODE_MEMORY_BYTES = 8 * 2**30
OBJECT_STORE_BYTES = 100 * 2**20  # each node's shared-memory store; mlspec passes only small messages through it


@dataclass(frozen=True)
class RayCluster:
    namespace: str  # /proc/<pid>/ns/net of the process holding the namespace
    namespace_id: str  # what that link reads, e.g. net:[4026532301]: the same for every process inside
    temp_dir: Path
    address: str = f"127.0.0.1:{PORT}"

    def command(self, args: Sequence[str]) -> list[str]:
        """`args` run inside the cluster's network namespace."""
        return ["nsenter", f"--net={self.namespace}", *args]

    def mlspec(self, *args: str) -> list[str]:
        return self.command([sys.executable, "-m", "mlspec", *args])

    def processes(self) -> list[int]:
        """Every process running in the cluster's network namespace: its nodes, their workers, runs."""
        found = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and os.readlink(entry / "ns" / "net") == self.namespace_id:
                    found.append(int(entry.name))
            except OSError:
                continue
        return found


def _ray(cluster: RayCluster, *args: str) -> None:
    ray = str(Path(sys.executable).with_name("ray"))
    ray = ray if os.path.exists(ray) else shutil.which("ray") or "ray"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run(cluster.command([ray, *args]), check=True, capture_output=True, timeout=120, env=env)


@contextmanager
def ray_cluster() -> Iterator[RayCluster]:
    """A head node and a second node, each with NODE_CPUS CPUs and NODE_MEMORY_BYTES of memory."""
    require_module("ray", "pip install 'mlspec[ray]'")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        _missing("a network namespace of its own (unshare -n)", "run the tests as root")
    holder = subprocess.Popen(["unshare", "-n", "sleep", "infinity"])
    temp_dir = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))  # short: Ray's socket paths must stay short
    cluster: RayCluster | None = None
    try:
        cluster = RayCluster(f"/proc/{holder.pid}/ns/net", _wait_for_namespace(holder), temp_dir)
        subprocess.run(cluster.command(["ip", "link", "set", "lo", "up"]), check=True)
        node = [
            f"--num-cpus={NODE_CPUS}",
            f"--memory={NODE_MEMORY_BYTES}",
            f"--object-store-memory={OBJECT_STORE_BYTES}",
        ]
        node += ["--node-ip-address=127.0.0.1", "--disable-usage-stats"]
        _ray(cluster, "start", "--head", f"--port={PORT}", "--include-dashboard=false", f"--temp-dir={temp_dir}", *node)
        _ray(cluster, "start", f"--address={cluster.address}", *node)
        yield cluster
        left = _runs_left(cluster)
        assert not left, f"mlspec runs left running after the test: {left}"
    finally:
        # What `ray stop --force` does (SIGKILL), but only in this namespace: `ray stop` ends every Ray process
        # on the machine, another test worker's cluster (or the user's) among them.
        for pid in cluster.processes() if cluster else ():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        holder.kill()
        holder.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


def _runs_left(cluster: RayCluster) -> list[str]:
    """The command lines of `mlspec` processes still running in the cluster's namespace a while after the test
    (a run ends in seconds once its test is done; the nodes and their workers are killed next)."""
    deadline = time.monotonic() + 15
    while True:
        runs = []
        for pid in cluster.processes():
            with contextlib.suppress(OSError):
                argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                if argv[1:3] == [b"-m", b"mlspec"]:
                    runs.append(b" ".join(argv).decode()[:120])
        if not runs or time.monotonic() >= deadline:
            return runs
        time.sleep(0.1)


def _wait_for_namespace(holder: subprocess.Popen[bytes]) -> str:
    """The id of `holder`'s network namespace, once it runs in a new one."""
    mine = os.readlink("/proc/self/ns/net")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and holder.poll() is None:
        with contextlib.suppress(OSError):
            if (theirs := os.readlink(f"/proc/{holder.pid}/ns/net")) != mine:
                return theirs
        time.sleep(0.02)
    raise RuntimeError("unshare -n did not start")
