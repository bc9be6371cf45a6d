"""The value types every part of pipeline.yaml shares: strict models, names, seeds, memory, durations, money."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class StrictModel(BaseModel):
    # strict: `workers: true` or `epochs: 2.5` are mistakes, not 1 and 2; no .inf/.nan in any float field.
    model_config = ConfigDict(extra="forbid", validate_default=True, strict=True, allow_inf_nan=False)


# Every seed ends up in numpy's and scikit-learn's legacy generators, which take 0..2**32-1.
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
# The most memory any target offers a function: a local machine's (the clouds stop at 48 GB, IBM Code Engine).
MAX_MEMORY_MB = 1_048_576
MemoryMb = Annotated[int, Field(ge=64, le=MAX_MEMORY_MB)]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?\s*$")
_SECONDS_PER_UNIT = {"ms": 0.001, "s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 1}


def _parse_duration(value: Any) -> Any:
    """Accept 90, 90.5, "90s", "30m", "2h", "1d"; plain numbers are seconds."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"not a duration: {value!r} (use seconds, or a number with ms, s, m, h or d)")
        return float(match.group(1)) * _SECONDS_PER_UNIT[match.group(2)]
    return value


def _parse_usd(value: Any) -> Any:
    """Accept 1.5, "1.5", "$1.50", "1.5 USD"."""
    if isinstance(value, str):
        cleaned = value.strip().removeprefix("$").removesuffix("USD").strip()
        try:
            return float(cleaned)
        except ValueError:
            raise ValueError(f'not an amount in USD: {value!r} (e.g. 2.50 or "$2.50")') from None
    return value


# A year: longer than any platform's time limit or deadline, and well inside what OS timers accept.
MAX_SECONDS = 366 * 86400
Seconds = Annotated[float, BeforeValidator(_parse_duration), Field(gt=0, le=MAX_SECONDS)]
Usd = Annotated[float, BeforeValidator(_parse_usd), Field(gt=0)]
