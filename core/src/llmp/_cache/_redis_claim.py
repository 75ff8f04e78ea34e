"""In-flight claims in Redis: two processes (or machines) asking one uncached key pay once.

Claim: `SET <prefix>claim:<key> <token> NX PX <lease>`, sent in one pipeline with a GET of the
value (an answer stored between the caller's miss and the claim is used, not paid for again).
The owner renews the lease every third of it while its block runs (a compare-and-PEXPIRE script,
so it never extends a claim that expired and was taken by someone else) and deletes the claim when
the block ends (compare-and-DEL). An owner that is SIGKILLed stops renewing: the claim expires
within `lease` seconds and waiters stop waiting.

Waiting polls (one pipelined EXISTS claim + GET value per step, 5 ms doubling to 100 ms) rather
than subscribing: a claim collision is rare (only identical prompts asked at the same moment), a
poll step is one ~0.1 ms round trip on a connection the cache already has, whereas pub/sub needs a
dedicated connection per loop, loses messages published before the SUBSCRIBE or during a Redis
restart, and would still need the EXISTS check to notice a dead owner. Keyspace notifications
are off by default on Redis servers. The cost is up to 100 ms of extra latency after the owner's
answer, small against the seconds an LLM answer takes.

Redis failing at any step: the claim behaves as if uncontended (the caller asks itself), a waiter
returns None (it asks itself): a cache fault can cost a duplicate request, never a failed prompt.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from llmp._cache._claims import OWNER, ReadyClaim
from llmp._cache._protocol import Claim

if TYPE_CHECKING:
    from llmp._cache._redis import RedisCache

__all__ = ["RemoteWaiter", "remote_claim"]

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""
_FIRST_POLL = 0.005
_MAX_POLL = 0.1


class RemoteWaiter:
    """Another process owns the key: poll until its answer is stored or its claim is gone."""

    __slots__ = ("_cache", "_key")

    def __init__(self, cache: RedisCache, key: str) -> None:
        self._cache = cache
        self._key = key

    @property
    def owner(self) -> bool:
        return False

    async def wait(self, timeout: float | None = None) -> dict[str, Any] | None:  # noqa: ASYNC109
        cache = self._cache
        client = cache.client()
        claim_name, value_name = cache.claim_prefix + self._key, cache.name(self._key)
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = _FIRST_POLL

        async def poll() -> Any:
            pipe = client.pipeline(transaction=False)
            pipe.exists(claim_name)  # first: a claim gone *before* the GET means no answer is coming
            pipe.get(value_name)
            return await pipe.execute()

        while True:
            result = await cache.health.run(poll, None)
            if result is None:
                return None  # Redis failed: ask yourself
            claimed, raw = result
            if raw is not None:
                return cache.decoded(raw)
            if not claimed:
                return None  # the owner ended without an answer, or died and its lease expired
            pause = delay
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                pause = min(pause, left)
            await asyncio.sleep(pause)
            delay = min(delay * 2, _MAX_POLL)


async def _renew(cache: RedisCache, client: Any, name: str, token: str, lease_ms: int) -> None:
    while True:
        await asyncio.sleep(lease_ms / 3000)
        await cache.health.run(lambda: client.eval(_RENEW, 1, name, token, lease_ms), None)


@contextlib.asynccontextmanager
async def remote_claim(cache: RedisCache, key: str, lease: float) -> AsyncIterator[Claim]:
    client = cache.client()
    name = cache.claim_prefix + key
    token = secrets.token_hex(16)
    lease_ms = max(1, round(lease * 1000))

    async def acquire() -> Any:
        pipe = client.pipeline(transaction=False)
        pipe.set(name, token, nx=True, px=lease_ms)
        pipe.get(cache.name(key))
        return await pipe.execute()

    result = await cache.health.run(acquire, None)
    if result is None:
        yield OWNER  # Redis failed: nobody to share with
        return
    acquired, raw = result
    value = cache.decoded(raw)
    if not acquired:
        yield ReadyClaim(value) if value is not None else RemoteWaiter(cache, key)
        return
    renewer = None if value is not None else asyncio.create_task(_renew(cache, client, name, token, lease_ms))
    try:
        yield ReadyClaim(value) if value is not None else OWNER
    finally:
        if renewer is not None:
            renewer.cancel()  # not awaited: that could swallow a cancellation of this task
        await cache.health.run(lambda: client.eval(_RELEASE, 1, name, token), None)
