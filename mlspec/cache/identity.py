"""What a cache key is made of, as stable digests: plain data, the content of a dataset on disk, and the
source of the code a function runs."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import re
from pathlib import Path
from typing import Any

from mlspec.files import write_atomically

_CHUNK = 1 << 20
_ROOT = Path(__file__).resolve().parents[1]  # the mlspec package
# "module:attr" strings in registries name code that runs without an import statement.
_REFERENCE = re.compile(r"^(mlspec(?:\.\w+)+)(?::\w+)?$")


def digest(value: Any) -> str:
    """The sha256 of plain data, written as canonical JSON (sorted keys)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def content_id(path: Path, memo_file: Path) -> str:
    """The sha256 of a file, or of a folder's relative paths and file contents. Each file's digest is
    remembered in `memo_file` by path, size and modification time, so an unchanged archive is not hashed
    again on every run; a changed one (new size or mtime) is."""
    memo = _read_memo(memo_file)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    digests = []
    for file in files:
        stat = file.stat()
        entry = f"{file.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if entry not in memo:
            memo[entry] = _hash_file(file)
        digests.append((file.relative_to(path).as_posix() if path.is_dir() else "", memo[entry]))
    _write_memo(memo_file, memo)
    return digests[0][1] if not path.is_dir() else digest(digests)


def _hash_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def _read_memo(memo_file: Path) -> dict[str, str]:
    try:
        memo = json.loads(memo_file.read_text())
    except (OSError, ValueError):  # none yet, or unreadable: hashing again is only slower
        return {}
    return memo if isinstance(memo, dict) else {}


def _write_memo(memo_file: Path, memo: dict[str, str]) -> None:
    try:
        memo_file.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(memo_file, json.dumps(memo).encode())
    except OSError:  # a read-only cache directory: the digests are computed again next time
        return


@functools.cache
def code_id(module: str) -> str:
    """A digest of the source of `module` and of every mlspec module it reaches (`code_modules`)."""
    return digest({name: _source_digest(name) for name in sorted(code_modules(module))})


def code_modules(module: str) -> set[str]:
    """`module` and every mlspec module it reaches: by import statements, through the packages that contain
    them, and through "module:attr" references in registries. Only modules with a source file count."""
    seen: set[str] = set()
    pending = [module]
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(_reached(name))
    return {name for name in seen if _file(name) is not None}


def _file(module: str) -> Path | None:
    """The source file of an mlspec module or package, found on disk: finding it by importing would run
    it (and import torch for a model)."""
    base = _ROOT.joinpath(*module.split(".")[1:])
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _source(module: str) -> str | None:
    file = _file(module)
    return None if file is None else file.read_text()


@functools.cache
def _source_digest(module: str) -> str | None:
    source = _source(module)
    return None if source is None else hashlib.sha256(source.encode()).hexdigest()


@functools.cache  # one run keys several functions, which reach mostly the same modules
def _reached(module: str) -> frozenset[str]:
    source = _source(module)
    return frozenset() if source is None else frozenset(_mlspec_modules(module, source))


def _mlspec_modules(module: str, source: str) -> set[str]:
    """The mlspec modules `source` needs: its parent packages, what it imports, what its strings name."""
    parts = module.split(".")
    found = {".".join(parts[:i]) for i in range(1, len(parts))}
    package = module if _is_package(module) else ".".join(parts[:-1])
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # submodules; others find no spec
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _REFERENCE.match(node.value)
            if match:
                found.add(match.group(1))
    return {name for name in found if name == "mlspec" or name.startswith("mlspec.")}


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


def _is_package(module: str) -> bool:
    file = _file(module)
    return file is not None and file.name == "__init__.py"
