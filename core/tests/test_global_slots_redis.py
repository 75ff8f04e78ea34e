"""Cluster-wide slots in a real Redis (one process): the cap, renewal, fairness, cancellation,
falling back to the machine-wide slots while Redis is away and coming back, bad URLs.

Several `ClusterSlots` instances on one Redis behave exactly like several processes (each has its
own token, loop states and worker; Redis is all they share). The multi-process runs (SIGKILL, a
Redis restart under four jobs) are in tests/test_cluster_limits.py.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from llmp._global_slots import global_slots
from llmp._machine_slots import MachineSlots
from llmp._redis_link import RedisLink, mask_url
from llmp._redis_slots import ClusterSlot, ClusterSlots
from llmp.errors import ConfigurationError
from llmp.testing._redis import RedisServer

pytestmark = pytest.mark.redis

LEASES = "{llmp:slots:global}:leases"
QUEUE = "{llmp:slots:global}:queue"


def count(redis: RedisServer, key: str) -> int:
    reply = redis.command("ZCARD", key)
    return int(reply[1:].split(b"\r\n", 1)[0])


def cluster(redis: RedisServer, tmp_path: Path, limit: int, *, lease: float = 10.0) -> ClusterSlots:
    """A fresh instance (a process, as far as Redis can tell) with its own local fallback."""
    return ClusterSlots(
        RedisLink(redis.url), limit, fallback=MachineSlots(limit, tmp_path / "local"), lease=lease
    )


async def wait_until(predicate: object, within: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


async def test_many_tasks_of_two_instances_never_exceed_the_cap(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    first, second = cluster(redis_server, tmp_path, 3), cluster(redis_server, tmp_path, 3)
    current = peak = done = 0

    async def worker(slots: ClusterSlots) -> None:
        nonlocal current, peak, done
        for _ in range(5):
            slot = await slots.acquire()
            current += 1
            peak = max(peak, current)
            await asyncio.sleep(0.002)  # the request this slot stands for
            current -= 1
            slot.release()
            done += 1

    await asyncio.gather(*(worker(first if i % 2 else second) for i in range(16)))
    assert (peak, done) == (3, 80)
    assert first.held == second.held == 0
    await wait_until(lambda: count(redis_server, LEASES) == 0)  # every release reached Redis
    assert count(redis_server, QUEUE) == 0


def test_loops_in_several_threads_share_one_instance(redis_server: RedisServer, tmp_path: Path) -> None:
    slots = cluster(redis_server, tmp_path, 2)
    lock = threading.Lock()
    current = peak = 0

    async def job() -> None:
        nonlocal current, peak
        for _ in range(10):
            async with await slots.acquire():
                with lock:
                    current += 1
                    peak = max(peak, current)
                await asyncio.sleep(0.002)
                with lock:
                    current -= 1

    threads = [threading.Thread(target=asyncio.run, args=(job(),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert peak == 2
    assert slots.held == 0
    assert count(redis_server, LEASES) == 0  # asyncio.run's shutdown flushed each loop's releases


async def test_a_slot_held_longer_than_its_lease_stays_held(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    holder, other = (
        cluster(redis_server, tmp_path, 1, lease=0.6),
        cluster(redis_server, tmp_path, 1, lease=0.6),
    )
    slot = await holder.acquire()
    contender = asyncio.create_task(other.acquire())
    await asyncio.sleep(2.0)  # the request being timed: three lease lengths
    assert not contender.done(), "the slot was taken from its holder while the request ran"
    assert count(redis_server, LEASES) == 1
    slot.release()
    (await asyncio.wait_for(contender, 10)).release()


async def test_renewing_never_brings_back_a_released_lease(redis_server: RedisServer, tmp_path: Path) -> None:
    """The renewer thread runs beside the loop that releases. A lease released between the
    thread's look at what is held and its call must stay released; it came back (for a whole
    lease, taking a slot nobody held) when renewing added leases instead of extending them."""
    slots = cluster(redis_server, tmp_path, 3, lease=1.0)  # renewed every 250 ms
    looked, go, done = threading.Event(), threading.Event(), threading.Event()
    run_sync = slots.link.run_sync

    def preempted(*args: Any) -> Any:
        looked.set()  # the thread has its list of held leases...
        go.wait(10)  # ...and loses the CPU before its call
        try:
            return run_sync(*args)
        finally:
            done.set()

    slots.link.run_sync = preempted  # type: ignore[method-assign]
    held = [await slots.acquire() for _ in range(3)]
    await wait_until(looked.is_set)
    for slot in held:
        slot.release()
    await wait_until(lambda: count(redis_server, LEASES) == 0)
    go.set()
    await wait_until(done.is_set)
    slots.link.run_sync = run_sync  # type: ignore[method-assign]
    assert count(redis_server, LEASES) == 0, "a released lease came back"
    assert slots.held == 0


async def test_a_busy_instance_does_not_starve_a_quiet_one(redis_server: RedisServer, tmp_path: Path) -> None:
    """A loop that releases and at once asks again would win every free slot without the queue."""
    busy, quiet = cluster(redis_server, tmp_path, 1), cluster(redis_server, tmp_path, 1)
    cycles = 0
    stop = asyncio.Event()

    async def hog() -> None:
        nonlocal cycles
        while not stop.is_set():
            async with await busy.acquire():
                cycles += 1
                await asyncio.sleep(0.001)

    hogs = [asyncio.create_task(hog()) for _ in range(8)]
    await wait_until(lambda: cycles >= 20)
    start = cycles
    slot = await asyncio.wait_for(quiet.acquire(), 10)
    waited = cycles - start
    slot.release()
    stop.set()
    await asyncio.gather(*hogs)
    assert waited <= 3, f"the quiet instance waited {waited} of the busy one's turns"


async def test_cancelled_waiters_leave_nothing_behind(redis_server: RedisServer, tmp_path: Path) -> None:
    slots, outsider = cluster(redis_server, tmp_path, 1), cluster(redis_server, tmp_path, 1)
    held = await outsider.acquire()
    waiters = [asyncio.create_task(slots.acquire()) for _ in range(5)]
    await wait_until(lambda: count(redis_server, QUEUE) == 1)  # one place in the queue for the loop
    for waiter in waiters:
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await wait_until(lambda: count(redis_server, QUEUE) == 0)  # the loop left the queue at once
    held.release()
    await wait_until(lambda: count(redis_server, LEASES) == 0)
    assert slots.held == 0
    again = await asyncio.wait_for(slots.acquire(), 10)
    assert isinstance(again, ClusterSlot)
    again.release()


async def test_redis_down_falls_back_to_the_machine_slots_and_comes_back(
    redis_server: RedisServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    slots = cluster(redis_server, tmp_path, 3, lease=1.0)
    before = await slots.acquire()  # a Redis lease, its request in flight across the outage
    redis_server.kill()
    with caplog.at_level(logging.WARNING, logger="llmp.limits"):
        during = [await asyncio.wait_for(slots.acquire(), 10) for _ in range(2)]
        assert slots.degraded
        assert all(s.lease_id is None for s in during)  # machine-wide slots, not leases
        assert "local+redis" in repr(before)  # the request in flight counts against the local cap
        blocked = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0.2)
        assert not blocked.done(), "the local fallback has the same cap (3): never unlimited"
        during[0].release()
        during[0] = await asyncio.wait_for(blocked, 10)
        warnings = [r.getMessage() for r in caplog.records if "falls back" in r.getMessage()]
        assert len(warnings) == 1, warnings  # one clear warning, however many acquisitions
        assert redis_server.url.rsplit("/", 1)[0] in warnings[0]
        redis_server.start()
        back = asyncio.create_task(slots.acquire())  # its probe finds Redis again
        await wait_until(lambda: not slots.degraded)
        assert any("answers again" in r.getMessage() for r in caplog.records)
    # The slots still held (taken locally, or leases Redis forgot) are registered as leases again:
    # they fill the cap in Redis, so the waiter is not granted a fourth.
    await wait_until(lambda: count(redis_server, LEASES) == 3)
    await asyncio.sleep(0.2)
    assert not back.done()
    before.release()
    slot = await asyncio.wait_for(back, 10)
    assert slot.lease_id is not None  # a Redis lease again, not a local slot
    assert "local" not in repr(slot)
    assert count(redis_server, LEASES) == 3
    for held in (slot, *during):
        held.release()
    await wait_until(lambda: count(redis_server, LEASES) == 0)
    assert slots.held == 0


async def test_after_redis_lost_its_memory_nothing_is_granted_until_holders_reassert(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    holder, other = (
        cluster(redis_server, tmp_path, 2, lease=1.0),
        cluster(redis_server, tmp_path, 2, lease=1.0),
    )
    (await other.acquire()).release()  # `other` has seen the state Redis is about to lose
    held = [await holder.acquire() for _ in range(2)]
    redis_server.flush()  # what a restart without persistence looks like, minus the dropped sockets
    contender = asyncio.create_task(other.acquire())
    await asyncio.sleep(1.5)  # past the grace period (one lease) and several renewals
    assert not contender.done(), "a slot was granted while both were still held"
    assert count(redis_server, LEASES) == 2  # the holder registered its leases again
    held[0].release()
    (await asyncio.wait_for(contender, 10)).release()
    held[1].release()


def test_factory_picks_redis_and_shares_the_instance(redis_server: RedisServer, tmp_path: Path) -> None:
    slots = global_slots(4, redis_url=redis_server.url, lease=3, directory=tmp_path)
    assert isinstance(slots, ClusterSlots)
    assert (slots.limit, slots.lease) == (4, 3.0)
    assert slots.fallback.directory == tmp_path.resolve()
    assert global_slots(4, redis_url=redis_server.url, lease=3, directory=tmp_path) is slots
    assert isinstance(global_slots(4, redis_url="", directory=tmp_path), MachineSlots)


def test_env_makes_the_cap_cluster_wide(
    redis_server: RedisServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMP_GLOBAL_CONCURRENCY", "3")
    monkeypatch.setenv("LLMP_REDIS_URL", redis_server.url)
    monkeypatch.setenv("LLMP_GLOBAL_LEASE", "2.5")
    monkeypatch.setenv("LLMP_GLOBAL_SLOTS_DIR", str(tmp_path))
    slots = global_slots()
    assert isinstance(slots, ClusterSlots)
    assert (slots.limit, slots.lease) == (3, 2.5)


def test_unreachable_url_is_a_configuration_error_with_the_password_masked() -> None:
    with RedisServer() as server:
        url = f"redis://:hunter2secret@127.0.0.1:{server.port}/0"
    with pytest.raises(ConfigurationError) as caught:
        global_slots(2, redis_url=url)
    message = str(caught.value)
    assert f"cannot reach Redis at redis://:***@127.0.0.1:{server.port}/0 (redis_url)" in message
    assert "hunter2secret" not in message + repr(caught.value)


async def test_the_password_is_in_no_error_warning_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "hunter2-" + "x" * 16
    with RedisServer() as server:  # its own server: a password would lock the shared one
        assert server.command("CONFIG", "SET", "requirepass", secret).startswith(b"+OK")
        with pytest.raises(ConfigurationError) as wrong:
            RedisLink(f"redis://:not-{secret}@127.0.0.1:{server.port}/0")
        assert "redis://:***@127.0.0.1" in str(wrong.value)
        url = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        slots = global_slots(2, redis_url=url, lease=1, directory=tmp_path)
        assert isinstance(slots, ClusterSlots)
        held = await slots.acquire()
        with caplog.at_level(logging.DEBUG, logger="llmp"):
            server.kill()
            (await asyncio.wait_for(slots.acquire(), 10)).release()  # falls back, warning
        held.release()
        shown = [str(wrong.value), repr(wrong.value), repr(slots), repr(held), repr(slots.link)]
        shown += [r.getMessage() for r in caplog.records]
        assert any("falls back" in line for line in shown)
        assert not [line for line in shown if secret in line]


def test_env_url_errors_name_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LLMP_GLOBAL_SLOTS_DIR", str(tmp_path))
    monkeypatch.setenv("LLMP_REDIS_URL", "http://user:pw123456@example.invalid:6379/0")
    with pytest.raises(
        ConfigurationError,
        match=r"^LLMP_REDIS_URL 'http://user:\*\*\*@example.invalid:6379/0' is not a Redis URL",
    ):
        global_slots(2)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("redis://:pw@h:1/0", "redis://:***@h:1/0"),
        ("rediss://user:p%40ss@h/2", "rediss://user:***@h/2"),
        ("redis://h:1/0?password=secret&db=3", "redis://h:1/0?password=***&db=3"),
        ("redis://h:1/0", "redis://h:1/0"),
        ("redis://h:port/0", "redis://h:port/0"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_without_the_redis_package_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # what `import redis` sees when it is not installed
    with pytest.raises(ConfigurationError, match=r'pip install "llmp-core\[redis\]"'):
        RedisLink("redis://127.0.0.1:1/0")


FORK_SCRIPT = """
import asyncio, multiprocessing, sys
from pathlib import Path
from llmp._machine_slots import MachineSlots
from llmp._redis_link import RedisLink
from llmp._redis_slots import ClusterSlots

def child(slot, slots, out):
    slot.release()  # the parent's lease: not the child's to release
    async def take():
        mine = await asyncio.wait_for(slots.acquire(), 10)  # a lease of its own, under a new token
        out.put(mine.lease_id.split(":")[0])
        mine.release()
        await asyncio.sleep(0.05)
    asyncio.run(take())

url, tmp = sys.argv[1], Path(sys.argv[2])
slots = ClusterSlots(RedisLink(url), 2, fallback=MachineSlots(2, tmp), lease=5)

async def main():
    parents = await slots.acquire()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=child, args=(parents, slots, out))
    proc.start()
    token = out.get(timeout=30)
    proc.join(30)
    assert proc.exitcode == 0, proc.exitcode
    assert token != parents.lease_id.split(":")[0], token
    zcard = await slots.link.client().zcard(slots._keys[0])
    assert zcard == 1, zcard  # the parent's lease is still there; the child's is gone
    parents.release()

asyncio.run(main())
print("fork ok")
"""


def test_a_forked_child_neither_releases_nor_reuses_the_parents_leases(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # A fresh interpreter: forking this threaded test process could hang on another test's lock.
    out = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, redis_server.url, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert "fork ok" in out.stdout, out.stderr[-3000:]
