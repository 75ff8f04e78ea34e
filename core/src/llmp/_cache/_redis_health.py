"""What the Redis cache does while Redis is down: misses and dropped writes, never a failed prompt.

The first failure logs one warning on `llmp.cache` naming the (masked) URL; lookups are then
misses and writes are dropped (counted) until Redis answers again, which logs once more with the
number of writes dropped. While it is down, calls skip Redis for a short, growing interval (0.25 s
up to 5 s) instead of each waiting for a connect timeout: a job keeps its pace, asking the
provider for what it cannot look up.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["Health"]

_log = logging.getLogger("llmp.cache")
_T = TypeVar("_T")
_D = TypeVar("_D")

_FIRST_PAUSE = 0.25
_MAX_PAUSE = 5.0


class Health:
    """Runs Redis calls, turning failures into a default value and one warning per outage."""

    def __init__(self, location: str, errors: tuple[type[BaseException], ...]) -> None:
        self.location = location
        self._errors: tuple[type[BaseException], ...] = (*errors, OSError, asyncio.TimeoutError)
        self._lock = threading.Lock()
        self._down = False
        self._skip_until = 0.0
        self._pause = _FIRST_PAUSE
        self.dropped_writes = 0
        self.failures = 0

    @property
    def down(self) -> bool:
        return self._down

    def _skipping(self) -> bool:
        return self._down and time.monotonic() < self._skip_until

    def _failed(self, exc: BaseException, write: bool) -> None:
        with self._lock:
            self.failures += 1
            if write:
                self.dropped_writes += 1
            first = not self._down
            self._down = True
            self._skip_until = time.monotonic() + self._pause
            self._pause = min(self._pause * 2, _MAX_PAUSE)
        if first:
            _log.warning(
                "llmp cache: Redis at %s failed (%s: %s); cache lookups are misses and cache writes "
                "are dropped until it answers again",
                self.location,
                type(exc).__name__,
                exc,
            )

    def _succeeded(self) -> None:
        with self._lock:
            if not self._down:
                return
            self._down = False
            self._pause = _FIRST_PAUSE
            dropped = self.dropped_writes
        _log.warning(
            "llmp cache: Redis at %s answers again (%d cache writes were dropped)", self.location, dropped
        )

    async def run(self, call: Callable[[], Awaitable[_T]], default: _D, *, write: bool = False) -> _T | _D:
        if self._down and self._skipping():
            if write:
                self.dropped_writes += 1
            return default
        try:
            result = await call()
        except self._errors as exc:
            self._failed(exc, write)
            return default
        if self._down:
            self._succeeded()
        return result

    def run_sync(self, call: Callable[[], _T], default: _D, *, write: bool = False) -> _T | _D:
        if self._down and self._skipping():
            if write:
                self.dropped_writes += 1
            return default
        try:
            result = call()
        except self._errors as exc:
            self._failed(exc, write)
            return default
        if self._down:
            self._succeeded()
        return result
