"""A token bucket shared through Redis by every process using one name: cluster-wide rpm/tpm.

One Lua script keeps the bucket (a hash: `level`, `ts`, `total`, `epoch`) and refills it by
Redis's own clock (`TIME`), so the machines' clocks do not matter. Taking is a reservation: the
units are taken at once, even into debt, and the call returns a ticket (the running total taken)
and the credit so far (`level + total`); the ticket is served when the credit reaches it, which it
does at `rate` per second. That makes one round trip per request with no polling, first come first
served across the cluster. A waiter re-reads the credit at least every second, so refunds made
elsewhere (`settle`) bring it forward.

Redis down or unreachable: the bucket falls back to a local `TokenBucket` with the same numbers,
with one warning (so each process keeps the whole rate to itself until Redis is back: never
unlimited, but up to N processes' worth); Redis is tried again every few seconds in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from typing import Any

from llmp._buckets import TokenBucket, check_cost, check_rate
from llmp._redis_health import RedisHealth
from llmp._redis_link import RedisLink, Script
from llmp.errors import ConfigurationError

__all__ = ["RedisTokenBucket"]

# Longest sleep before a waiter re-reads the credit; how often Redis is tried again when away.
_RECHECK = 1.0
_PROBE_EVERY = 2.0
# Refunds and charges are sent in one call per this many seconds (and ride along with a take).
_SETTLE_DELAY = 0.005

BUCKET_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rate, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local amount, delta = tonumber(ARGV[4]), tonumber(ARGV[6])
local v = redis.call('HMGET', KEYS[1], 'level', 'ts', 'total', 'epoch')
local level, ts, total, epoch = tonumber(v[1]), tonumber(v[2]), tonumber(v[3]), v[4]
local op = ARGV[1]
if not epoch then
  if op == 'check' then return {'void', ''} end
  level, ts, total, epoch = cap, now, 0, ARGV[5]
end
if now > ts then
  level = math.min(cap, level + (now - ts) * rate)
  ts = now
end
level = math.min(cap, level + delta)
if op == 'take' then
  total = total + amount
  level = level - amount
elseif op == 'check' and epoch ~= ARGV[5] then
  return {'void', epoch}
end
redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level), 'ts', string.format('%.17g', ts),
  'total', string.format('%.17g', total), 'epoch', epoch)
redis.call('PEXPIRE', KEYS[1], math.ceil((cap - level) / rate) + 1000)
return {string.format('%.17g', total), string.format('%.17g', level + total), epoch}
"""
_SCRIPT = Script(BUCKET_SCRIPT)


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
        self._per_ms = rate / per / 1000
        self.fallback = TokenBucket(rate, per, burst=burst, name=name)
        self._lock = threading.Lock()
        self._pending = 0.0  # settled units not yet sent
        self._flushing = False
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
        try:
            await self._acquire(cost)
        except asyncio.CancelledError:
            self.settle(cost, 0)  # the reservation is given back (it may have been made)
            raise
        except Exception as exc:  # Redis went away: the local bucket instead
            self._degrade(exc)
            await self.fallback.acquire(cost)

    async def _acquire(self, cost: float) -> None:
        while True:
            ticket, credit, epoch = await self._call("take", cost, secrets.token_hex(4))
            while credit < ticket:
                await asyncio.sleep(min((ticket - credit) / self._per_ms / 1000, _RECHECK))
                reply = await self._call("check", 0, epoch)
                if reply is None:
                    break  # Redis lost the bucket (restart): this reservation is void, take again
                _, credit, _ = reply
            else:
                return

    async def _call(self, op: str, amount: float, epoch: str) -> Any:
        with self._lock:
            delta, self._pending = self._pending, 0.0
        args = [op, repr(self._per_ms), repr(self.capacity), repr(amount), epoch, repr(delta)]
        try:
            reply = await self.link.run(_SCRIPT, [self._key], args)
        except BaseException:
            with self._lock:
                self._pending += delta
            raise
        if reply[0] == b"void":
            return None
        return float(reply[0]), float(reply[1]), reply[2].decode()

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
        except RuntimeError:
            loop = None
        if loop is None:  # called from plain sync code: send it now
            self._flush_sync()
            return
        task = loop.create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(_SETTLE_DELAY)  # more settles (or a take) may ride along
        finally:
            with self._lock:
                self._flushing = False
        if self._pending:
            try:
                await self._call("settle", 0, secrets.token_hex(4))
            except Exception as exc:
                self._degrade(exc)

    def _flush_sync(self) -> None:
        with self._lock:
            self._flushing = False
            delta, self._pending = self._pending, 0.0
        args = ["settle", repr(self._per_ms), repr(self.capacity), "0", secrets.token_hex(4), repr(delta)]
        try:
            self.link.run_sync(_SCRIPT, [self._key], args)
        except Exception as exc:
            self._degrade(exc)

    def _degrade(self, exc: BaseException) -> None:
        if not self._health.degraded:
            with self._lock:
                self._pending = 0.0  # Redis's bucket may be gone; its refunds are not the local one's
        self._health.failed(exc)

    def _maybe_probe(self) -> None:
        if not self._health.probe_due():
            return
        self._health.probe_at = time.monotonic() + _PROBE_EVERY
        task = asyncio.get_running_loop().create_task(self._probe())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self) -> None:
        with contextlib.suppress(Exception):
            await self.link.client().ping()
            self._health.answered()

    def __repr__(self) -> str:
        return (
            f"RedisTokenBucket({self.name!r}, {self.rate:g} per {self.per:g}s, burst={self.capacity:g}, "
            f"redis={self.link.masked!r})"
        )
