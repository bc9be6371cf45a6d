"""The pipeline language: load, validate, override and export the schema of pipeline.yaml."""

from __future__ import annotations

from pathlib import Path

from mlspec.spec.loader import Located, parse_yaml, read_spec_text, validate
from mlspec.spec.models import Pipeline
from mlspec.spec.overrides import apply_overrides


def load(path: str | Path, overrides: list[str] | None = None) -> Pipeline:
    """Load and validate a spec file; raises SpecError with file:line:col problems."""
    return load_text(read_spec_text(Path(path)), str(path), overrides)


def load_text(text: str, file: str = "<spec>", overrides: list[str] | None = None) -> Pipeline:
    located = parse_yaml(text, file)
    apply_overrides(located, overrides or [])
    return validate(located, file)


def json_schema() -> dict[str, object]:
    schema = Pipeline.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlspec pipeline"
    return schema


__all__ = ["Located", "Pipeline", "json_schema", "load", "load_text"]
