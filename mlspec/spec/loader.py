"""Safe loading of pipeline.yaml with every error mapped back to `file:line:col`.

Safety: UTF-8 text only, a size cap, one document, no tags beyond YAML's core ones, no anchors or
aliases (so no alias bombs), duplicate keys rejected. The YAML is parsed into plain data plus a map
from each key path to its position, and pydantic errors are located through that map.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import os
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mlspec.errors import Problem, SpecError, shown_path
from mlspec.spec.fields import NAME_PATTERN
from mlspec.spec.models import (
    REFERENCE_KINDS,
    IterativeStage,
    Pipeline,
    PreprocessStage,
    TrainStage,
    TuneStage,
    UserCode,
)
from mlspec.wording import article

MAX_SPEC_BYTES = 1 << 20
MAX_DEPTH = 64
# Python refuses to convert integers of more than 4,300 digits; no spec value comes near 100.
MAX_NUMBER_DIGITS = 100
_NUMBER = re.compile(r"^[-+]?(0[xob])?[0-9a-fA-F_.:]+([eE][-+]?[0-9_]+)?$")
_CORE_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:map",
    "tag:yaml.org,2002:seq",
}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

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
                (self.key_positions, self.value_positions) if prefer_key else (self.value_positions, self.key_positions)
            )
            pos = first.get(prefix) or second.get(prefix)
            if pos is not None:
                return Problem(file, pos[0], pos[1], message)
        return Problem(file, 1, 1, message)


def read_spec_text(path: Path) -> str:
    """The file's text, or a SpecError for a missing, huge or non-UTF-8 file, or anything but a regular
    file (a device such as /dev/zero never ends; a FIFO blocks until someone writes)."""
    name = shown_path(str(path))
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            if path.is_dir():
                raise IsADirectoryError
            raise SpecError(
                [
                    Problem(
                        name, None, None, "not a regular file (a device, FIFO or socket); expected a pipeline.yaml file"
                    )
                ]
            )
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still returns.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise SpecError([Problem(name, None, None, "not a regular file; expected a pipeline.yaml file")])
            raw = f.read(MAX_SPEC_BYTES + 1)
    except FileNotFoundError:
        raise SpecError([Problem(name, None, None, "no such file")]) from None
    except IsADirectoryError:
        raise SpecError([Problem(name, None, None, "is a directory, expected a pipeline.yaml file")]) from None
    except OSError as exc:
        raise SpecError([Problem(name, None, None, f"cannot read: {exc.strerror or exc}")]) from None
    except ValueError as exc:  # e.g. an embedded NUL in the name
        raise SpecError([Problem(name, None, None, f"not a usable file name: {exc}")]) from None
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
    from ruamel.yaml.events import CollectionEndEvent, CollectionStartEvent, MappingStartEvent, NodeEvent

    state = {"documents": 0, "depth": 0}
    # Per open collection: whether it is a mapping, and how many nodes it holds so far (even -> next is a key).
    open_collections: list[list[int]] = []
    for event in events:
        is_key = False
        if isinstance(event, NodeEvent) and open_collections:
            parent = open_collections[-1]
            is_key = bool(parent[0]) and parent[1] % 2 == 0
            parent[1] += 1
        if isinstance(event, CollectionStartEvent):
            state["depth"] += 1
            open_collections.append([isinstance(event, MappingStartEvent), 0])
        elif isinstance(event, CollectionEndEvent):
            state["depth"] -= 1
            open_collections.pop()
        message = _event_problem(event, state, is_key)
        if message:
            mark = event.start_mark
            line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
            raise SpecError([Problem(file, line, col, message)])


def _event_problem(event: Any, state: dict[str, int], is_key: bool) -> str | None:
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
    if isinstance(event, ScalarEvent) and event.style is None:
        if is_key and event.value == "<<":
            return "YAML merge keys (<<) are not allowed in a spec; write the keys out"
        digits = sum(c.isdigit() for c in event.value)
        if digits > MAX_NUMBER_DIGITS and _NUMBER.match(event.value):
            return f"a number with {digits} digits is not a spec value (quote it if it is text)"
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


def resolve_dataset_paths(
    pipeline: Pipeline, located: Located, spec_dir: Path, file: str, note: Callable[[str], None]
) -> None:
    """Make every local dataset path absolute, as DVC and Compose users expect: a path written in the spec
    is relative to the spec's folder, one given with --set to the current directory. A path in the spec that
    exists only relative to the current directory (the old rule) still works, with a note."""
    spec_dir = Path(os.path.abspath(spec_dir))
    for name, dataset in pipeline.datasets.items():
        text = dataset.path
        if text is None or _URL.match(text) or text.lower().startswith("file:"):
            continue
        where: KeyPath = ("datasets", name, "path")
        try:
            path = Path(text.strip()).expanduser()
        except RuntimeError:  # ~user for a user that does not exist
            user = text.strip().split("/")[0]
            raise SpecError([located.locate(where, file, f"cannot expand {user!r}: no such user")]) from None
        if path.is_absolute():
            dataset.path = os.path.normpath(path)
            continue
        from_command_line = _given_on_command_line(where, located)
        base = Path.cwd() if from_command_line else spec_dir
        if not from_command_line and not _exists(spec_dir / path) and _exists(path):
            note(
                f"{file}: dataset {name!r}: {text} is found relative to the current directory; relative "
                f"dataset paths now resolve against the spec's folder ({spec_dir}): write it relative to "
                "that folder or absolute (the current-directory fallback will go)"
            )
            base = Path.cwd()
        dataset.path = os.path.normpath(base / path)


# The source of a file named by import path travels in every function's event (payload limits are a few MB).
MAX_SOURCE_BYTES = 256 * 1024


def resolve_user_code(pipeline: Pipeline, located: Located, spec_dir: Path, file: str) -> None:
    """Read the file every code field naming `file.py:Name` names (relative to the spec's folder; one given with
    --set, to the current directory) into the stage, checked to parse; check that a `package.module:Name`'s
    package is installed. Nothing is imported: validating a spec must not import torch."""
    problems = []
    for name, stage in pipeline.stages.items():
        stage.user_code = {}
        for field_name in stage.code_fields:
            named = getattr(stage, field_name)
            module = (named or "").rpartition(":")[0]
            where: KeyPath = ("stages", name, field_name)
            if module.endswith(".py"):
                base = Path.cwd() if _given_on_command_line(where, located) else Path(os.path.abspath(spec_dir))
                code, problem = _source_file(base / module)
                if code is not None:
                    stage.user_code[field_name] = code
            elif module and importlib.util.find_spec(module.split(".")[0]) is None:
                problem = (
                    f"package {module.split('.')[0]!r} is not installed: pip install it, or name a file "
                    f"(file.py:{named.rpartition(':')[2]})"
                )
            else:
                continue
            if problem:
                problems.append(located.locate(where, file, problem))
    if problems:
        raise SpecError(problems)


def _source_file(path: Path) -> tuple[UserCode | None, str | None]:
    """The file as UserCode, or why it cannot be."""
    try:
        if not path.is_file():
            return None, f"{path}: no such file"
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return (
                None,
                f"{path}: larger than {MAX_SOURCE_BYTES // 1024} KB (put it in a package and pip install it)",
            )
        data = path.read_bytes()
        source = data.decode()
        compile(source, path.name, "exec")
    except SyntaxError as exc:
        return None, f"{path.name}:{exc.lineno}: SyntaxError: {exc.msg}"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: {exc}"
    return UserCode(name=path.name, sha256=hashlib.sha256(data).hexdigest(), source=source), None


def _given_on_command_line(where: KeyPath, located: Located) -> bool:
    """Whether a --set gave this value (or a mapping above it): a path in it is relative to the current directory."""
    return any(where[:i] in located.overrides for i in range(1, len(where) + 1))


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):  # missing, name too long, NUL in the name, ...
        return False
    return True


def validate(located: Located, file: str) -> Pipeline:
    """Pydantic validation, then cross-references; every problem located in the file."""
    non_finite = [
        _at(
            located,
            path,
            file,
            f"{value} is not a finite number (.inf and .nan are not allowed in a "
            "spec: they cannot be written to a run record)",
        )
        for path, value in _non_finite_floats(located.data, ())
    ]
    if non_finite:
        raise SpecError(non_finite)
    try:
        pipeline = Pipeline.model_validate(located.data)
    except ValidationError as exc:
        raise SpecError(_problems_from_validation(exc, located, file)) from None
    problems = [located.locate(path, file, message) for path, message in reference_problems(pipeline)]
    if problems:
        raise SpecError(problems)
    return pipeline


def _non_finite_floats(data: Any, path: KeyPath) -> Iterable[tuple[KeyPath, float]]:
    if isinstance(data, float) and not math.isfinite(data):
        yield path, data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield from _non_finite_floats(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _non_finite_floats(value, (*path, i))


def _problems_from_validation(exc: ValidationError, located: Located, file: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for error in exc.errors(include_url=False):
        path = _data_path(error["loc"], located.data)
        kind = error["type"]
        new_entry = _entry_made_by_override(path, located)
        if new_entry:
            collection, name = new_entry
            known = ", ".join(n for n in located.data.get(collection, {}) if (collection, n) in located.key_positions)
            problem = located.locate(
                new_entry,
                file,
                f"no {collection.removesuffix('s')} {name!r} in {file} ({collection}: {known or 'none'})",
            )
        elif kind == "extra_forbidden":
            problem = located.locate(path, file, f"unknown key {path[-1]!r} in {_parent(path)}", prefer_key=True)
        elif kind == "missing":
            problem = located.locate(
                path[:-1], file, f"missing required key {path[-1]!r} in {_parent(path)}", prefer_key=True
            )
        elif path and path[-1] == "[key]":  # a mapping key outside a fixed set (e.g. a tune stage's space)
            key_path = path[:-1]
            expected = (error.get("ctx") or {}).get("expected")
            why = f"expected {expected}" if expected else _plain_words(error)
            problem = located.locate(
                key_path, file, f"unknown key {key_path[-1]!r} in {_parent(key_path)} ({why})", prefer_key=True
            )
        elif kind == "union_tag_not_found":
            problem = located.locate(
                path, file, f"missing required key {_discriminator(error)!r} in {_dotted(path)}", prefer_key=True
            )
        else:
            if kind == "union_tag_invalid":  # the tag's own value is what is wrong (and what --set may have set)
                path = (*path, _discriminator(error))
            elif kind == "value_error" and path not in located.overrides:  # a model's own check across its fields
                path = _overridden_below(path, located) or path
            problem = _at(located, path, file, _plain_words(error))
        if str(problem) not in seen:
            seen.add(str(problem))
            problems.append(problem)
    return problems


# Pydantic's error types in plain words; {name} is filled from the error's context.
_PLAIN = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be text",
    "string_too_short": "must be at least {min_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must be {pattern}",
    "greater_than": "must be above {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be below {lt}",
    "less_than_equal": "must be at most {le}",
    "literal_error": "must be {expected}",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "union_tag_invalid": "unknown {discriminator} {tag!r}; expected one of {expected_tags}",
}
_PATTERN_WORDS = {
    NAME_PATTERN: "a name (a letter, then up to 62 letters, digits, _ or -)",
    r"^[0-9a-fA-F]{64}$": "64 hexadecimal digits",
    r"^[0-9a-fA-F]{32}$": "32 hexadecimal digits",
    r"^rediss?://": "a redis:// or rediss:// URL",
}


def _plain_words(error: Any) -> str:
    """The error as the user should read it: no pydantic wording, error types or links."""
    kind, ctx, value = error["type"], dict(error.get("ctx") or {}), error.get("input")
    if kind == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if kind in ("float_type", "float_parsing") and isinstance(value, int) and not isinstance(value, bool):
        return "is too large a number"
    if kind == "string_pattern_mismatch":
        ctx["pattern"] = _PATTERN_WORDS.get(ctx.get("pattern", ""), f"text matching {ctx.get('pattern')}")
    if "expected_tags" in ctx:
        ctx.update(discriminator=_discriminator(error), expected_tags=str(ctx["expected_tags"]).replace("'", ""))
    if kind in _PLAIN:
        message = _PLAIN[kind].format(**{k: (f"{v:g}" if isinstance(v, float) else v) for k, v in ctx.items()})
    else:
        message = str(error["msg"]).replace("Input should be", "must be")
    if isinstance(value, bool):  # as the YAML says it
        message += f" (got {str(value).lower()})"
    elif isinstance(value, str | int | float) and len(repr(value)) < 60:
        message += f" (got {value!r})"
    return message


def _discriminator(error: Any) -> str:
    """The field naming a union's member (`kind`), which pydantic gives quoted."""
    return str((error.get("ctx") or {}).get("discriminator", "kind")).strip("'")


