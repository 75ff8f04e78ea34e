"""State that belongs to one event loop (futures, timers, asyncio primitives), for many loops.

llmp runs on several loops in one process: its private loop for the sync API, the user's loops,
a new one per ``asyncio.run``. A `weakref.WeakKeyDictionary` keyed by the loop leaks here: the
values (limiters, futures) reference their loop, so the key never dies. Entries are kept by
``id(loop)`` with a weak reference to check the id was not reused, and entries of closed loops
are dropped whenever a new loop appears, so memory stays flat over any number of loops.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["PerLoop"]

T = TypeVar("T")


class PerLoop(Generic[T]):
    __slots__ = ("_entries", "_factory")

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._entries: dict[int, tuple[weakref.ref[asyncio.AbstractEventLoop], T]] = {}

    def get(self) -> T:
        """The value for the running loop, made on first use."""
        loop = asyncio.get_running_loop()
        entry = self._entries.get(id(loop))
        if entry is not None and entry[0]() is loop:
            return entry[1]
        for key, (ref, _) in list(self._entries.items()):
            dead = ref()
            if dead is None or dead.is_closed():
                del self._entries[key]
        value = self._factory()
        self._entries[id(loop)] = (weakref.ref(loop), value)
        return value

    def values(self) -> list[T]:
        return [value for _, value in self._entries.values()]

    def __len__(self) -> int:
        return len(self._entries)
