"""When to retry and how long to wait.

Exponential backoff with full jitter (sleep a uniform random time in [0, min(cap, base * 2^n)])
spreads a burst of clients evenly instead of letting them retry in lockstep.

Rate limits (429) get their own rules, because the provider usually says when capacity returns:
- the wait is ``Retry-After`` / ``retry-after-ms``, or when that is missing or ``0`` (some
  gateways send ``0`` for "soon"), the ``x-ratelimit-reset-*`` time of the exhausted budget, and
  never less than a small floor, plus jitter, so a burst of 429s does not turn into a storm;
- a 429 that says when to come back does not use up one of the `max_retries` (up to
  `rate_limit_retries` of them): the prompt is not given up while capacity is known to return
  (``max_retries=0`` still means no retry at all);
- a wait longer than `max_wait` (or than the request's own timeout) is not waited out: the
  error is raised at once, saying how long the provider asked for.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmp.errors import ProviderError, RateLimitError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 6
    base: float = 0.5
    cap: float = 60.0
    #: Extra random wait on top of a provider's Retry-After, so a burst does not return at once.
    after_jitter: float = 0.25
    #: The longest Retry-After llmp waits out; a longer one fails the request at once.
    max_wait: float = 60.0
    #: The shortest wait after a 429, whatever the provider said.
    rate_limit_floor: float = 0.05
    #: 429s with a known wait that do not count against `max_retries`.
    rate_limit_retries: int = 100

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """`attempt` counts from 0 for the first try."""
        return attempt < self.max_retries and isinstance(error, ProviderError) and error.retryable

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after > 0:
            return retry_after + random.uniform(0.0, self.after_jitter)
        return random.uniform(0.0, min(self.cap, self.base * (2.0**attempt)))

    def rate_limit_wait(self, error: RateLimitError) -> float | None:
        """Seconds until the provider's capacity returns, as far as it said; None if it did not."""
        wait = error.retry_after
        if wait is not None and wait > 0:
            return wait
        info = error.rate_limit
        if info is None:
            return None
        resets = []
        if info.reset_requests and (info.remaining_requests is None or info.remaining_requests <= 0):
            resets.append(info.reset_requests)
        if info.reset_tokens and (info.remaining_tokens is None or info.remaining_tokens <= 0):
            resets.append(info.reset_tokens)
        if not resets:  # no budget reported empty: the soonest reset is the best guess
            resets = [r for r in (info.reset_requests, info.reset_tokens) if r]
        return max(resets) if resets else None

    def jittered(self, wait: float) -> float:
        return max(wait, self.rate_limit_floor) + random.uniform(0.0, self.after_jitter)
