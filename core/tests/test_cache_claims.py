"""In-flight de-duplication: askers of one uncached key pay once (issue 13, item 3; issue 15.10).

In one process (any backend) through `LocalClaims`; across processes through Redis claims, with
4 real processes on a real redis-server, and an owner SIGKILLed while it holds a claim.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmp._cache import DiskCache, RedisCache
from llmp.testing._redis import RedisServer


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[DiskCache]:
    c = DiskCache(tmp_path)
    yield c
    c.close()


async def _ask_once(cache: Any, key: str, paid: list[str], answer: dict[str, Any]) -> dict[str, Any] | None:
    """What the engine does for one prompt: look up, claim, ask if owner, else wait."""
    hit = await cache.aget(key)
    if hit is not None:
        return hit  # type: ignore[no-any-return]
    async with cache.claim(key, lease=5) as claim:
        value = None if claim.owner else await claim.wait(timeout=10)
        if value is None:
            paid.append(key)
            await asyncio.sleep(0.05)  # the provider's latency: the others arrive meanwhile
            value = answer
            await cache.aset(key, value)
        return value  # type: ignore[no-any-return]


async def test_identical_prompts_in_one_process_pay_once(disk: DiskCache) -> None:
    paid: list[str] = []
    results = await asyncio.gather(*(_ask_once(disk, "same", paid, {"v": 1}) for _ in range(64)))
    assert paid == ["same"]
    assert results == [{"v": 1}] * 64
    assert len(disk._claims) == 0  # nothing left claimed


async def test_an_owner_that_fails_lets_a_waiter_ask(disk: DiskCache) -> None:
    owner_in = asyncio.Event()

    async def failing_owner() -> None:
        async with disk.claim("k") as claim:
            assert claim.owner
            owner_in.set()
            await asyncio.sleep(0.02)
            raise RuntimeError("provider down")

    async def waiter() -> object:
        await owner_in.wait()
        async with disk.claim("k") as claim:
            assert not claim.owner
            return await claim.wait(timeout=10)

    results = await asyncio.gather(failing_owner(), waiter(), return_exceptions=True)
    assert isinstance(results[0], RuntimeError)
    assert results[1] is None  # no answer: the waiter asks itself
    async with disk.claim("k") as claim:
        assert claim.owner  # released despite the exception


async def test_a_wait_times_out(disk: DiskCache) -> None:
    async with disk.claim("k") as owner:
        assert owner.owner
        async with disk.claim("k") as other:
            started = time.monotonic()
            assert await other.wait(timeout=0.05) is None
            assert time.monotonic() - started < 5
        with pytest.raises(RuntimeError, match="owner"):
            await owner.wait()


async def test_an_answer_stored_before_the_claim_is_used(disk: DiskCache) -> None:
    disk.set("k", {"v": 1})
    async with disk.claim("k") as claim:  # the caller missed just before another asker stored it
        assert not claim.owner
        assert await claim.wait() == {"v": 1}


def test_waiters_on_other_event_loops_get_the_answer(disk: DiskCache) -> None:
    owning = threading.Event()
    release = threading.Event()
    got: list[object] = []

    async def owner() -> None:
        async with disk.claim("k") as claim:
            assert claim.owner
            owning.set()
            await asyncio.to_thread(release.wait, 10)
            await disk.aset("k", {"v": "answer"})

    async def waiter() -> None:
        async with disk.claim("k") as claim:
            assert not claim.owner
            got.append(await claim.wait(timeout=10))

    first = threading.Thread(target=asyncio.run, args=(owner(),))
    first.start()
    assert owning.wait(10)
    others = [threading.Thread(target=asyncio.run, args=(waiter(),)) for _ in range(3)]
    for t in others:
        t.start()
    deadline = time.monotonic() + 10
    while sum(len(i.waiters) for i in disk._claims._inflight.values()) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert got == [{"v": "answer"}] * 3


# -- across processes, through Redis -----------------------------------------------------------

_WORKER_SRC = """
import asyncio, sys, json
from llmp._cache import RedisCache

url, worker, n_keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cache = RedisCache(url)
counter = __import__("redis").Redis.from_url(url)

