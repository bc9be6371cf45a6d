"""Local stores: a directory each. Writes go to a temporary file renamed into place, so a reader
in another process never sees half an object."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlspec.files import TEMPORARY_PREFIX, write_atomically
from mlspec.storage.base import ObjectStore, ParamStore, StoreTimeout


def _safe_path(root: Path, key: str) -> Path:
    parts = [p for p in key.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"invalid store key {key!r}")
    return root.joinpath(*parts)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)


def _delete_prefix(root: Path, prefix: str) -> int:
    target = _safe_path(root, prefix)
    if target.is_dir():
        count = sum(1 for p in target.rglob("*") if p.is_file())
        shutil.rmtree(target, ignore_errors=True)
        return count
    if target.is_file():
        target.unlink()
        return 1
    return 0


class LocalObjectStore(ObjectStore):
    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _put(self, key: str, data: bytes) -> None:
        _atomic_write(_safe_path(self.root, key), data)

    def _get(self, key: str) -> bytes:
        try:
            return _safe_path(self.root, key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def put_copy(self, key: str, data: bytes, source: ObjectStore, source_key: str) -> None:
        """A hard link to a local source's file, when both are on one file system: objects are only ever
        replaced whole (renamed over), never changed in place, so sharing the file is safe."""
        if not isinstance(source, LocalObjectStore):
            return super().put_copy(key, data, source, source_key)
        path = _safe_path(self.root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        link = path.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}")
        try:
            os.link(_safe_path(source.root, source_key), link)
            os.replace(link, path)
        except OSError:  # another file system, or links not allowed: write the bytes
            link.unlink(missing_ok=True)
            return super().put_copy(key, data, source, source_key)
        self.counter.requests += 1

    def exists(self, key: str) -> bool:
        return _safe_path(self.root, key).is_file()

    def list(self, prefix: str) -> list[str]:
        base = _safe_path(self.root, prefix) if prefix.strip("/") else self.root  # "": everything
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root))
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(TEMPORARY_PREFIX)
        )

    def delete_prefix(self, prefix: str) -> int:
        return _delete_prefix(self.root, prefix)


class LocalParamStore(ParamStore):
    def __init__(self, root: str | Path) -> None:
        super().__init__()
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _put(self, key: str, data: bytes) -> None:
        _atomic_write(_safe_path(self.root, key), data)

    def _get(self, key: str) -> bytes | None:
        try:
            return _safe_path(self.root, key).read_bytes()
        except FileNotFoundError:
            return None

    def incr(self, key: str) -> int:
        path = _safe_path(self.root, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            value = int(path.read_text() or 0) + 1 if path.exists() else 1
            _atomic_write(path, str(value).encode())
            return value

    @contextlib.contextmanager
    def lock(self, name: str, timeout_s: float) -> Iterator[None]:
        # flock: the kernel releases it when the holder's process dies.
        path = _safe_path(self.root, name)
        path = path.with_name(path.name + ".lock")
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        with open(path, "a+") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise StoreTimeout(f"timed out after {timeout_s:.0f}s waiting for lock {name}") from None
                    time.sleep(self.poll_interval_s)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def delete_prefix(self, prefix: str) -> int:
        return _delete_prefix(self.root, prefix)


def open_local_object_store(config: dict[str, Any]) -> ObjectStore:
    return LocalObjectStore(config["root"])


def open_local_param_store(config: dict[str, Any]) -> ParamStore:
    return LocalParamStore(config["root"])
