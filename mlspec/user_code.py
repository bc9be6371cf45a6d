"""Code users bring, named by import path: `file.py:Name` (a file beside the spec, whose source travels with
the stage) or `package.module:Name` (an installed package). Used for models, preprocessing transforms and
vectorizers alike.

A file's source travels in the function's event (`code`: name, sha256, source; the spec loader reads it),
so a function never reads the user's working directory: it writes the source once per content hash under
this user's temporary directory and imports it from there, as a module named by that hash (so an object
pickled from it loads again in another process). Errors in the user's code are one line naming the user's
file and line (UserCodeError: permanent, so a stage failing with it is not restarted)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import os
import sys
import tempfile
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from mlspec.errors import UserCodeError, exception_line
from mlspec.files import write_atomically


def load_object(name: str, code: dict[str, str] | None, what: str) -> tuple[Any, str]:
    """The object `module:attr` names (`what` it should be: "class" or "function"), and where it is from
    (the user's file name, or the module)."""
    module_name, _, attr = name.rpartition(":")
    if code is not None:
        module, origin = _module_from_source(code), code["name"]
    else:
        origin = module_name
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise user_error(exc, origin) or UserCodeError(f"{name}: {exception_line(exc)}") from None
    found = getattr(module, attr, None)
    if not (isinstance(found, type) if what == "class" else callable(found)):
        raise UserCodeError(f"{origin} has no {what} {attr!r}")
    return found, origin


def construct(cls: type, kwargs: dict[str, Any], name: str, origin: str, options_field: str) -> Any:
    """cls(**kwargs); an error in the user's code names its line, arguments that do not fit name the options."""
    try:
        return cls(**kwargs)
    except Exception as exc:
        found = user_error(exc, origin)
        if found is None and isinstance(exc, TypeError):  # the arguments did not fit the constructor
            found = UserCodeError(f"{name}: {exc} ({options_field}: {sorted(kwargs)})")
        raise found or exc from None


def parameters(cls: type) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(cls).parameters)
    except (TypeError, ValueError):
        return {}


def _module_from_source(code: dict[str, str]) -> ModuleType:
    digest = hashlib.sha256(code["source"].encode()).hexdigest()
    if digest != code["sha256"]:
        raise UserCodeError(f"{code['name']}: the source does not match its sha256 (the run's spec was altered)")
    module_name = f"mlspec_user_{digest[:16]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    path = code_dir() / digest[:16] / code["name"]
    if not path.exists() or path.read_bytes() != code["source"].encode():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, code["source"].encode())
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise user_error(exc, code["name"]) or UserCodeError(f"{code['name']}: {exception_line(exc)}") from None
    return module


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
