"""Errors in the code users bring (models by import path): one line naming the user's file and line."""

from __future__ import annotations

import os
import tempfile
import traceback
from pathlib import Path

from mlspec.errors import UserCodeError, exception_line


def code_dir() -> Path:
    """Where shipped files are written, one folder per content hash: under the temporary directory, this
    user's own (0700), so no other user of the machine can put code there first."""
    path = Path(tempfile.gettempdir()) / f"mlspec-code-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    if path.is_symlink() or path.stat().st_uid != os.getuid():
        raise UserCodeError(f"{path} belongs to another user: remove it")
    return path


def user_error(exc: BaseException, origin: str) -> UserCodeError | None:
    """UserCodeError naming the user's file and line when `exc` came from the user's code (`origin`: a shipped
    file's name or an installed module's name): its innermost frame there, or the line a SyntaxError names."""
    if isinstance(exc, SyntaxError) and exc.filename:
        where = f"{Path(exc.filename).name}:{exc.lineno}"
        return UserCodeError(f"{where}: SyntaxError: {exc.msg}", f"{where}\n    {(exc.text or '').strip()}\n")
    shipped = code_dir()
    installed = "/" + origin.replace(".", "/") + ".py"
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).is_relative_to(shipped) or f.filename.endswith(installed)
    ]
    if not frames:
        return None
    for frame in frames:  # as the user knows the file: a shipped copy's folder means nothing to them
        frame.filename = Path(frame.filename).name if Path(frame.filename).is_relative_to(shipped) else frame.filename
    shown = "Traceback (your code only):\n" + "".join(traceback.format_list(frames)) + exception_line(exc) + "\n"
    return UserCodeError(f"{Path(frames[-1].filename).name}:{frames[-1].lineno}: {exception_line(exc)}", shown)
