"""One Redis server as llmp's cluster-wide limits see it: the URL (shown only with its password
masked), a reachability check at construction, and one async client per event loop.

Async connections belong to the loop that opened them, and llmp runs on several loops in one
process (its private loop thread for the sync API, the user's loops, one per `asyncio.run`). A map
keyed by loop would keep every closed loop's sockets alive (the client holds its loop), so each
client comes with a sentinel async generator started on its loop: `asyncio.run` (and anyone
calling `loop.shutdown_asyncgens()`) closes every live async generator before closing the loop,
which runs the sentinel's `finally` there, where the client can still be closed properly. A loop
closed without that step is dropped the next time a client is made.

redis-py retries a failed command three times with a backoff of up to 10 s by default; here a
command is retried once at once (a restarted server drops idle connections, and one reconnect
hides that), and otherwise fails fast so the caller can fall back to local limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import os
import threading
from collections.abc import AsyncGenerator, Sequence
from types import ModuleType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from llmp.errors import ConfigurationError

__all__ = ["REDIS_URL_ENV_VAR", "RedisLink", "Script", "mask_url", "redis_errors", "redis_link"]

REDIS_URL_ENV_VAR = "LLMP_REDIS_URL"
CONNECT_TIMEOUT = 2.0
COMMAND_TIMEOUT = 5.0


def mask_url(url: str) -> str:
    """`url` with any password (in the authority or a `password=` query) replaced by `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<malformed URL>"
    netloc = parts.netloc
    if password:
        user = parts.username or ""
        netloc = f"{user}:***@{netloc.rsplit('@', 1)[1]}"
    query = parts.query
    if "password" in query.lower():
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _import_redis() -> tuple[ModuleType, ModuleType]:
    try:
        return importlib.import_module("redis"), importlib.import_module("redis.asyncio")
    except ImportError as exc:
        raise ConfigurationError(
            "cluster-wide limits (LLMP_REDIS_URL / redis_url=) need the redis package: "
            'pip install "llmp-core[redis]"'
        ) from exc


def redis_errors() -> tuple[type[BaseException], ...]:
    """What a Redis that is down, restarted or unreachable raises (redis-py's errors and OSError)."""
    redis, _ = _import_redis()
    return (redis.RedisError, OSError, asyncio.TimeoutError)


class Script:
    """A Lua script and its SHA-1 (what EVALSHA names it by)."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class _PerLoop:
    __slots__ = ("client", "closed", "sentinel")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.closed = False
        self.sentinel: AsyncGenerator[None, None] | None = None


class RedisLink:
    """A checked Redis URL; `client()` is the running loop's async client, `sync` a blocking one."""

    def __init__(self, url: str, *, check: bool = True, source: str = "redis_url") -> None:
        self.url = url
        self.masked = mask_url(url)
        redis, redis_async = _import_redis()
        from redis.backoff import NoBackoff

        try:
            redis.connection.parse_url(url)
        except ValueError as exc:
            raise ConfigurationError(
                f"{source} {self.masked!r} is not a Redis URL ({exc}); expected redis://[:password@]host[:port][/db]"
            ) from None
        self._redis_async = redis_async
        self._noscript: type[BaseException] = redis.exceptions.NoScriptError
        self._options: dict[str, Any] = {
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": COMMAND_TIMEOUT,
            "retry": redis_async.retry.Retry(NoBackoff(), 1),
        }
        sync_options = {**self._options, "retry": redis.retry.Retry(NoBackoff(), 1)}
        self.sync: Any = redis.Redis.from_url(url, **sync_options)
        self._lock = threading.Lock()
        self._by_loop: dict[asyncio.AbstractEventLoop, _PerLoop] = {}
        if check:
            try:
                self.sync.ping()
            except redis_errors() as exc:
                raise ConfigurationError(
                    f"cannot reach Redis at {self.masked} ({source}): {exc}. Start it, fix the URL, or "
                    f"unset {REDIS_URL_ENV_VAR} to keep the limits on this machine"
                ) from None

    async def run(self, script: Script, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        """Run a Lua script by its SHA-1, loading it first where the server lacks it (at first use
        and after a restart)."""
        client = self.client()
        try:
            return await client.evalsha(script.sha, len(keys), *keys, *args)
        except self._noscript:
            await client.script_load(script.source)
            return await client.evalsha(script.sha, len(keys), *keys, *args)

    def run_sync(self, script: Script, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        """`run` with the blocking client (for code outside any event loop)."""
        return self.sync.eval(script.source, len(keys), *keys, *args)

    def client(self) -> Any:
        """This running loop's `redis.asyncio.Redis`, made on first use."""
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is not None:
            return entry.client
        return self._create(loop)

    def _create(self, loop: asyncio.AbstractEventLoop) -> Any:
        with self._lock:
            for other in [lp for lp in self._by_loop if lp.is_closed()]:
                self._by_loop.pop(other).closed = True  # closed without shutdown_asyncgens
            entry = _PerLoop(self._redis_async.Redis.from_url(self.url, **self._options))
            self._by_loop[loop] = entry
        sentinel = self._sentinel(loop, entry)
        # Run it to its first `yield` now, on this loop's thread: that registers it with the loop
        # (asyncio's first-iteration hook), so the loop's shutdown will close it.
        with contextlib.suppress(StopIteration):
            sentinel.asend(None).send(None)
        entry.sentinel = sentinel  # the loop holds it weakly; keep it alive
        return entry.client

    async def _sentinel(self, loop: asyncio.AbstractEventLoop, entry: _PerLoop) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                if self._by_loop.get(loop) is entry:
                    del self._by_loop[loop]
            if not entry.closed:
                entry.closed = True
                with contextlib.suppress(Exception):  # a connection that already broke
                    await entry.client.aclose()

    def forget_after_fork(self) -> None:
        # The parent's sockets are the parent's: drop (do not close) the child's references.
        with self._lock:
            _GRAVEYARD.extend(self._by_loop.values())
            self._by_loop = {}
            self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RedisLink({self.masked!r})"


# Per-loop clients inherited across fork, kept referenced so that garbage collection in the child
# never runs their finalizers on sockets the parent still uses.
_GRAVEYARD: list[_PerLoop] = []
_LINKS: dict[str, RedisLink] = {}
_LINKS_LOCK = threading.Lock()


def redis_link(url: str, *, source: str = "redis_url") -> RedisLink:
    """The shared `RedisLink` for `url`, checked (reachable) the first time it is asked for."""
    with _LINKS_LOCK:
        link = _LINKS.get(url)
        if link is None:
            link = _LINKS[url] = RedisLink(url, source=source)
        return link


def _after_fork_in_child() -> None:
    global _LINKS_LOCK
    _LINKS_LOCK = threading.Lock()
    for link in list(_LINKS.values()):
        link.forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
