"""Adaptive concurrency: an AIMD window per (provider, key), paced by rate-limit headers.

The window starts at the caller's `max_concurrent` and never exceeds it. A 429 halves it, but
only once per burst: a 429 for a request that was already in flight when the window last shrank
carries no new information (it was sent under the old, larger window), so it is ignored. Each
success grows the window by 1/window, i.e. by one slot per window's worth of successes.

Pacing acts before a 429 happens. Providers refill their budgets continuously and report
``remaining`` and ``reset`` (the time until the budget is full again), which gives the refill
rate: (limit - remaining) / reset. While what remains cannot cover the requests in flight, new
requests are spaced at that rate instead of being released in a burst that the provider would
answer with 429s. A waiter never holds a slot while it waits.

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
    """Additive-increase / multiplicative-decrease concurrency window with rate pacing."""

    __slots__ = (
        "_interval",
        "_last_decrease",
        "_loop",
        "_next_start",
        "_pause_until",
        "_timer",
        "_timer_at",
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
        #: Highest in-flight count seen.
        self.max_in_flight = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._last_decrease = float("-inf")
        self._pause_until = 0.0
        #: Seconds between request starts while pacing (0: no pacing), and the next start time.
        self._interval = 0.0
        self._next_start = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._tokens_per_request = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- acquire / release -------------------------------------------------------------------

    def _gate(self) -> float:
        """The earliest moment the next request may start."""
        return self._pause_until if self._pause_until > self._next_start else self._next_start

    async def acquire(self) -> float:
        """Wait for a slot; return the monotonic time the request starts (for `on_rate_limited`)."""
        now = _now()
        if not self._waiters and self.in_flight < max(1, int(self.window)) and now >= self._gate():
            self._take(now)
            return now
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append(fut)
        self._wake()
        try:
            await fut
        except BaseException:
            # Cancelled while waiting: if we had been handed a slot, give it back.
            if fut.done() and not fut.cancelled():
                self.release()
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(fut)
            raise
        return _now()

    def _take(self, now: float) -> None:
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        if self._interval:
            self._next_start = max(now, self._next_start) + self._interval

    def release(self) -> None:
        """Give a slot back. Call exactly once per successful `acquire`, before any backoff sleep."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        limit = max(1, int(self.window))
        waiters = self._waiters
        while waiters and self.in_flight < limit:
            now = _now()
            gate = self._gate()
            if now < gate:
                self._wake_at(gate)
                return
            fut = waiters.popleft()
            if not fut.done():
                self._take(now)  # the slot is handed over, so nobody can overtake the waiter
                fut.set_result(None)

    def _wake_at(self, when: float) -> None:
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        loop = self._loop or asyncio.get_running_loop()
        self._loop = loop
        self._timer_at = when
        self._timer = loop.call_later(max(0.0, when - _now()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._wake()

    # -- feedback ----------------------------------------------------------------------------

    def on_success(self, rate_limit: RateLimitInfo | None = None, tokens: int = 0) -> None:
        """A request succeeded: grow the window, and pace on the provider's headers."""
        if self.window < self.ceiling:
            self.window = min(float(self.ceiling), self.window + 1.0 / self.window)
            self._wake()
        if tokens:
            # A running mean of tokens per request, to turn a token budget into a request rate.
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
            self._pause_until = max(self._pause_until, now + retry_after)

    def observe(self, info: RateLimitInfo) -> None:
        """Space requests at the provider's refill rate while its budget is short."""
        # Pace only once what remains could not cover what is in flight plus the next request:
        # pacing earlier would leave budget unused for good (the refill rate caps us anyway).
        headroom = self.in_flight + 1.0
        interval = max(
            _spacing(info.limit_requests, info.remaining_requests, info.reset_requests, 1.0, headroom),
            _spacing(
                info.limit_tokens,
                info.remaining_tokens,
                info.reset_tokens,
                self._tokens_per_request,
                headroom * self._tokens_per_request,
            ),
        )
        self._interval = interval
        if interval and self._waiters:
            self._wake()

    @property
    def paused_for(self) -> float:
        return max(0.0, self._gate() - _now())

    @property
    def interval(self) -> float:
        return self._interval


def _spacing(
    limit: int | None, remaining: int | None, reset: float | None, cost: float, headroom: float
) -> float:
    """Seconds between requests that keeps within a budget refilling at its reported rate, or 0
    while the budget has room for `headroom` more units (no pacing needed)."""
    if remaining is None or reset is None or cost <= 0 or remaining >= headroom:
        return 0.0
    if limit is None or limit <= remaining or reset <= 0:
        return 0.0
    rate = (limit - remaining) / reset  # units per second
    return cost / rate