def _entry_made_by_override(path: KeyPath, located: Located) -> tuple[str, str] | None:
    """("stages", name) or ("datasets", name) when a --set made up that entry (it is not in the file)."""
    if (
        len(path) >= 2
        and path[0] in ("stages", "datasets")
        and path[:2] in located.overrides
        and path[:2] not in located.key_positions
    ):
        return str(path[0]), str(path[1])
    return None


def _overridden_below(path: KeyPath, located: Located) -> KeyPath | None:
    """The last --set under `path`: a model's check across its fields failing there was caused by that flag."""
    below = [p for p in located.overrides if len(p) > len(path) and p[: len(path)] == path]
    return below[-1] if below else None


def _at(located: Located, path: KeyPath, file: str, message: str) -> Problem:
    """`message` about the value at `path`, which it names unless a --set KEY=VALUE (naming it) is blamed."""
    return located.locate(path, file, message if path in located.overrides else f"{_dotted(path)}: {message}")


def _dotted(path: KeyPath) -> str:
    return ".".join(str(p) for p in path) or "the top level"


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
                problems.append((("stages", name, field_name), f"unknown dataset {target!r} (datasets: {known})"))
        for field_name, target in stage.stage_refs().items():
            path = ("stages", name, field_name)
            if target not in pipeline.stages:
                problems.append((path, f"unknown stage {target!r} (stages: {', '.join(pipeline.stages)})"))
                continue
            allowed = REFERENCE_KINDS.get((stage.kind, field_name))
            actual = pipeline.stages[target].kind
            if allowed and actual not in allowed:
                problems.append(
                    (
                        path,
                        f"stage {target!r} is {article(actual)} stage; {stage.kind}.{field_name} needs "
                        + " or ".join(allowed),
                    )
                )
    if problems:
        return problems
    problems.extend(_model_data_problems(pipeline))
    problems.extend(_tune_problems(pipeline))
    return problems


