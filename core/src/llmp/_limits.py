"""Adaptive concurrency: an AIMD window per (provider, key), paced by rate-limit headers.

The window starts at the caller's `max_concurrent` and never exceeds it. A 429 halves it, but
only once per burst: a 429 for a request that was already in flight when the window last shrank
carries no new information (it was sent under the old, larger window), so it is ignored. Each
success grows the window by 1/window, i.e. by one slot per window's worth of successes.

Pacing acts before a 429 happens: when a response says the requests (or tokens) remaining in the
provider's current window are already spoken for by what is in flight, new acquisitions wait until
the provider's reset time. A waiter never holds a slot while it waits.

One limiter belongs to one event loop (it uses that loop's futures and timers).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time

from llmp.types import RateLimitInfo

__all__ = ["AIMDLimiter"]

_now = time.monotonic


class AIMDLimiter:
    """Additive-increase / multiplicative-decrease concurrency window."""

    __slots__ = (
        "_last_decrease",
        "_loop",
        "_pause_handle",
        "_pause_until",
        "_tokens_per_request",
        "_waiters",
        "ceiling",
        "in_flight",
        "max_in_flight",
        "window",
    )

    def __init__(self, ceiling: int) -> None:
        if ceiling < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {ceiling}")
        self.ceiling = ceiling
        self.window = float(ceiling)
        self.in_flight = 0
        #: Highest in-flight count seen; a test and a progress bar read it.
        self.max_in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_decrease = float("-inf")
        self._pause_until = 0.0
        self._pause_handle: asyncio.TimerHandle | None = None
        self._tokens_per_request = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- acquire / release -------------------------------------------------------------------

    def _has_room(self) -> bool:
        return self.in_flight < max(1, int(self.window)) and _now() >= self._pause_until

    async def acquire(self) -> float:
        """Wait for a slot; return the monotonic time the request starts (for `on_rate_limited`)."""
        if not self._waiters and self._has_room():
            self._take()
            return _now()
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        if _now() < self._pause_until:
            self._schedule_unpause()
        try:
            await fut
        except BaseException:
            # Cancelled while waiting: if we had been handed a slot, give it back.
            if fut.done() and not fut.cancelled():
                self._release_slot()
            else:
                self._remove_waiter(fut)
            raise
        return _now()

    def _remove_waiter(self, fut: asyncio.Future[None]) -> None:
        with contextlib.suppress(ValueError):
            self._waiters.remove(fut)

    def _take(self) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def _release_slot(self) -> None:
        self.in_flight -= 1
        self._wake()

    def release(self) -> None:
        """Give a slot back. Call exactly once per successful `acquire`, before any backoff sleep."""
        self._release_slot()

    def _wake(self) -> None:
        now = _now()
        if now < self._pause_until:
            self._schedule_unpause()
            return
        limit = max(1, int(self.window))
        while self._waiters and self.in_flight < limit:
            fut = self._waiters.popleft()
            if not fut.done():
                self._take()  # the slot is handed over, so nobody can overtake the waiter
                fut.set_result(None)

    def _schedule_unpause(self) -> None:
        if self._pause_handle is not None or not self._waiters:
            return
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        delay = max(0.0, self._pause_until - _now())
        self._pause_handle = loop.call_later(delay, self._unpause)

    def _unpause(self) -> None:
        self._pause_handle = None
        self._wake()

    # -- feedback ----------------------------------------------------------------------------

    def on_success(self, rate_limit: RateLimitInfo | None = None, tokens: int = 0) -> None:
        """A request succeeded: grow the window, and pace on the provider's headers."""
        if self.window < self.ceiling:
            self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
            self._wake()
        if tokens:
            # A running mean of tokens per request, to judge whether remaining tokens suffice.
            self._tokens_per_request += (tokens - self._tokens_per_request) * 0.1
        if rate_limit is not None:
            self.observe(rate_limit)

    def on_rate_limited(self, started_at: float, retry_after: float | None = None) -> None:
        """A request that started at `started_at` got a 429: halve once per burst."""
        now = _now()
        if started_at >= self._last_decrease:
            self.window = max(1.0, self.window / 2.0)
            self._last_decrease = now
        if retry_after:
            self._pause(now + retry_after)

    def observe(self, info: RateLimitInfo) -> None:
        """Pause new requests when what remains of the provider's budget is already in flight."""
        wait = max(
            _refill_wait(
                info.limit_requests, info.remaining_requests, info.reset_requests, needed=self.in_flight + 1
            ),
            _refill_wait(
                info.limit_tokens,
                info.remaining_tokens,
                info.reset_tokens,
                needed=self._tokens_per_request * (self.in_flight + 1),
            ),
        )
        if wait > 0:
            self._pause(_now() + wait)

    def _pause(self, until: float) -> None:
        if until > self._pause_until:
            self._pause_until = until
            if self._pause_handle is not None:
                self._pause_handle.cancel()
                self._pause_handle = None
            self._schedule_unpause()

    @property
    def paused_for(self) -> float:
        return max(0.0, self._pause_until - _now())


def _refill_wait(limit: int | None, remaining: int | None, reset: float | None, needed: float) -> float:
    """Seconds until the provider's budget holds `needed` units, 0 if it already does.

    Providers refill continuously and report `reset` as the time until the budget is *full*, so
    the refill rate is (limit - remaining) / reset. Waiting for the whole reset would throttle far
    below the allowed rate; waiting for just the deficit keeps us at it.
    """
    if remaining is None or reset is None or needed <= 0 or remaining >= needed:
        return 0.0
    if limit is None or limit <= remaining or reset <= 0:
        return max(0.0, reset)
    rate = (limit - remaining) / reset
    return (needed - remaining) / rate