async def one(key):
    hit = await cache.aget(key)
    if hit is not None:
        return hit
    async with cache.claim(key, lease=5) as claim:
        value = None if claim.owner else await claim.wait(timeout=20)
        if value is None:
            counter.incr("paid:" + key)  # the provider's request count, per prompt
            await asyncio.sleep(0.1)     # its latency: the other processes arrive meanwhile
            value = {"answer": key}
            await cache.aset(key, value)
        return value

async def main():
    counter.incr("ready")
    while int(counter.get("ready")) < 4:  # all four start asking at the same moment
        await asyncio.sleep(0.005)
    keys = [f"prompt-{(i * 7 + worker) % n_keys}" for i in range(n_keys)]  # same keys, other orders
    results = await asyncio.gather(*(one(k) for k in keys))
    assert all(r == {"answer": k} for r, k in zip(results, keys)), results
    print(json.dumps(len(results)))

asyncio.run(main())
cache.close()
"""


@pytest.mark.redis
def test_four_processes_pay_once_per_distinct_prompt(redis_server: RedisServer) -> None:
    n_keys = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER_SRC, redis_server.url, str(w), str(n_keys)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    outs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outs]
    assert [out.strip() for out, _ in outs] == [str(n_keys)] * 4
    import redis

    counter = redis.Redis.from_url(redis_server.url)
    paid = {k.decode(): int(counter.get(k)) for k in counter.scan_iter("paid:*")}
    assert len(paid) == n_keys
    assert set(paid.values()) == {1}  # each distinct prompt paid exactly once across 4 processes
    assert list(counter.scan_iter("llmp:claim:*")) == []  # every claim released


_OWNER_SRC = """
import asyncio, sys
from llmp._cache import RedisCache

cache = RedisCache(sys.argv[1])

async def main():
    async with cache.claim("k", lease=float(sys.argv[2])) as claim:
        assert claim.owner
        print("owning", flush=True)
        await asyncio.sleep(3600)  # SIGKILLed here, mid-request

asyncio.run(main())
"""


@pytest.mark.redis
def test_a_sigkilled_owner_frees_its_waiters_within_the_lease(redis_server: RedisServer) -> None:
    lease = 1.0
    owner = subprocess.Popen(
        [sys.executable, "-c", _OWNER_SRC, redis_server.url, str(lease)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert owner.stdout is not None
        assert owner.stdout.readline().strip() == "owning"
        cache = RedisCache(redis_server.url)

        async def wait_for_owner() -> tuple[bool, object, float]:
            async with cache.claim("k", lease=lease) as claim:
                owned = claim.owner
                os.kill(owner.pid, signal.SIGKILL)
                started = time.monotonic()
                value = await claim.wait(timeout=30)
                return owned, value, time.monotonic() - started

        async def after() -> bool:
            async with cache.claim("k", lease=lease) as claim:
                return claim.owner

        owned, value, waited = asyncio.run(wait_for_owner())
        assert (owned, value) == (False, None)  # no answer is coming: the caller asks itself
        assert waited < lease + 1.0  # freed by the lease's expiry, not by the 30 s timeout
        assert asyncio.run(after()) is True
        cache.close()
    finally:
        owner.kill()
        owner.wait(10)


@pytest.mark.redis
async def test_a_live_owner_keeps_its_claim_past_the_lease(redis_server: RedisServer) -> None:
    cache = RedisCache(redis_server.url)
    other = RedisCache(redis_server.url)  # another process's view: separate local claims
    try:
        async with cache.claim("slow", lease=0.3) as claim:
            assert claim.owner
            for _ in range(4):  # 1.2 s: four leases long, renewed meanwhile
                await asyncio.sleep(0.3)
                async with other.claim("slow", lease=0.3) as theirs:
                    assert not theirs.owner
            await cache.aset("slow", {"v": 1})
        async with other.claim("slow") as theirs:
            assert await theirs.wait(timeout=5) == {"v": 1}
    finally:
        await cache.aclose()
        await other.aclose()


@pytest.mark.redis
async def test_redis_down_while_claiming_means_ask_yourself(redis_server: RedisServer) -> None:
    cache = RedisCache(redis_server.url)
    try:
        redis_server.kill()
        async with cache.claim("k") as claim:
            assert claim.owner
    finally:
        await cache.aclose()
