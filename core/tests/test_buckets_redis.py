"""The Redis-shared token bucket against a real Redis: one budget for every instance (each one
stands for a process: the bucket's state is all in Redis), refunds made elsewhere, the burst
error, a Redis restart, and falling back to a local bucket while Redis is away."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from llmp._buckets import rate_bucket
from llmp._redis_buckets import RedisTokenBucket
from llmp._redis_link import RedisLink
from llmp.errors import BurstCapacityError
from llmp.testing._redis import RedisServer

from .test_buckets import admitted_in_windows

pytestmark = pytest.mark.redis


def bucket(
    redis: RedisServer, rate: float, per: float = 1.0, *, burst: float | None = None
) -> RedisTokenBucket:
    return RedisTokenBucket(RedisLink(redis.url), "test:rpm", rate, per=per, burst=burst)


async def test_instances_share_one_budget_within_one_burst(redis_server: RedisServer) -> None:
    rate, burst = 100.0, 5  # per second
    buckets = [bucket(redis_server, rate, burst=burst) for _ in range(3)]
    times: list[float] = []
    stop = time.monotonic() + 1.2

    async def hammer(b: RedisTokenBucket) -> None:
        while time.monotonic() < stop:
            await b.acquire()
            times.append(time.monotonic())

    await asyncio.gather(*(hammer(b) for b in buckets for _ in range(4)))
    for window in (0.25, 0.5, 1.0):
        most = admitted_in_windows(sorted(times), window)
        # Redis's clock admits, this loop stamps a task when it resumes it, late by the loop's
        # delay (tens of ms on a loaded machine): allow 0.1 s of that.
        assert most <= burst + rate * (window + 0.1), (window, most)
    assert len(times) >= 0.8 * rate * 1.2  # every instance got its turns: the budget was used


async def test_a_refund_elsewhere_brings_a_waiter_forward(redis_server: RedisServer) -> None:
    first, second = (bucket(redis_server, 6, 60, burst=2) for _ in range(2))  # 1 per 10 s
    await first.acquire(2)
    waiter = asyncio.create_task(second.acquire(1))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    first.settle(2, 0)  # the estimate was too high: nothing was used
    await asyncio.wait_for(waiter, 5)  # within a re-check (1 s), long before the 10 s refill


async def test_takes_of_one_loop_turn_share_a_call_and_a_cancelled_one_is_refunded(
    redis_server: RedisServer,
) -> None:
    shared, other = (bucket(redis_server, 1, 3600, burst=3) for _ in range(2))  # 1 per hour
    takers = [asyncio.create_task(shared.acquire(1)) for _ in range(3)]
    await asyncio.sleep(0)  # all three queued their takes for the same call
    takers[2].cancel()  # ...and one gives up before the answer
    await asyncio.wait_for(asyncio.gather(*takers[:2]), 5)
    with pytest.raises(asyncio.CancelledError):
        await takers[2]
    await asyncio.wait_for(other.acquire(1), 5)  # the refunded unit; nothing else could free it
    waiter = asyncio.create_task(other.acquire(1))
    await asyncio.sleep(0.2)
    assert not waiter.done()  # three units in all, not four
    waiter.cancel()


async def test_a_cost_above_the_burst_is_an_error_at_once(redis_server: RedisServer) -> None:
    shared = bucket(redis_server, 1000, 60, burst=500)
    with pytest.raises(BurstCapacityError, match="'test:rpm'"):
        await shared.acquire(501)


async def test_after_a_restart_the_bucket_starts_full_and_waiters_take_again(
    redis_server: RedisServer,
) -> None:
    shared = bucket(redis_server, 6, 60, burst=1)  # 1 per 10 s
    await shared.acquire(1)
    waiter = asyncio.create_task(shared.acquire(1))
    await asyncio.sleep(0.1)
    redis_server.restart()  # empty: the waiter's ticket belongs to a bucket that is gone
    await asyncio.wait_for(waiter, 5)
    assert not shared.degraded


async def test_redis_down_falls_back_to_a_local_bucket_with_one_warning(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    shared = bucket(redis_server, 6, 60, burst=3)
    await shared.acquire(1)
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="llmp.limits"):
        for _ in range(3):
            await asyncio.wait_for(shared.acquire(1), 5)
        assert shared.degraded
        blocked = asyncio.create_task(shared.acquire(1))
        await asyncio.sleep(0.2)
        assert not blocked.done(), "the local stand-in keeps the same budget: never unlimited"
        blocked.cancel()
        warnings = [r.getMessage() for r in caplog.records if "falls back" in r.getMessage()]
        assert len(warnings) == 1, warnings
        assert "'test:rpm' (6 per 60s)" in warnings[0]
        redis_server.start()
        deadline = time.monotonic() + 10
        while shared.degraded:
            assert time.monotonic() < deadline
            shared.settle(1, 0)  # room in the local stand-in, so the acquire returns at once...
            await shared.acquire(1)  # ...having started a probe if one is due (every 2 s)
            await asyncio.sleep(0.05)
        assert any("shared again" in r.getMessage() for r in caplog.records)
    await asyncio.wait_for(shared.acquire(1), 5)  # the restarted Redis has a full bucket


def test_rate_bucket_picks_redis_from_the_environment(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMP_REDIS_URL", redis_server.url)
    shared = rate_bucket("openai:key-a1b2:tpm", 30_000, burst=10_000)
    assert isinstance(shared, RedisTokenBucket)
    assert (shared.rate, shared.per, shared.capacity) == (30_000, 60, 10_000)
    assert rate_bucket("openai:key-a1b2:tpm", 30_000, burst=10_000) is shared
    local = rate_bucket("openai:key-a1b2:tpm", 30_000, burst=10_000, redis_url="")
    assert not isinstance(local, RedisTokenBucket)
