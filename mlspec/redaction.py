"""What mlspec writes or shows of user-provided text: credentials in URLs (`redis://:password@host`,
`https://user:password@host`) masked, and terminal control sequences made visible instead of obeyed.

The functions that need a credential get the spec's real URL in their invocation event; records,
spec.json, tables and messages only ever get it through `redact`."""

from __future__ import annotations

import re
from typing import TypeVar

MASK = "***"
# scheme://userinfo@ : the userinfo runs to the last "@" before the host's end ("/", "?", "#", a quote or space).
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#\s\"'<>]*)@")
# C0 and C1 control characters (ESC starts colour, cursor and title sequences; BEL ends some), and DEL.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

T = TypeVar("T")


def redact(text: str) -> str:
    """`text` with every URL's password (or, without one, its whole userinfo) replaced by ***."""
    return _USERINFO.sub(_mask, text)


def _mask(match: re.Match[str]) -> str:
    user, colon, _ = match["userinfo"].partition(":")
    return f"{match['scheme']}{user}:{MASK}@" if colon else f"{match['scheme']}{MASK}@"


def redact_data(value: T) -> T:
    """A copy of JSON-like data with `redact` applied to every string in it."""
    if isinstance(value, str):
        return redact(value)  # type: ignore[return-value]
    if isinstance(value, dict):
        return {key: redact_data(item) for key, item in value.items()}  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return type(value)(redact_data(item) for item in value)
    return value


def printable(text: str) -> str:
    """`text` fit to print on a terminal: credentials redacted and control characters (except newline and
    tab) shown as escapes such as \\x1b, so that a spec string cannot recolour the terminal or retitle it."""
    return _CONTROL.sub(lambda m: repr(m[0])[1:-1], redact(text))
