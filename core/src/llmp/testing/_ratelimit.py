"""Requests-per-minute and tokens-per-minute budgets with OpenAI's ``x-ratelimit-*`` headers.

OpenAI's limits replenish continuously rather than resetting at a minute boundary:
``x-ratelimit-reset-*`` is the time until the budget is full again. Each budget here is a bucket
of ``limit`` units refilling at ``limit / 60`` per second, which gives the same headers. When a
limit is not enforced the bucket still drains and refills, so the headers look realistic, but it
never refuses a request.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass

from llmp.testing._openai_wire import ErrorResponse, error_body, format_duration

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

    def headers(self, kind: bytes) -> list[tuple[bytes, bytes]]:
        level = max(self.level, 0.0)
        return [
            (b"x-ratelimit-limit-" + kind, b"%d" % self.limit),
            (b"x-ratelimit-remaining-" + kind, b"%d" % math.floor(level)),
            (b"x-ratelimit-reset-" + kind, format_duration((self.limit - level) / self.rate).encode()),
        ]


@dataclass(frozen=True, slots=True)
class Admission:
    headers: list[tuple[bytes, bytes]]
    # Set when refused: which budget ("requests" or "tokens") and how long until it would fit.
    refused: str | None = None
    retry_after: float = 0.0
    limit: int = 0

    def to_response(self, model: str, tokens: int) -> ErrorResponse:
        """OpenAI's 429 for a refused admission, with ``retry-after`` when waiting can help."""
        kind = self.refused or "requests"
        unit, cost = ("RPM", 1) if kind == "requests" else ("TPM", tokens)
        if math.isinf(self.retry_after):
            message = (
                f"Request too large for {model} in organization org-llmpfake on tokens per min (TPM): "
                f"Limit {self.limit}, Requested {cost}."
            )
            headers: list[tuple[bytes, bytes]] = []
        else:
            message = (
                f"Rate limit reached for {model} in organization org-llmpfake on {kind} per min ({unit}): "
                f"Limit {self.limit}, Requested {cost}. "
                f"Please try again in {format_duration(self.retry_after)}."
            )
            # Rounded up: a client that waits exactly this long must then fit.
            headers = [
                (b"retry-after", b"%d" % math.ceil(self.retry_after)),
                (b"retry-after-ms", b"%d" % math.ceil(self.retry_after * 1000)),
            ]
        body = error_body(message, kind, code="rate_limit_exceeded")
        return ErrorResponse(429, body, [(b"content-type", b"application/json"), *headers])


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

    def _headers(self) -> list[tuple[bytes, bytes]]:
        return self._requests.headers(b"requests") + self._tokens.headers(b"tokens")

    def peek(self) -> list[tuple[bytes, bytes]]:
        """Current headers without charging anything (for error responses)."""
        now = self._clock()
        with self._lock:
            self._requests.refill(now)
            self._tokens.refill(now)
            return self._headers()

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
                        return Admission(self._headers(), kind, wait, bucket.limit)
            # Enforced budgets had room; unenforced ones bottom out at zero instead of going into debt.
            requests.level = max(requests.level - 1, 0.0)
            token_bucket.level = max(token_bucket.level - tokens, 0.0)
            return Admission(self._headers())
