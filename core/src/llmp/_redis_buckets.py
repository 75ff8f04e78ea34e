"""A token bucket shared through Redis by every process using one name: cluster-wide rpm/tpm.

The bucket lives in Redis and is refilled by Redis's own clock (`TIME`), so the machines' clocks
do not matter (the script: `_redis_buckets_lua`). Taking is a reservation with a ticket, served
when the bucket's credit reaches it: first come first served across the cluster, and one round
trip per request with no polling. The takes made on one event loop in one turn of it go in one
call, and refunds and charges (`settle`) ride along or follow within a few milliseconds. A waiter
re-reads the credit at least every second, so refunds made elsewhere bring it forward.

Redis down or unreachable: the bucket falls back to a local `TokenBucket` with the same numbers,
with one warning (each process then has the whole rate to itself until Redis is back: never
unlimited, but up to one rate per process); Redis is tried again every 2 s in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from typing import Any

from llmp._buckets import TokenBucket, check_cost, check_rate
from llmp._redis_buckets_lua import BUCKET_SCRIPT
from llmp._redis_health import RedisHealth
from llmp._redis_link import RedisLink, Script
from llmp.errors import ConfigurationError

__all__ = ["RedisTokenBucket"]

# Longest sleep before a waiter re-reads the credit; how often Redis is tried again when away.
_RECHECK = 1.0
_PROBE_EVERY = 2.0
# Refunds and charges wait this long for company (or a take to ride along with) before being sent.
_SETTLE_DELAY = 0.005

_SCRIPT = Script(BUCKET_SCRIPT)
_Take = tuple[float, "asyncio.Future[tuple[float, float, str]]"]


class RedisTokenBucket:
    """`rate` units per `per` seconds, `burst` at once, for every process using `name` on Redis."""

    def __init__(
        self, link: RedisLink, name: str, rate: float, *, per: float = 60.0, burst: float | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"RedisTokenBucket name must be a non-empty string, got {name!r}")
        self.name = name
        self.capacity = check_rate(rate, per, burst, name)
        self.rate = float(rate)
        self.per = float(per)
        self.link = link
        self._key = f"{{llmp:bucket:{name}}}"
        self._per_second = rate / per
        self.fallback = TokenBucket(rate, per, burst=burst, name=name)
        self._lock = threading.Lock()
        self._pending = 0.0  # settled units not yet sent
        self._flushing = False
        self._takes: dict[asyncio.AbstractEventLoop, list[_Take]] = {}  # this turn's, per loop
        self._health = RedisHealth(
            link.masked,
            fallback=f"the shared rate limit {name!r} ({rate:g} per {per:g}s) falls back to this "
            "process alone",
            back=f"the rate limit {name!r} is shared again",
            probe_every=_PROBE_EVERY,
        )
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and the local bucket stands in for it."""
        return self._health.degraded

    async def acquire(self, cost: float = 1) -> None:
        """Wait until `cost` units fit in the shared budget, then take them."""
        cost = check_cost(cost, self.capacity, self.name)
        if cost == 0:
            return
        if self._health.degraded:
            self._maybe_probe()
            return await self.fallback.acquire(cost)
        taken = False
        try:
            while True:
                ticket, credit, epoch = await self._take(cost)
                taken = True
                while credit < ticket:
                    await asyncio.sleep(min((ticket - credit) / self._per_second, _RECHECK))
                    reply = await self._call("check", epoch, [])
                    if reply is None:  # Redis lost the bucket (a restart): take again
                        taken = False
                        break
                    credit = reply[0]
                else:
                    return
        except asyncio.CancelledError:
            if taken:
                self.settle(cost, 0)  # the reservation is given back
            raise
        except Exception as exc:  # Redis went away: the local bucket instead
            self._degrade(exc)
            await self.fallback.acquire(cost)

    async def _take(self, cost: float) -> tuple[float, float, str]:
        """(ticket, credit, epoch) for `cost`, taken together with this loop turn's other takes."""
        loop = asyncio.get_running_loop()
        batch = self._takes.get(loop)
        if batch is None:
            with self._lock:
                for closed in [lp for lp in self._takes if lp.is_closed()]:
                    del self._takes[closed]
                batch = self._takes[loop] = []
        fut: asyncio.Future[tuple[float, float, str]] = loop.create_future()
        batch.append((cost, fut))
        if len(batch) == 1:  # the first of this turn: the call goes out at the next turn
            self._spawn(loop, self._send_takes(loop))
        return await fut

    async def _send_takes(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._takes[loop] = self._takes[loop], []
        try:
            reply = await self._call("take", secrets.token_hex(4), [cost for cost, _ in batch])
        except BaseException as exc:
            for _, fut in batch:
                if fut.done():
                    continue
                if isinstance(exc, Exception):
                    fut.set_exception(exc)  # each acquire() falls back to the local bucket
                else:
                    fut.cancel()
            if not isinstance(exc, Exception):
                raise
            return
        assert reply is not None
        credit, epoch, tickets = reply[0], reply[1], reply[2]
        for (cost, fut), ticket in zip(batch, tickets, strict=True):
            if fut.done():  # its acquire() was cancelled meanwhile: give the units back
                self.settle(cost, 0)
            else:
                fut.set_result((ticket, credit, epoch))

    async def _call(self, op: str, epoch: str, costs: list[float]) -> tuple[float, str, list[float]] | None:
        """One script call carrying the pending settlement: (credit, epoch, tickets), or None (void)."""
        with self._lock:
            delta, self._pending = self._pending, 0.0
        args = [op, repr(self._per_second / 1000), repr(self.capacity), epoch, repr(delta)]
        try:
            reply = await self.link.run(_SCRIPT, [self._key], args + [repr(c) for c in costs])
        except BaseException:
            with self._lock:
                self._pending += delta
            raise
        if reply[0] == b"void":
            return None
        return float(reply[1]), reply[0].decode(), [float(t) for t in reply[2:]]

    def settle(self, reserved: float, actual: float) -> None:
        """Refund `reserved - actual` units (charge them if negative); sent to Redis shortly."""
        for label, value in (("reserved", reserved), ("actual", actual)):
            check_cost(value, float("inf"), self.name, label)
        delta = float(reserved) - float(actual)
        if not delta:
            return
        if self._health.degraded:
            self.fallback.settle(reserved, actual)
            return
        with self._lock:
            self._pending += delta
            if self._flushing:
                return
            self._flushing = True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called from plain sync code: send it now
            self._flush_sync()
            return
        self._spawn(loop, self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(_SETTLE_DELAY)  # more settles (or a take) may ride along
        finally:
            with self._lock:
                self._flushing = False
        if self._pending:
            try:
                await self._call("settle", secrets.token_hex(4), [])
            except Exception as exc:
                self._degrade(exc)

    def _flush_sync(self) -> None:
        with self._lock:
            self._flushing = False
            delta, self._pending = self._pending, 0.0
        rate = repr(self._per_second / 1000)
        args = ["settle", rate, repr(self.capacity), secrets.token_hex(4), repr(delta)]
        try:
            self.link.run_sync(_SCRIPT, [self._key], args)
        except Exception as exc:
            self._degrade(exc)

    def _spawn(self, loop: asyncio.AbstractEventLoop, coro: Any) -> None:
        task = loop.create_task(coro)
        self._tasks.add(task)  # the loop keeps only a weak reference
        task.add_done_callback(self._tasks.discard)

    def _degrade(self, exc: BaseException) -> None:
        if not self._health.degraded:
            with self._lock:
                self._pending = 0.0  # Redis's bucket may be gone; its refunds are not the local one's
        self._health.failed(exc)

    def _maybe_probe(self) -> None:
        if self._health.probe_due():
            self._health.probe_at = time.monotonic() + _PROBE_EVERY
            self._spawn(asyncio.get_running_loop(), self._probe())

    async def _probe(self) -> None:
        with contextlib.suppress(Exception):
            await self.link.client().ping()
            self._health.answered()

    def __repr__(self) -> str:
        return (
            f"RedisTokenBucket({self.name!r}, {self.rate:g} per {self.per:g}s, burst={self.capacity:g}, "
            f"redis={self.link.masked!r})"
        )