def _tune_problems(pipeline: Pipeline) -> list[tuple[KeyPath, str]]:
    """A tune stage tunes exactly one train stage (the one naming it in `hyperparameters`), on its data."""
    out: list[tuple[KeyPath, str]] = []
    for name, stage in pipeline.stages.items():
        if not isinstance(stage, TuneStage):
            continue
        out.extend((("stages", name, *where), message) for where, message in stage.space_problems())
        users = [(n, s) for n, s in pipeline.stages.items() if isinstance(s, TrainStage) and s.hyperparameters == name]
        if len(users) != 1:
            found = f"{len(users)} do ({', '.join(n for n, _ in users)})" if users else "none does"
            out.append(
                (
                    ("stages", name),
                    f"tune stage {name!r} must be named by exactly one train stage's "
                    f"`hyperparameters: {name}`, but {found}",
                )
            )
        elif users[0][1].data != stage.data:
            out.append(
                (
                    ("stages", name, "data"),
                    f"tunes {users[0][0]!r}, which trains on {users[0][1].data!r}, but its own data is {stage.data!r}",
                )
            )
        elif "admm_rho" in stage.space and users[0][1].algorithm != "admm":
            out.append((("stages", name, "space", "admm_rho"), f"{users[0][0]!r} does not use algorithm admm"))
    return out


