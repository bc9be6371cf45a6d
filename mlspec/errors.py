"""User-facing errors: each carries a message meant to be printed as is, without a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class MlspecError(Exception):
    """An error caused by the user's input or environment. `exit_code` follows the CLI convention:
    2 for bad input (spec, arguments), 1 for a run that failed. `permanent`: retrying cannot help (the input
    itself is bad), so a function failing with it is not restarted."""

    exit_code = 1
    permanent = False

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.permanent:
            _PERMANENT.add(cls.__name__)


_PERMANENT: set[str] = set()


def is_permanent(error: str | None) -> bool:
    """Whether an invocation's error, which every executor reports as `TypeName: message`, is a permanent
    MlspecError (one of the classes marked so, all imported by the coordinator before any stage runs)."""
    return (error or "").partition(":")[0] in _PERMANENT


class UsageError(MlspecError):
    exit_code = 2


class RequestError(MlspecError):
    """An invocation that cannot be served as sent (unknown function, malformed inputs): the caller's
    fault, so HTTP shims answer with `status` (a 4xx) instead of 500."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def shown_path(name: str, limit: int = 200) -> str:
    """A file name short enough for a one-line message (a hostile name can be thousands of characters)."""
    if len(name) <= limit:
        return name
    return f"{name[: limit // 2]}...{name[-limit // 2 :]} ({len(name)} characters)"


@dataclass(frozen=True)
class Problem:
    """One located problem in a spec: `file:line:col: message` (line and column are 1-based)."""

    file: str
    line: int | None
    col: int | None
    message: str

    def __str__(self) -> str:
        if self.line is None:
            return f"{self.file}: {self.message}"
        return f"{self.file}:{self.line}:{self.col or 1}: {self.message}"


class SpecError(UsageError):
    """A spec that cannot be loaded or validated; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UserCodeError(UsageError):
    """Code the user brought (a model by import path) failed: on import, construction or a batch. Permanent:
    a restart would fail the same way. Here, with the other errors, so every coordinator knows it by name.
    `user_traceback`: the frames of the user's own code (file names as the user knows them), for --debug."""

    permanent = True

    def __init__(self, message: str, user_traceback: str | None = None) -> None:
        super().__init__(message)
        self.user_traceback = user_traceback


class RunFailed(MlspecError):
    exit_code = 1


class RunRejected(RunFailed):
    """A run that failed because a function found its input unusable (a permanent error): bad input."""

    exit_code = 2


def exception_line(exc: BaseException) -> str:
    """`TypeName: message` of an exception, on one line: how every function reports its failure."""
    return one_line(f"{type(exc).__name__}: {exc}")


def one_line(text: object) -> str:
    """A platform's message (often several lines, or a whole HTML page) on one line."""
    return " ".join(str(text).split())
