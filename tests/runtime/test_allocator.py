"""keep_freed_memory: a freed large buffer stays in the process (its pages are reused, not touched afresh)."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Resident pages after a 256 MB buffer is touched and freed, with and without keep_freed_memory().
PROBE = """
import sys
from mlspec.runtime.allocator import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
buffer = bytearray(256 << 20)
buffer[:: 4096] = b"x" * len(range(0, 256 << 20, 4096))
del buffer
print(kept, resident_mb())
"""


def resident_after_free(mode: str) -> tuple[str, float]:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    kept, mb = out.split()
    return kept, float(mb)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt and /proc: Linux only")
def test_a_freed_large_buffer_stays_in_the_process_only_when_asked() -> None:
    kept, kept_mb = resident_after_free("keep")
    _, default_mb = resident_after_free("default")
    assert kept == "True"
    assert kept_mb > default_mb + 200  # the 256 MB stay resident for the next round to reuse
