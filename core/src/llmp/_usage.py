"""Usage and cost accounting, per `LLM` instance and per job."""

from __future__ import annotations

from dataclasses import dataclass

from llmp.types import Cost, Response, Usage

__all__ = ["UsageStats"]


@dataclass(slots=True)
class UsageStats:
    """What one `LLM` instance (or one job) has spent.

    Tokens and cost count only requests that reached the provider; cache hits cost nothing and
    are counted in `cache_hits`. `cost` becomes None as soon as one request's price is unknown:
    a partial sum would look like a real total, and llmp never guesses a price. `requests`
    counts billed requests (a request llmp fans out into n single-sample calls counts n).
    """

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    cache_write_tokens: int = 0
    cost: float | None = 0.0
    requests: int = 0
    cache_hits: int = 0
    failures: int = 0
    #: Attempts that failed and were tried again (429s, 5xx, timeouts, dropped connections).
    retries: int = 0

    def _add(self, usage: Usage, cost: float | None, requests: int) -> None:
        self.input_tokens += usage.input_tokens
        self.cached_input_tokens += usage.cached_input_tokens
        self.output_tokens += usage.output_tokens
        self.reasoning_tokens += usage.reasoning_tokens
        self.cache_write_tokens += usage.cache_write_tokens
        self.requests += requests
        if cost is None:
            self.cost = None
        elif self.cost is not None:
            self.cost += cost

    def record(self, usage: Usage, cost: Cost | None) -> None:
        """One billed request."""
        self._add(usage, cost.total if cost is not None else None, 1)

    def add_response(self, response: Response) -> None:
        """A job's finished item: its tokens and cost, or a cache hit."""
        if response.cached:
            self.cache_hits += 1
            return
        self._add(response.usage, response.cost, 1)

    @classmethod
    def total(cls, parts: list[UsageStats]) -> UsageStats:
        """Several instances' (deployments') stats added up; cost None if any is unknown."""
        out = cls()
        for part in parts:
            out.input_tokens += part.input_tokens
            out.cached_input_tokens += part.cached_input_tokens
            out.output_tokens += part.output_tokens
            out.reasoning_tokens += part.reasoning_tokens
            out.cache_write_tokens += part.cache_write_tokens
            out.requests += part.requests
            out.cache_hits += part.cache_hits
            out.failures += part.failures
            out.retries += part.retries
            out.cost = None if out.cost is None or part.cost is None else out.cost + part.cost
        return out

    def __str__(self) -> str:
        cost = "unknown" if self.cost is None else f"${self.cost:.6f}"
        return (
            f"{self.requests} requests, {self.cache_hits} cache hits, {self.failures} failures, "
            f"{self.retries} retries; "
            f"tokens in {self.input_tokens} (cached {self.cached_input_tokens}), out {self.output_tokens} "
            f"(reasoning {self.reasoning_tokens}); cost {cost}"
        )
