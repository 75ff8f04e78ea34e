"""The interface every response cache implements (SQLite on one machine, Redis for many).

The engine's hot path is `aget`/`aget_many`/`aset`; the sync twins serve code that runs outside
an event loop (the CLI, tests, a user's script). Values are JSON objects (`dict`), returned as a
fresh copy the caller may mutate.

In-flight de-duplication: `claim(key)` lets concurrent askers of one uncached key pay once::

    async with cache.claim(key, lease=60) as claim:
        value = None if claim.owner else await claim.wait(timeout=120)
        if value is None:  # the owner: ask the provider (also when another owner gave up)
            value = await ask()
            await cache.aset(key, value)

The owner's lease is renewed while its `async with` block runs and released when it ends, with or
without an answer; an owner that dies (SIGKILL) stops renewing and the lease expires, so its
waiters get None within `lease` seconds and ask themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

__all__ = ["DEFAULT_LEASE", "Cache", "CacheStats", "Claim"]

# Long enough for a slow LLM answer between renewals; renewed every third of it.
DEFAULT_LEASE = 60.0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What `Cache.stats()` reports; `location` never contains a password."""

    backend: str  # "sqlite" or "redis"
    location: str  # the file path, or the URL with its password masked
    entries: int | None  # live (unexpired) entries; None when they cannot be counted
    size_bytes: int | None  # bytes used where the backend knows (SQLite: the files), else None


@runtime_checkable
class Claim(Protocol):
    """One asker's share of an in-flight key: the owner asks, the others wait for its answer."""

    @property
    def owner(self) -> bool:
        """True: nobody else is asking this key; ask the provider and `aset` the answer."""
        ...

    async def wait(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109
        """The owner's answer; None when it ended without one, died, or `timeout` passed."""
        ...


@runtime_checkable
class Cache(Protocol):
    """A response cache: cache keys (`cache_key`) to JSON objects, with an optional TTL per entry."""

    @property
    def backend(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    def get(self, key: str) -> dict[str, Any] | None:
        """The value, or None (missing, expired, unreadable: a miss, never an error)."""
        ...

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The hits among keys, by key."""
        ...

    def set(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        """Store value; `ttl` seconds, or None for the cache's default (by default: forever)."""
        ...

    async def aget(self, key: str) -> dict[str, Any] | None: ...

    async def aget_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The hits among keys in one round trip (Redis: one pipeline), by key."""
        ...

    async def aset(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None:
        """Delete every entry of this cache (Redis: only llmp's keys, never the whole database)."""
        ...

    def stats(self) -> CacheStats: ...

    def flush(self) -> None:
        """Wait until every earlier write is visible to other processes."""
        ...

    def claim(self, key: str, *, lease: float = DEFAULT_LEASE) -> AbstractAsyncContextManager[Claim]:
        """Claim key for asking (see the module docstring); never raises for a cache fault."""
        ...

    def close(self) -> None:
        """Flush and release files and connections; idempotent."""
        ...

    async def aclose(self) -> None: ...
