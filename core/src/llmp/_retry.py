"""When to retry and how long to wait.

Exponential backoff with full jitter (sleep a uniform random time in [0, min(cap, base * 2^n)])
spreads a burst of clients evenly instead of letting them retry in lockstep. When the provider
says how long to wait (``Retry-After`` / ``retry-after-ms``), that comes first: it is the one
number that is known to be right, so we wait that long plus a little jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from llmp.errors import ProviderError

__all__ = ["RetryPolicy"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 6
    base: float = 0.5
    cap: float = 60.0
    #: Extra random wait on top of a provider's Retry-After, so a burst does not return at once.
    after_jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries}")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """`attempt` counts from 0 for the first try."""
        return attempt < self.max_retries and isinstance(error, ProviderError) and error.retryable

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after >= 0:
            return retry_after + random.uniform(0.0, self.after_jitter)
        return random.uniform(0.0, min(self.cap, self.base * (2.0**attempt)))
