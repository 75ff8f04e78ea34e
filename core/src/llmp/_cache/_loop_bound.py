"""One resource per event loop (an async Redis client), closed when its loop shuts down.

Async connections belong to the loop that opened them, and llmp runs on several loops in one
process: its private loop thread for the sync API, the user's loops, one per `asyncio.run`. A map
keyed by loop would keep every closed loop's sockets alive (the client holds its loop), so each
resource comes with a sentinel async generator started on its loop: `asyncio.run` (and anyone
calling `loop.shutdown_asyncgens()`) closes every live async generator before closing the loop,
which runs the sentinel's `finally` on that loop, where the resource can still be awaited closed.
A loop closed without that step is swept (dropped) the next time a resource is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LoopBound"]

_log = logging.getLogger("llmp.cache")
_T = TypeVar("_T")
# Close tasks started with create_task: the loop holds tasks weakly.
_CLOSING: set[asyncio.Task[None]] = set()


class _Entry(Generic[_T]):
    __slots__ = ("closed", "resource", "sentinel")

    def __init__(self, resource: _T) -> None:
        self.resource = resource
        self.closed = False
        self.sentinel: AsyncGenerator[None, None] | None = None


class LoopBound(Generic[_T]):
    """`get()` -> this running loop's resource, made on first use by `make()`."""

    def __init__(self, make: Callable[[], _T], close: Callable[[_T], Awaitable[None]]) -> None:
        self._make = make
        self._close = close
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _Entry[_T]] = {}

    def get(self) -> _T:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)  # one dict lookup on the hot path
        if entry is not None:
            return entry.resource
        return self._create(loop)

    def __len__(self) -> int:
        return len(self._by_loop)

    def _create(self, loop: asyncio.AbstractEventLoop) -> _T:
        with self._lock:
            for other in [lp for lp in self._by_loop if lp.is_closed()]:
                self._by_loop.pop(other).closed = True  # closed without shutdown_asyncgens: drop
            entry = _Entry(self._make())
            self._by_loop[loop] = entry
        sentinel = self._sentinel(loop, entry)
        # Run it to its first `yield` now, on this loop's thread: that registers it with the loop
        # (asyncio's first-iteration hook), so the loop's shutdown will close it.
        with contextlib.suppress(StopIteration):
            sentinel.asend(None).send(None)
        entry.sentinel = sentinel  # the loop holds it weakly; keep it alive
        return entry.resource

    async def _sentinel(
        self, loop: asyncio.AbstractEventLoop, entry: _Entry[_T]
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._by_loop.get(loop) is entry:
                    del self._by_loop[loop]
            await self._close_entry(entry)

    async def _close_entry(self, entry: _Entry[_T]) -> None:
        if entry.closed:
            return
        entry.closed = True
        try:
            await self._close(entry.resource)
        except Exception as exc:  # closing a connection that already broke
            _log.debug("llmp cache: error closing a connection: %s", exc)

    async def aclose_current(self) -> None:
        """Close the running loop's resource now (the others: see `close_all`)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._by_loop.pop(loop, None)
        if entry is not None:
            await self._close_entry(entry)

    def close_all(self) -> None:
        """Close every loop's resource: on its own loop when that loop runs, else drop it."""
        with self._lock:
            entries, self._by_loop = self._by_loop, {}
        try:
            current: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            current = None
        for loop, entry in entries.items():
            if entry.closed or loop.is_closed():
                entry.closed = True
                continue
            if loop is current:
                task = loop.create_task(self._close_entry(entry))
                _CLOSING.add(task)
                task.add_done_callback(_CLOSING.discard)
            elif loop.is_running():
                asyncio.run_coroutine_threadsafe(self._close_entry(entry), loop)
            # A loop that exists but is not running: its sentinel closes the resource at shutdown.
