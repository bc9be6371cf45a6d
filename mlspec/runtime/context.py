"""What a running function can see besides its event: the stores, a progress channel, its deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mlspec.storage import ObjectStore, ParamStore, open_object_store, open_param_store


class Context:
    def __init__(
        self,
        report: Callable[[dict[str, Any]], None] | None = None,
        time_limit_s: float | None = None,
    ) -> None:
        self._report = report
        self.started = time.monotonic()
        self.time_limit_s = time_limit_s
        self._object_stores: list[ObjectStore] = []
        self._param_stores: list[ParamStore] = []

    def report(self, **progress: Any) -> None:
        if self._report is not None:
            self._report(progress)

    def remaining_s(self) -> float | None:
        if self.time_limit_s is None:
            return None
        return self.time_limit_s - (time.monotonic() - self.started)

    def object_store(self, config: dict[str, Any]) -> ObjectStore:
        store = open_object_store(config)
        self._object_stores.append(store)
        return store

    def param_store(self, config: dict[str, Any]) -> ParamStore:
        store = open_param_store(config)
        self._param_stores.append(store)
        return store

    def io_summary(self) -> dict[str, int]:
        def total(stores: list[Any], attr: str) -> int:
            return sum(getattr(s.counter, attr) for s in stores)

        return {
            "object_bytes_read": total(self._object_stores, "bytes_read"),
            "object_bytes_written": total(self._object_stores, "bytes_written"),
            "object_requests": total(self._object_stores, "requests"),
            "param_bytes_read": total(self._param_stores, "bytes_read"),
            "param_bytes_written": total(self._param_stores, "bytes_written"),
            "param_requests": total(self._param_stores, "requests"),
        }
