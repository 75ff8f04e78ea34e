"""Requests-per-minute and tokens-per-minute budgets, as a provider's rate limiter keeps them.

Providers' limits replenish continuously rather than resetting at a minute boundary: their reset
headers give the time until the budget is full again. Each budget here is a bucket of ``limit``
units refilling at ``limit / 60`` per second, which gives the same numbers. When a limit is not
enforced the bucket still drains and refills, so the headers look realistic, but it never refuses
a request. Each fake renders the `Budgets` in its own headers (OpenAI's ``x-ratelimit-*``,
Anthropic's ``anthropic-ratelimit-*``) and a refusal in its own 429.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

# What the fake reports when no limit is given: a high tier, so headers exist but never bind.
DEFAULT_RPM = 10_000
DEFAULT_TPM = 30_000_000
_PERIOD = 60.0


class _Bucket:
    __slots__ = ("enforced", "last", "level", "limit", "rate")

    def __init__(self, limit: int, enforced: bool, now: float, period: float = _PERIOD):
        self.limit = limit
        self.enforced = enforced
        self.rate = limit / period
        self.level = float(limit)
        self.last = now

    def refill(self, now: float) -> None:
        self.level = min(self.limit, self.level + (now - self.last) * self.rate)
        self.last = now

    def wait_for(self, cost: int) -> float:
        """Seconds until ``cost`` units are available: 0 if they are now, inf if they never will."""
        if cost > self.limit:
            return math.inf
        short = cost - self.level
        return 0.0 if short <= 0 else short / self.rate

    def budget(self) -> Budget:
        level = max(self.level, 0.0)
        return Budget(self.limit, math.floor(level), (self.limit - level) / self.rate)


@dataclass(frozen=True, slots=True)
class Budget:
    """One budget now: its ``limit``, what ``remaining`` of it, and ``reset`` seconds until it is
    full again."""

    limit: int
    remaining: int
    reset: float


@dataclass(frozen=True, slots=True)
class Budgets:
    """Both budgets now, for the fake's rate-limit headers."""

    requests: Budget
    tokens: Budget


@dataclass(frozen=True, slots=True)
class Admission:
    budgets: Budgets
    # Set when refused: which budget ("requests" or "tokens") and how long until it would fit
    # (inf: never, the request is larger than the whole budget).
    refused: str | None = None
    retry_after: float = 0.0
    limit: int = 0


class RateLimiter:
    """Both budgets; thread-safe because ``reset()`` comes from the test's thread."""

    def __init__(self, rpm: int | None, tpm: int | None, clock: Callable[[], float], period: float = _PERIOD):
        self._clock = clock
        self._rpm = rpm
        self._tpm = tpm
        # Seconds over which a budget refills completely: 60 for real per-minute limits; tests
        # shrink it so a rate-limited job runs in seconds with truthful reset headers.
        self._period = period
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        now = self._clock()
        with self._lock:
            self._requests = _Bucket(self._rpm or DEFAULT_RPM, self._rpm is not None, now, self._period)
            self._tokens = _Bucket(self._tpm or DEFAULT_TPM, self._tpm is not None, now, self._period)

    def _budgets(self) -> Budgets:
        return Budgets(self._requests.budget(), self._tokens.budget())

    def peek(self) -> Budgets:
        """The budgets now, without charging anything (for error responses)."""
        now = self._clock()
        with self._lock:
            self._requests.refill(now)
            self._tokens.refill(now)
            return self._budgets()

    def admit(self, tokens: int) -> Admission:
        """Charge one request and ``tokens`` tokens, or refuse if an enforced budget is short."""
        now = self._clock()
        with self._lock:
            requests, token_bucket = self._requests, self._tokens
            requests.refill(now)
            token_bucket.refill(now)
            for bucket, kind, cost in ((requests, "requests", 1), (token_bucket, "tokens", tokens)):
                if bucket.enforced:
                    wait = bucket.wait_for(cost)
                    if wait > 0:
                        return Admission(self._budgets(), kind, wait, bucket.limit)
            # Enforced budgets had room; unenforced ones bottom out at zero instead of going into debt.
            requests.level = max(requests.level - 1, 0.0)
            token_bucket.level = max(token_bucket.level - tokens, 0.0)
            return Admission(self._budgets())
