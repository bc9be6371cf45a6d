"""What the end-to-end benchmarks share: the real datasets' location and `python -m mlspec run` as a
user runs it, timed from outside."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def shared_data(name: str) -> Path | None:
    """A real dataset file from $MLSPEC_DATA or ../shared/data; None when absent."""
    folder = Path(os.environ.get("MLSPEC_DATA") or ROOT.parent / "shared" / "data")
    return folder / name if (folder / name).is_file() else None


def mlspec_run(example: str, runs: Path, overrides: list[str], *flags: str) -> tuple[float, dict[str, Any]]:
    """(wall seconds, run record) of `mlspec run examples/EXAMPLE --json` with `--set` overrides."""
    args = [sys.executable, "-m", "mlspec", "run", str(ROOT / "examples" / example), "--json"]
    args += ["--runs-dir", str(runs), *flags]
    for override in overrides:
        args += ["--set", override]
    started = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, timeout=3600, cwd=runs.parent)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"mlspec run failed: {proc.stderr[-2000:]}")
    record: dict[str, Any] = json.loads(proc.stdout)
    return wall, record


def absent(benchmark: str, name: str, verbose: bool) -> dict[str, str]:
    """The result of a benchmark (or part) that needs real data this machine does not have."""
    if verbose:
        print(f"{benchmark}: skipped, the real {name} is absent (set MLSPEC_DATA to its folder)")
    return {"skipped": f"{name} absent"}


def machine(load_start: float, quick: bool) -> dict[str, Any]:
    """What a benchmark's figures are read beside: the cores and the load average before and after."""
    return {
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg()[0],
        "quick": quick,
    }
