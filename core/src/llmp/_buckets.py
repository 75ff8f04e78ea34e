"""Token buckets for requests-per-minute and tokens-per-minute limits, with bursts.

`TokenBucket(rate, per=60, burst=None)` admits `rate` units per `per` seconds, refilling
continuously up to `burst` (default `rate`: one period's worth at once, the way providers' own
limits behave). It is proactive: `await bucket.acquire(cost)` waits until the budget allows, so a
job held at the limit never sends a request the provider would refuse.

- tpm is reserved from an estimate before sending; `bucket.settle(reserved, actual)` refunds or
  charges the difference once the real count is known (a charge can leave the bucket in debt,
  which later requests wait out).
- Waiters are served first come, first served: a large request is never starved by small ones,
  and a newcomer never overtakes a waiter. Waiting holds nothing (no slot, no lock).
- A cost above `burst` can never be admitted: `BurstCapacityError` at once, naming the limit.
- One bucket can be shared by tasks on several event loops (threads): its state is guarded by a
  lock and a waiter on another loop is woken through that loop.

`rate_bucket(name, rate, ...)` returns the bucket for a named limit, shared in the process, and
shared through Redis when `LLMP_REDIS_URL` (or `redis_url=`) is set (`RedisTokenBucket`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from llmp.errors import BurstCapacityError, ConfigurationError

__all__ = ["RateBucket", "TokenBucket", "check_cost", "check_rate", "rate_bucket"]


class RateBucket(Protocol):
    """What the engine needs from a rate limit, local or cluster-wide."""

    name: str
    capacity: float

    async def acquire(self, cost: float = 1) -> None:
        """Wait until `cost` units fit, and take them."""
        ...

    def settle(self, reserved: float, actual: float) -> None:
        """Give back `reserved - actual` units (or take more, if negative)."""
        ...


def check_rate(rate: float, per: float, burst: float | None, name: str) -> float:
    """Validate a limit's numbers; the burst capacity it gives."""
    for label, value in (("rate", rate), ("per", per)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < math.inf:
            raise ConfigurationError(f"rate limit {name!r}: {label} must be a positive number, got {value!r}")
    if burst is None:
        return float(rate)
    if isinstance(burst, bool) or not isinstance(burst, int | float) or not 0 < burst < math.inf:
        raise ConfigurationError(f"rate limit {name!r}: burst must be a positive number, got {burst!r}")
    return float(burst)


def check_cost(cost: float, capacity: float, name: str, label: str = "cost") -> float:
    if isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost < math.inf:
        raise ConfigurationError(f"rate limit {name!r}: {label} must be a number >= 0, got {cost!r}")
    if cost > capacity:
        raise BurstCapacityError(limit=name, cost=cost, capacity=capacity)
    return float(cost)


class _Waiter:
    __slots__ = ("cost", "fut", "loop")

    def __init__(self, cost: float, loop: asyncio.AbstractEventLoop) -> None:
        self.cost = cost
        self.loop = loop
        self.fut: asyncio.Future[None] | None = None


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


class TokenBucket:
    """`rate` units per `per` seconds, at most `burst` at once; see the module docstring."""

    def __init__(
        self,
        rate: float,
        per: float = 60.0,
        *,
        burst: float | None = None,
        name: str = "rate limit",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.capacity = check_rate(rate, per, burst, name)
        self.rate = float(rate)
        self.per = float(per)
        self._per_second = rate / per
        self._clock = clock
        self._level = self.capacity
        self._last = clock()
        self._lock = threading.Lock()
        self._waiters: collections.deque[_Waiter] = collections.deque()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._last:
            self._level = min(self.capacity, self._level + (now - self._last) * self._per_second)
            self._last = now

    @property
    def available(self) -> float:
        """Units that could be taken now (negative while in debt)."""
        with self._lock:
            self._refill()
            return self._level

    @property
    def waiting(self) -> int:
        """Tasks waiting in `acquire` now."""
        return len(self._waiters)

    def try_acquire(self, cost: float = 1) -> bool:
        """Take `cost` units if they are there now and nobody waits ahead; else False."""
        cost = check_cost(cost, self.capacity, self.name)
        with self._lock:
            self._refill()
            if not self._waiters and self._level >= cost:
                self._level -= cost
                return True
            return False

    def wait_time(self, cost: float = 1) -> float:
        """Seconds until `cost` units could be taken, if nobody waited ahead (0: now)."""
        cost = check_cost(cost, self.capacity, self.name)
        with self._lock:
            self._refill()
            return max(cost - self._level, 0.0) / self._per_second

    async def acquire(self, cost: float = 1) -> None:
        """Wait until `cost` units fit, then take them (first come, first served)."""
        cost = check_cost(cost, self.capacity, self.name)
        if self.try_acquire(cost) or cost == 0:
            return
        loop = asyncio.get_running_loop()
        waiter = _Waiter(cost, loop)
        with self._lock:
            self._waiters.append(waiter)
        try:
            while True:
                with self._lock:
                    if self._waiters[0] is waiter:
                        self._refill()
                        if self._level >= cost:
                            self._level -= cost
                            self._waiters.popleft()
                            self._wake_head()  # the next one may fit too
                            return
                        delay: float | None = (cost - self._level) / self._per_second
                    else:
                        delay = None  # the waiter ahead wakes us when it is through
                    fut = waiter.fut = loop.create_future()
                handle = loop.call_later(delay, _resolve, fut) if delay is not None else None
                try:
                    await fut
                finally:
                    if handle is not None:
                        handle.cancel()
        except BaseException:
            with self._lock:
                head = bool(self._waiters) and self._waiters[0] is waiter
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
                if head:
                    self._wake_head()
            raise

    def settle(self, reserved: float, actual: float) -> None:
        """Refund `reserved - actual` units once the real cost is known (charge it if negative)."""
        for label, value in (("reserved", reserved), ("actual", actual)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ConfigurationError(
                    f"rate limit {self.name!r}: {label} must be a number >= 0, got {value!r}"
                )
        delta = float(reserved) - float(actual)
        if not delta:
            return
        with self._lock:
            self._refill()
            self._level = min(self.capacity, self._level + delta)
            if delta > 0:
                self._wake_head()

    def _wake_head(self) -> None:
        """With the lock held: let the first waiter recompute (it may fit now, or sooner)."""
        if not self._waiters:
            return
        head = self._waiters[0]
        fut = head.fut
        if fut is None or fut.done():
            return  # it has not gone to sleep yet: it will look at the new state first
        try:
            here = asyncio.get_running_loop() is head.loop
        except RuntimeError:
            here = False
        if here:
            fut.set_result(None)
        else:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nothing waits there
                head.loop.call_soon_threadsafe(_resolve, fut)

    def __repr__(self) -> str:
        return f"TokenBucket({self.name!r}, {self.rate:g} per {self.per:g}s, burst={self.capacity:g})"


_SHARED: dict[tuple[Any, ...], RateBucket] = {}
_SHARED_LOCK = threading.Lock()


def rate_bucket(
    name: str,
    rate: float,
    *,
    per: float = 60.0,
    burst: float | None = None,
    redis_url: str | None = None,
) -> RateBucket:
    """The bucket for the limit `name`: `rate` units per `per` seconds, `burst` at once.

    One instance per (name, numbers, URL) in the process, so every `LLM` using a key shares its
    limit. With `redis_url` (default: `LLMP_REDIS_URL`; `""` for this process only) the budget is
    shared by every process using `name` on that Redis (`RedisTokenBucket`; an unreachable or
    malformed URL raises `ConfigurationError` here). `name` is stored in Redis as a key: name the
    limit (provider, a key's fingerprint, rpm or tpm), never put an API key in it.
    """
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"rate_bucket name must be a non-empty string, got {name!r}")
    check_rate(rate, per, burst, name)
    source = "redis_url"
    if redis_url is None:
        from llmp._redis_link import REDIS_URL_ENV_VAR

        redis_url = os.environ.get(REDIS_URL_ENV_VAR, "").strip()
        source = REDIS_URL_ENV_VAR
    key = (name, float(rate), float(per), burst, redis_url)
    with _SHARED_LOCK:
        found = _SHARED.get(key)
    if found is not None:
        return found
    bucket: RateBucket
    if redis_url:
        from llmp._redis_buckets import RedisTokenBucket
        from llmp._redis_link import redis_link

        bucket = RedisTokenBucket(redis_link(redis_url, source=source), name, rate, per=per, burst=burst)
    else:
        bucket = TokenBucket(rate, per, burst=burst, name=name)
    with _SHARED_LOCK:
        return _SHARED.setdefault(key, bucket)
