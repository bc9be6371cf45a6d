"""The pipeline language: load, validate, override and export the schema of pipeline.yaml."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from mlspec.errors import Problem, SpecError
from mlspec.spec.loader import Located, parse_yaml, read_spec_text, validate
from mlspec.spec.models import Pipeline
from mlspec.spec.overrides import apply_overrides


def load(path: str | Path, overrides: list[str] | None = None) -> Pipeline:
    """Load and validate a spec file; raises SpecError with file:line:col problems."""
    return load_text(read_spec_text(Path(path)), str(path), overrides)


def load_text(text: str, file: str = "<spec>", overrides: list[str] | None = None) -> Pipeline:
    try:
        located = parse_yaml(text, file)
    except ValueError:
        problem = _too_long_integer(text, file)
        if problem is None:
            raise
        raise SpecError([problem]) from None
    apply_overrides(located, overrides or [])
    return validate(located, file)


def _too_long_integer(text: str, file: str) -> Problem | None:
    """Where the YAML holds an integer longer than Python converts (4,300 digits by default, a guard against
    quadratic-time conversion), which the YAML parser reports as a bare ValueError."""
    limit = sys.get_int_max_str_digits()
    match = re.search(rf"\d{{{limit + 1},}}", text) if limit else None
    if match is None:
        return None
    line = text.count("\n", 0, match.start()) + 1
    col = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
    return Problem(file, line, col, f"a number of {len(match.group())} digits: too large for any setting")


def json_schema() -> dict[str, object]:
    schema = Pipeline.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlspec pipeline"
    return schema


__all__ = ["Located", "Pipeline", "json_schema", "load", "load_text"]
