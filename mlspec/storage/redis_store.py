"""Parameter store on Redis: the in-memory store of the hybrid design (SMLT keeps per-iteration
model exchange here and bulk data in the object store)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from mlspec.storage.base import ParamStore, StoreTimeout


class RedisParamStore(ParamStore):
    def __init__(self, url: str) -> None:
        super().__init__()
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)

    def _put(self, key: str, data: bytes) -> None:
        self.client.set(key, data)

    def _get(self, key: str) -> bytes | None:
        value = self.client.get(key)
        return value if value is None else bytes(value)  # type: ignore[arg-type]

    def incr(self, key: str) -> int:
        return int(self.client.incr(key))

    @contextlib.contextmanager
    def lock(self, name: str, timeout_s: float) -> Iterator[None]:
        from redis.exceptions import LockError

        # The lock expires after timeout_s, so a holder that dies cannot block the others for longer.
        lock = self.client.lock(name, timeout=timeout_s, sleep=self.poll_interval_s, blocking_timeout=timeout_s)
        if not lock.acquire():
            raise StoreTimeout(f"timed out after {timeout_s:.0f}s waiting for lock {name}")
        try:
            yield
        finally:
            try:
                lock.release()
            except LockError as exc:
                raise StoreTimeout(f"held lock {name} longer than {timeout_s:.0f}s: {exc}") from None

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        batch: list[Any] = []
        for key in self.client.scan_iter(match=f"{prefix}*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += int(self.client.delete(*batch))
                batch = []
        if batch:
            deleted += int(self.client.delete(*batch))
        return deleted


def open_redis_param_store(config: dict[str, Any]) -> ParamStore:
    return RedisParamStore(config["url"])
