"""The two stores of the hybrid design, as interfaces.

Object store: bulk data, checkpoints and results (local directory; S3 and others later).
Parameter store: small, frequent model exchange between workers (local directory; Redis later).
Both count the bytes they move so every invocation can report its I/O.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractContextManager


class StoreTimeout(TimeoutError):
    pass


class ByteCounter:
    def __init__(self) -> None:
        self.bytes_read = 0
        self.bytes_written = 0
        self.requests = 0


class ObjectStore(ABC):
    """Keys are '/'-separated strings; values are bytes."""

    def __init__(self) -> None:
        self.counter = ByteCounter()

    def put(self, key: str, data: bytes) -> None:
        self._put(key, data)
        self.counter.bytes_written += len(data)
        self.counter.requests += 1

    def get(self, key: str) -> bytes:
        data = self._get(key)
        self.counter.bytes_read += len(data)
        self.counter.requests += 1
        return data

    def put_copy(self, key: str, data: bytes, source: ObjectStore, source_key: str) -> None:
        """Put `data`, which is `source`'s object `source_key`: written again here by default; a store that
        can share the source's stored copy does so instead (a local store links another's file)."""
        self.put(key, data)

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def _get(self, key: str) -> bytes:
        """Raise KeyError when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list(self, prefix: str) -> list[str]: ...

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...


class ParamStore(ABC):
    """A key-value store for model exchange, with atomic counters and polling waits."""

    poll_interval_s = 0.002
    # Backoff ceiling while waiting: low, since every-step synchronisation waits once per minibatch and
    # each oversleep adds straight to the step time; a missing-key poll is cheap for files and Redis.
    max_poll_interval_s = 0.005

    def __init__(self) -> None:
        self.counter = ByteCounter()

    def put(self, key: str, data: bytes) -> None:
        self._put(key, data)
        self.counter.bytes_written += len(data)
        self.counter.requests += 1

    def get(self, key: str) -> bytes | None:
        data = self._get(key)
        self.counter.requests += 1
        if data is not None:
            self.counter.bytes_read += len(data)
        return data

    def wait_all(self, keys: Iterable[str], timeout_s: float) -> dict[str, bytes]:
        """Block until every key exists; return their values. Raises StoreTimeout."""
        pending = list(keys)
        found: dict[str, bytes] = {}
        deadline = time.monotonic() + timeout_s
        delay = self.poll_interval_s
        while pending:
            still: list[str] = []
            for key in pending:
                value = self.get(key)
                if value is None:
                    still.append(key)
                else:
                    found[key] = value
            pending = still
            if pending:
                if time.monotonic() > deadline:
                    raise StoreTimeout(f"timed out after {timeout_s:.0f}s waiting for {pending[0]}")
                time.sleep(delay)
                delay = min(delay * 1.5, self.max_poll_interval_s)
        return found

    @abstractmethod
    def _put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    def _get(self, key: str) -> bytes | None: ...

    @abstractmethod
    def incr(self, key: str) -> int:
        """Atomically add one and return the new value."""

    @abstractmethod
    def lock(self, name: str, timeout_s: float) -> AbstractContextManager[None]:
        """An exclusive lock across processes, held for a `with` block. Waits at most `timeout_s` for it
        (then StoreTimeout); a holder that dies loses it (Redis: `timeout_s` after taking it)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int: ...
