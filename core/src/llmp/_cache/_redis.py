"""The Redis response cache: the same keys and JSON values as the SQLite cache, for many machines.

Layout: `<prefix>cache:<key>` holds the value's JSON text (exactly what SQLite stores), with a
Redis expiry when it has a TTL; `<prefix>claim:<key>` is an in-flight claim (see
`_redis_claim`). The prefix (default `llmp:`) keeps llmp's keys apart from anything else in the
database: `clear()` deletes only them (SCAN + UNLINK, never FLUSHDB).

Clients: one synchronous client (its own thread-safe pool) for the sync methods and the CLI, and
one asyncio client per event loop (`LoopBound`), closed when that loop shuts down. `aget_many`
is one MGET per 1,000 keys, sent as one pipeline: one round trip for a window of prompts.
Redis down (or restarted) mid-job: see `_redis_health`; the job carries on.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from llmp._cache._claims import LocalClaims
from llmp._cache._codec import check_ttl, decode, encode
from llmp._cache._loop_bound import LoopBound
from llmp._cache._protocol import DEFAULT_LEASE, CacheStats, Claim
from llmp._cache._redis_health import Health
from llmp._cache._redis_url import import_redis, is_redis_url, mask_url
from llmp.errors import CacheError

__all__ = ["RedisCache"]

_log = logging.getLogger("llmp.cache")

_MGET_CHUNK = 1000
_SCAN_COUNT = 1000
_CONNECT_TIMEOUT = 2.0
_TIMEOUT = 5.0
# Connections per event loop: a pipelined window needs one; 64 GETs in flight need more.
_POOL_SIZE = 64
#: Seconds an in-flight claim outlives its owner's last renewal: how long the askers of a prompt
#: wait for a process that was killed mid-request before asking themselves.
LEASE_ENV = "LLMP_CACHE_LEASE"


def _lease_from_env() -> float:
    raw = os.environ.get(LEASE_ENV, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        lease = float(raw)
    except ValueError:
        lease = math.nan
    if not (math.isfinite(lease) and lease > 0):
        raise CacheError(
            f"{LEASE_ENV}={raw!r} must be a positive number of seconds (default {DEFAULT_LEASE:g})"
        )
    return lease


def _check_url(url: str, location: str) -> None:
    if not is_redis_url(url):
        raise CacheError(f"{location!r} is not a Redis URL: use redis://host:6379/0 or rediss://... (TLS)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError as exc:
        raise CacheError(f"malformed Redis URL {location}: {exc}") from None
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise CacheError(f"malformed Redis URL {location}: the path must be a database number, like /0")


class RedisCache:
    """A response cache in Redis at `url` (`redis://[:password@]host:port/db`, `rediss://` for TLS).

    `ttl`: default lifetime in seconds of entries written without one (None: forever). Reaches
    Redis at construction and raises CacheError naming the URL (password masked) if it cannot.
    In-flight claims last `LLMP_CACHE_LEASE` seconds past their owner's last renewal (default
    60; renewed every third of it).
    """

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        ttl: float | None = None,
        prefix: str = "llmp:",
        connect_timeout: float = _CONNECT_TIMEOUT,
        timeout: float = _TIMEOUT,
    ) -> None:
        self.location = mask_url(url)
        _check_url(url, self.location)
        self.ttl = check_ttl(ttl)
        self.lease = _lease_from_env()
        redis, redis_asyncio = import_redis()
        self._value_prefix = f"{prefix}cache:"
        self.claim_prefix = f"{prefix}claim:"
        self.health = Health(self.location, (redis.RedisError,))
        options: dict[str, Any] = {
            "socket_connect_timeout": connect_timeout,
            "socket_timeout": timeout,
            # One immediate retry: a pooled connection that broke (Redis restarted) is replaced
            # once; a Redis that is really gone then fails fast and `health` takes over.
            "retry": redis.retry.Retry(redis.backoff.NoBackoff(), 1),
        }
        async_options = {**options, "retry": redis_asyncio.retry.Retry(redis.backoff.NoBackoff(), 1)}
        try:
            self._sync = redis.Redis.from_url(url, **options)
        except ValueError as exc:
            raise CacheError(f"malformed Redis URL {self.location}: {exc}") from None

        def make_client() -> Any:
            # A blocking pool: a job with hundreds of prompts in flight queues for one of
            # _POOL_SIZE connections instead of failing with "Too many connections".
            pool = redis_asyncio.BlockingConnectionPool.from_url(
                url, max_connections=_POOL_SIZE, timeout=timeout, **async_options
            )
            return redis_asyncio.Redis.from_pool(pool)  # closing the client closes its pool

        self._clients: LoopBound[Any] = LoopBound(make_client, lambda client: client.aclose())
        self._claims = LocalClaims()
        self._closed = False
        try:
            self._sync.ping()
        except (redis.RedisError, OSError) as exc:
            self._sync.close()
            raise CacheError(
                f"cannot reach the Redis cache at {self.location} ({type(exc).__name__}: {exc}): start "
                "Redis or fix the URL (cache= or LLMP_CACHE_URL), pass cache=True for the local SQLite "
                "cache, or ask for a local fallback with LLMP_CACHE_FALLBACK=1"
            ) from None

    # -- names and values ----------------------------------------------------------------------

    def name(self, key: str) -> str:
        """The Redis key holding the value for a cache key."""
        return self._value_prefix + key

    def decoded(self, raw: object) -> dict[str, Any] | None:
        if raw is None:
            return None
        try:
            # Redis replies are bytes; llmp stores ASCII JSON, so anything else is not its value.
            return decode(raw.decode("ascii") if isinstance(raw, bytes) else raw)
        except ValueError as exc:
            _log.warning(
                "llmp cache %s: ignoring an undecodable entry (treated as a miss): %s", self.location, exc
            )
            return None

    def _expiry_ms(self, ttl: float | None) -> int | None:
        seconds = self.ttl if ttl is None else check_ttl(ttl)
        return None if seconds is None else max(1, round(seconds * 1000))

    def client(self) -> Any:
        """This event loop's asyncio client."""
        if self._closed:
            raise RuntimeError(f"RedisCache({self.location}) is closed")
        return self._clients.get()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- sync --------------------------------------------------------------------------------

    def get(self, key: str) -> dict[str, Any] | None:
        return self.decoded(self.health.run_sync(lambda: self._sync.get(self.name(key)), None))

    def get_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}

        def mget() -> list[Any]:
            pipe = self._sync.pipeline(transaction=False)
            for start in range(0, len(keys), _MGET_CHUNK):
                pipe.mget([self.name(k) for k in keys[start : start + _MGET_CHUNK]])
            return [raw for chunk in pipe.execute() for raw in chunk]

        return self._hits(keys, self.health.run_sync(mget, []))

    def _hits(self, keys: Sequence[str], raws: Sequence[Any]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for key, raw in zip(keys, raws, strict=False):
            if raw is not None and (value := self.decoded(raw)) is not None:
                found[key] = value
        return found

    def set(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        text, px = encode(value), self._expiry_ms(ttl)
        self.health.run_sync(lambda: self._sync.set(self.name(key), text, px=px), None, write=True)

    def delete(self, key: str) -> None:
        self.health.run_sync(lambda: self._sync.delete(self.name(key)), None, write=True)

    def _scan(self) -> Any:
        return self._sync.scan_iter(match=self._value_prefix + "*", count=_SCAN_COUNT)

    def clear(self) -> None:
        """Delete llmp's cache entries (this prefix) from the database, nothing else."""
        batch: list[Any] = []
        for name in self._scan():
            batch.append(name)
            if len(batch) >= _SCAN_COUNT:
                self._sync.unlink(*batch)
                batch.clear()
        if batch:
            self._sync.unlink(*batch)

    def stats(self) -> CacheStats:
        """Entries counted with SCAN (O(entries)); Redis does not say how much memory they use."""
        return CacheStats(self.backend, self.location, sum(1 for _ in self._scan()), None)

    def flush(self) -> None:
        """Nothing to wait for: every write has been acknowledged by Redis when it returns."""

    # -- async (the engine's path) -----------------------------------------------------------

    async def aget(self, key: str) -> dict[str, Any] | None:
        client = self.client()
        return self.decoded(await self.health.run(lambda: client.get(self.name(key)), None))

    async def aget_many(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not keys:
            return {}
        client = self.client()
        if len(keys) <= _MGET_CHUNK:
            names = [self._value_prefix + k for k in keys]
            return self._hits(keys, await self.health.run(lambda: client.mget(names), []))

        async def mget() -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for start in range(0, len(keys), _MGET_CHUNK):
                pipe.mget([self.name(k) for k in keys[start : start + _MGET_CHUNK]])
            return [raw for chunk in await pipe.execute() for raw in chunk]

        return self._hits(keys, await self.health.run(mget, []))

    async def aset(self, key: str, value: Mapping[str, Any], *, ttl: float | None = None) -> None:
        text, px = encode(value), self._expiry_ms(ttl)
        client = self.client()
        await self.health.run(lambda: client.set(self.name(key), text, px=px), None, write=True)

    @contextlib.asynccontextmanager
    async def claim(self, key: str, *, lease: float | None = None) -> AsyncIterator[Claim]:
        """In-flight de-duplication across processes and machines (see `_redis_claim`); `lease`
        defaults to `self.lease`."""
        from llmp._cache._redis_claim import remote_claim

        async with self._claims.hold(key, self.aget) as local:
            if not local.owner:
                yield local
            else:
                async with remote_claim(self, key, self.lease if lease is None else lease) as remote:
                    yield remote

    # -- closing -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the sync client, and every loop's async client (on its loop, if it runs)."""
        if self._closed:
            return
        self._closed = True
        self._clients.close_all()
        self._sync.close()

    async def aclose(self) -> None:
        if not self._closed:
            await self._clients.aclose_current()
        self.close()

    def __repr__(self) -> str:
        return f"RedisCache({self.location!r})"
