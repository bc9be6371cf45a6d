"""Files written whole or not at all: a temporary file in the same folder, renamed over the target (a
reader sees the old content or the new, never part of either), removed again when anything fails."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

#: What the temporary files start with, so that a listing can skip one whose writer is still at work.
TEMPORARY_PREFIX = ".tmp-"


def write_all(fd: int, data: bytes) -> None:
    """Every byte of `data` to `fd` (os.write may write fewer than asked)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomically(
    path: Path,
    data: bytes,
    *,
    mode: int | None = None,
    mtime: float | None = None,
    writer: Callable[[int, bytes], None] = write_all,
) -> None:
    """Replace `path` with `data` atomically; `mode` and `mtime` are set before the rename. `writer` does
    the low-level write (the run store passes its own, which tests make fail)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TEMPORARY_PREFIX)
    try:
        try:
            writer(fd, data)
        finally:
            os.close(fd)
        if mode is not None:
            os.chmod(tmp, mode)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
