"""`--set dotted.key=value` overrides, applied to the parsed data before validation."""

from __future__ import annotations

from typing import Any

from mlspec.errors import Problem, SpecError
from mlspec.spec.loader import Located


def parse_assignment(assignment: str) -> tuple[tuple[str, ...], Any]:
    """'stages.train.workers=4' -> (('stages', 'train', 'workers'), 4); the value is a YAML scalar."""
    key, sep, raw = assignment.partition("=")
    parts = tuple(key.strip().split("."))
    if not sep or not key.strip() or any(not p for p in parts):
        raise SpecError([Problem(f"--set {assignment}", None, None, "expected dotted.key=value")])
    return parts, _scalar(raw.strip(), assignment)


def _scalar(raw: str, assignment: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if raw == "":
        return ""
    try:
        value = YAML(typ="safe", pure=True).load(raw)
    except YAMLError:
        return raw
    except ValueError:  # Python refuses to convert integers of more than 4,300 digits (a denial-of-service guard)
        key, digits = assignment.partition("=")[0], sum(c.isdigit() for c in raw)
        raise SpecError([Problem(f"--set {key}=<{digits} digits>", None, None, "too large for any setting")]) from None
    if isinstance(value, dict | list):
        raise SpecError([Problem(f"--set {assignment}", None, None, "value must be a single scalar")])
    return value


def apply_overrides(located: Located, assignments: list[str]) -> None:
    for assignment in assignments:
        parts, value = parse_assignment(assignment)
        node = located.data
        for depth, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
                located.overrides.setdefault(parts[: depth + 1], assignment)  # a problem there is this flag's
            if not isinstance(child, dict):
                where = ".".join(parts[: depth + 1])
                raise SpecError([Problem(f"--set {assignment}", None, None, f"{where} is not a mapping")])
            node = child
        node[parts[-1]] = value
        located.overrides[parts] = assignment
