"""The pipeline language: load, validate, override and export the schema of pipeline.yaml."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from mlspec.spec.loader import (
    Located,
    parse_yaml,
    read_spec_text,
    resolve_dataset_paths,
    resolve_user_code,
    validate,
)
from mlspec.spec.models import Pipeline
from mlspec.spec.overrides import apply_overrides


def _print_note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def load(path: str | Path, overrides: list[str] | None = None, note: Callable[[str], None] = _print_note) -> Pipeline:
    """Load and validate a spec file; raises SpecError with file:line:col problems. Relative local dataset
    paths become absolute: those in the file against the file's folder, those given with --set against the
    current directory; so are files named by import path (models, transforms), whose source is read into the
    stage. `note` gets one-line notices (deprecated path forms)."""
    file = str(path)
    pipeline, located = _load(read_spec_text(Path(path)), file, overrides)
    resolve_dataset_paths(pipeline, located, Path(path).parent, file, note)
    resolve_user_code(pipeline, located, Path(path).parent, file)
    return pipeline


def load_text(text: str, file: str = "<spec>", overrides: list[str] | None = None) -> Pipeline:
    """A spec from text; files it names by import path are relative to the current directory."""
    pipeline, located = _load(text, file, overrides)
    resolve_user_code(pipeline, located, Path.cwd(), file)
    return pipeline


def _load(text: str, file: str, overrides: list[str] | None) -> tuple[Pipeline, Located]:
    located = parse_yaml(text, file)
    apply_overrides(located, overrides or [])
    return validate(located, file), located


def json_schema() -> dict[str, object]:
    schema = Pipeline.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mlspec pipeline"
    return schema


__all__ = ["Located", "Pipeline", "json_schema", "load", "load_text"]