def _model_data_problems(pipeline: Pipeline) -> list[tuple[KeyPath, str]]:
    needs = {"small_cnn": "cifar10", "logistic_regression": "imdb"}
    out: list[tuple[KeyPath, str]] = []
    for name, stage in pipeline.stages.items():
        dataset_name = pipeline.dataset_of(name)
        dataset = pipeline.datasets[dataset_name]
        examples = dataset.train_examples()
        if isinstance(stage, PreprocessStage) and dataset.format == "imdb" and stage.min_df > examples:
            out.append(
                (
                    ("stages", name, "min_df"),
                    f"min_df {stage.min_df} is more than the {examples} training "
                    f"documents of dataset {dataset_name!r}: every term would be dropped",
                )
            )
        if isinstance(stage, PreprocessStage) and dataset.format == "imdb" and stage.scaling != "standard":
            out.append(
                (
                    ("stages", name, "scaling"),
                    f"scaling is for images, but dataset {dataset_name!r} holds texts: TF-IDF rows are scaled to "
                    "unit length; remove it",
                )
            )
        if isinstance(stage, PreprocessStage) and dataset.format != "imdb" and stage.vectorizer:
            out.append(
                (
                    ("stages", name, "vectorizer"),
                    f"a vectorizer turns texts into features, but dataset {dataset_name!r} holds images "
                    f"({dataset.format}): remove it, or name a transform",
                )
            )
        if isinstance(stage, TrainStage | IterativeStage) and stage.workers > examples:
            out.append(
                (
                    ("stages", name, "workers"),
                    f"{stage.workers} workers but only {examples} training "
                    f"examples in dataset {dataset_name!r}: each worker needs a shard of at least one",
                )
            )
        if isinstance(stage, TrainStage):
            fmt = pipeline.datasets[pipeline.dataset_of(name)].format
            if stage.model in needs and needs[stage.model] != fmt:
                out.append(
                    (
                        ("stages", name, "model"),
                        f"model {stage.model} trains on {needs[stage.model]} data, but {stage.data!r} "
                        f"reads {article(fmt)} dataset",
                    )
                )
    return out
