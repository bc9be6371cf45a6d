"""Safe loading of pipeline.yaml with every error mapped back to `file:line:col`.

Safety: UTF-8 text only, a size cap, one document, no tags beyond YAML's core ones, no anchors or
aliases (so no alias bombs), duplicate keys rejected. The YAML is parsed into plain data plus a map
from each key path to its position, and pydantic errors are located through that map.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlspec.errors import Problem, SpecError
from mlspec.spec.models import REFERENCE_KINDS, Pipeline
from mlspec.wording import article

MAX_SPEC_BYTES = 1 << 20
MAX_DEPTH = 64
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}

KeyPath = tuple[str | int, ...]
Position = tuple[int, int]


@dataclass
class Located:
    """Plain data from YAML, with the 1-based (line, col) of every key and value by path."""

    data: Any
    key_positions: dict[KeyPath, Position] = field(default_factory=dict)
    value_positions: dict[KeyPath, Position] = field(default_factory=dict)
    # Paths set on the command line: problems there are reported against the --set flag.
    overrides: dict[KeyPath, str] = field(default_factory=dict)

    def locate(self, path: KeyPath, file: str, message: str, prefer_key: bool = False) -> Problem:
        for i in range(len(path), -1, -1):
            prefix = path[:i]
            if prefix in self.overrides:
                return Problem(f"--set {self.overrides[prefix]}", None, None, message)
            first, second = (
                (self.key_positions, self.value_positions)
                if prefer_key
                else (self.value_positions, self.key_positions)
            )
            pos = first.get(prefix) or second.get(prefix)
            if pos is not None:
                return Problem(file, pos[0], pos[1], message)
        return Problem(file, 1, 1, message)


def read_spec_text(path: Path) -> str:
    """The file's text, or a SpecError for a missing, huge or non-UTF-8 file."""
    name = str(path)
    try:
        raw = path.read_bytes()[: MAX_SPEC_BYTES + 1]
    except FileNotFoundError:
        raise SpecError([Problem(name, None, None, "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(name, None, None, "is a directory, expected a pipeline.yaml file")]) from None
    except OSError as exc:
        raise SpecError([Problem(name, None, None, f"cannot read: {exc.strerror}")]) from None
    if len(raw) > MAX_SPEC_BYTES:
        raise SpecError([Problem(name, None, None, f"larger than {MAX_SPEC_BYTES} bytes; not a pipeline spec")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError([Problem(name, line, col, "not UTF-8 text (binary file?)")]) from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise SpecError([Problem(name, line, 1, "contains NUL bytes (binary file?)")])
    return text.removeprefix("\ufeff")


def parse_yaml(text: str, file: str) -> Located:
    """Parse one YAML document into plain data with positions, rejecting unsafe constructs."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    yaml = YAML(typ="rt", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        _check_events(yaml.parse(text), file)
        docs = list(yaml.load_all(text))
    except SpecError:
        raise
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = _yaml_message(exc)
        if mark is None:
            raise SpecError([Problem(file, 1, 1, message)]) from None
        raise SpecError([Problem(file, mark.line + 1, mark.column + 1, message)]) from None
    except YAMLError as exc:
        raise SpecError([Problem(file, 1, 1, f"invalid YAML: {str(exc).splitlines()[0]}")]) from None
    except RecursionError:
        raise SpecError([Problem(file, 1, 1, "nested too deeply")]) from None
    if not docs or docs[0] is None:
        raise SpecError([Problem(file, 1, 1, "empty spec: expected a mapping with name, datasets and stages")])
    located = Located(None)
    located.data = _to_plain(docs[0], (), located, 0, file)
    if not isinstance(located.data, dict):
        raise SpecError([Problem(file, 1, 1, "expected a mapping (name:, datasets:, stages:) at the top level")])
    return located


def _yaml_message(exc: Any) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    message = "; ".join(str(p).strip() for p in parts) or "invalid YAML"
    if "\t" in message or "tab" in message.lower():
        return f"invalid YAML: {message} (YAML does not allow tabs for indentation)"
    if "duplicate key" in message:
        key = str(exc.problem).split('"')[1] if '"' in str(exc.problem) else ""
        return f"duplicate key {key!r}".replace(" ''", "")
    return f"invalid YAML: {message}"


def _check_events(events: Iterable[Any], file: str) -> None:
    """Reject what a spec never needs before anything is built from the YAML."""
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent

    state = {"documents": 0, "depth": 0}
    for event in events:
        if isinstance(event, CollectionStartEvent):
            state["depth"] += 1
        elif isinstance(event, CollectionEndEvent):
            state["depth"] -= 1
        message = _event_problem(event, state)
        if message:
            mark = event.start_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            raise SpecError([Problem(file, line, col, message)])


def _event_problem(event: Any, state: dict[str, int]) -> str | None:
    from ruamel.yaml.events import AliasEvent, CollectionStartEvent, DocumentStartEvent, NodeEvent, ScalarEvent

    if isinstance(event, DocumentStartEvent):
        state["documents"] += 1
        if state["documents"] > 1:
            return "more than one YAML document; a spec is one document"
    if isinstance(event, AliasEvent):
        return "YAML aliases (*name) are not allowed in a spec"
    if isinstance(event, NodeEvent) and event.anchor is not None:
        return "YAML anchors (&name) are not allowed in a spec"
    tag = getattr(event, "tag", None)
    if isinstance(event, ScalarEvent | CollectionStartEvent) and tag is not None and tag != "!":
        full = tag if tag.startswith("tag:") else tag.replace("!!", "tag:yaml.org,2002:", 1)
        if full not in _CORE_TAGS:
            return f"YAML tag {tag} is not allowed in a spec"
    if state["depth"] > MAX_DEPTH:
        return f"nested deeper than {MAX_DEPTH} levels"
    return None


def _to_plain(node: Any, path: KeyPath, located: Located, depth: int, file: str) -> Any:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            line, col = node.lc.key(key)
            if not isinstance(key, str):
                raise SpecError([Problem(file, line + 1, col + 1, f"keys must be strings, got {key!r}")])
            child = (*path, key)
            located.key_positions[child] = (line + 1, col + 1)
            vline, vcol = node.lc.value(key)
            located.value_positions[child] = (vline + 1, vcol + 1)
            out[key] = _to_plain(node[key], child, located, depth + 1, file)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, item in enumerate(node):
            line, col = node.lc.item(i)
            located.value_positions[(*path, i)] = (line + 1, col + 1)
            items.append(_to_plain(item, (*path, i), located, depth + 1, file))
        return items
    if isinstance(node, str):
        return str(node)
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if node is None:
        return None
    # Timestamps and other implicit types are passed on as text; the models decide.
    return str(node)


def validate(located: Located, file: str) -> Pipeline:
    """Pydantic validation, then cross-references; every problem located in the file."""
    try:
        pipeline = Pipeline.model_validate(located.data)
    except ValidationError as exc:
        raise SpecError(_problems_from_validation(exc, located, file)) from None
    problems = [located.locate(path, file, message) for path, message in reference_problems(pipeline)]
    if problems:
        raise SpecError(problems)
    return pipeline


def _problems_from_validation(exc: ValidationError, located: Located, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], located.data)
        kind = error["type"]
        where = ".".join(str(p) for p in path) or "the top level"
        if kind == "extra_forbidden":
            problem = located.locate(path, file, f"unknown key {path[-1]!r} in {_parent(path)}", prefer_key=True)
        elif kind == "missing":
            problem = located.locate(path[:-1], file, f"missing required key {path[-1]!r} in {_parent(path)}",
                                     prefer_key=True)
        elif kind == "union_tag_invalid" or kind == "union_tag_not_found":
            problem = located.locate(path, file, f"{where}: {error['msg']}")
        else:
            value = error.get("input")
            shown = f" (got {value!r})" if isinstance(value, str | int | float | bool) and len(repr(value)) < 60 else ""
            problem = located.locate(path, file, f"{where}: {error['msg']}{shown}")
        if str(problem) not in seen:
            seen.add(str(problem))
            problems.append(problem)
    return problems


def _data_path(loc: tuple[int | str, ...], data: Any) -> KeyPath:
    """Drop the union-member names pydantic inserts (e.g. 'train' for a tagged union) from error paths."""
    path: list[str | int] = []
    node: Any = data
    for part in loc:
        if isinstance(node, dict | list) and _has(node, part):
            path.append(part)
            node = node[part]  # type: ignore[index]
        elif isinstance(node, dict) and isinstance(part, str) and "kind" in node and part == node.get("kind"):
            continue
        else:
            path.append(part)
            node = None
    return tuple(path)


def _has(node: dict[str, Any] | list[Any], part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _parent(path: KeyPath) -> str:
    return ".".join(str(p) for p in path[:-1]) or "the top level"


def reference_problems(pipeline: Pipeline) -> list[tuple[KeyPath, str]]:
    """Dangling or mistyped references between stages and datasets."""
    problems: list[tuple[KeyPath, str]] = []
    for name, stage in pipeline.stages.items():
        for field_name, target in stage.dataset_refs().items():
            if target not in pipeline.datasets:
                known = ", ".join(pipeline.datasets) or "none"
                problems.append(
                    (("stages", name, field_name), f"unknown dataset {target!r} (datasets: {known})")
                )
        for field_name, target in stage.stage_refs().items():
            path = ("stages", name, field_name)
            if target not in pipeline.stages:
                problems.append((path, f"unknown stage {target!r} (stages: {', '.join(pipeline.stages)})"))
                continue
            allowed = REFERENCE_KINDS.get((stage.kind, field_name))
            actual = pipeline.stages[target].kind
            if allowed and actual not in allowed:
                problems.append(
                    (path, f"stage {target!r} is {article(actual)} stage; {stage.kind}.{field_name} needs "
                     + " or ".join(allowed))
                )
    if problems:
        return problems
    problems.extend(_model_data_problems(pipeline))
    problems.extend(_tune_problems(pipeline))
    return problems


def _tune_problems(pipeline: Pipeline) -> list[tuple[KeyPath, str]]:
    """A tune stage tunes exactly one train stage (the one naming it in `hyperparameters`), on its data."""
    from mlspec.spec.models import TrainStage, TuneStage

    out: list[tuple[KeyPath, str]] = []
    for name, stage in pipeline.stages.items():
        if not isinstance(stage, TuneStage):
            continue
        users = [(n, s) for n, s in pipeline.stages.items()
                 if isinstance(s, TrainStage) and s.hyperparameters == name]  # fmt: skip
        if len(users) != 1:
            found = f"{len(users)} do ({', '.join(n for n, _ in users)})" if users else "none does"
            out.append((("stages", name), f"tune stage {name!r} must be named by exactly one train stage's "
                        f"`hyperparameters: {name}`, but {found}"))
        elif users[0][1].data != stage.data:
            out.append((("stages", name, "data"), f"tunes {users[0][0]!r}, which trains on {users[0][1].data!r}, "
                        f"but its own data is {stage.data!r}"))
        elif "admm_rho" in stage.space and users[0][1].algorithm != "admm":
            out.append((("stages", name, "space", "admm_rho"), f"{users[0][0]!r} does not use algorithm admm"))
    return out


def _model_data_problems(pipeline: Pipeline) -> list[tuple[KeyPath, str]]:
    from mlspec.spec.models import TrainStage

    needs = {"small_cnn": "cifar10", "logistic_regression": "imdb"}
    out: list[tuple[KeyPath, str]] = []
    for name, stage in pipeline.stages.items():
        if isinstance(stage, TrainStage):
            fmt = pipeline.datasets[pipeline.dataset_of(name)].format
            if needs[stage.model] != fmt:
                out.append((("stages", name, "model"),
                            f"model {stage.model} trains on {needs[stage.model]} data, but {stage.data!r} "
                            f"reads {article(fmt)} dataset"))
    return out
