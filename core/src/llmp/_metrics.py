"""What each deployment has done: counts, tokens, cost, latency and TTFT percentiles, health.

`LLM.metrics()` returns a plain typed snapshot (`Metrics`), the same shape for one model or a set.
Latencies are kept for the last `WINDOW` answers per deployment (percentiles of a moving window,
which is also what ``strategy="lowest_latency"`` routes on).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

from llmp._usage import UsageStats

__all__ = ["WINDOW", "DeploymentMetrics", "Metrics", "Recorder"]

WINDOW = 200


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass(frozen=True, slots=True)
class DeploymentMetrics:
    """One deployment (or, in `Metrics.total`, all of them)."""

    name: str
    model: str
    provider: str
    health: str
    in_flight: int
    requests: int
    successes: int
    failures: int
    failures_by_kind: dict[str, int]
    retries: int
    fallbacks: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost: float | None
    latency_p50: float | None
    latency_p90: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    ttft_p90: float | None
    ttft_p95: float | None


@dataclass(frozen=True, slots=True)
class Metrics:
    """`LLM.metrics()`: every deployment, the total, and the budget (`max_cost`) if one is set."""

    deployments: list[DeploymentMetrics]
    total: DeploymentMetrics
    max_cost: float | None = None
    spent: float | None = None
    reserved: float | None = None


@dataclass(slots=True)
class Recorder:
    """The counters behind one deployment's `DeploymentMetrics` (its `UsageStats` is the engine's)."""

    successes: int = 0
    failures: int = 0
    fallbacks: int = 0
    failures_by_kind: collections.Counter[str] = field(default_factory=collections.Counter)
    latencies: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=WINDOW))
    ttfts: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=WINDOW))

    def success(self, latency: float | None, ttft: float | None) -> None:
        self.successes += 1
        if latency is not None:
            self.latencies.append(latency)
        if ttft is not None:
            self.ttfts.append(ttft)

    def failure(self, error: BaseException) -> None:
        self.failures_by_kind[type(error).__name__] += 1
        self.failures += 1

    def recent_latency(self) -> float | None:
        """The mean of the window (streams by their time to first token)."""
        values = list(self.ttfts) or list(self.latencies)
        return sum(values) / len(values) if values else None

    def snapshot(
        self, *, name: str, model: str, provider: str, health: str, in_flight: int, stats: UsageStats
    ) -> DeploymentMetrics:
        latencies, ttfts = list(self.latencies), list(self.ttfts)
        return DeploymentMetrics(
            name=name,
            model=model,
            provider=provider,
            health=health,
            in_flight=in_flight,
            requests=stats.requests,
            successes=self.successes,
            failures=sum(self.failures_by_kind.values()),
            failures_by_kind=dict(self.failures_by_kind),
            retries=stats.retries,
            fallbacks=self.fallbacks,
            cache_hits=stats.cache_hits,
            input_tokens=stats.input_tokens,
            output_tokens=stats.output_tokens,
            cost=stats.cost,
            latency_p50=_percentile(latencies, 0.5),
            latency_p90=_percentile(latencies, 0.9),
            latency_p95=_percentile(latencies, 0.95),
            latency_p99=_percentile(latencies, 0.99),
            ttft_p50=_percentile(ttfts, 0.5),
            ttft_p90=_percentile(ttfts, 0.9),
            ttft_p95=_percentile(ttfts, 0.95),
        )


def total_of(
    parts: list[DeploymentMetrics], stats: UsageStats, recorders: list[Recorder] | None = None
) -> DeploymentMetrics:
    """All deployments together (`stats`: the LLM's own totals; percentiles over every
    deployment's window when their `recorders` are given)."""
    kinds: collections.Counter[str] = collections.Counter()
    for part in parts:
        kinds.update(part.failures_by_kind)
    latencies = [x for r in recorders or () for x in r.latencies]
    ttfts = [x for r in recorders or () for x in r.ttfts]
    return DeploymentMetrics(
        name="total",
        model=" | ".join(dict.fromkeys(p.model for p in parts)),
        provider=" | ".join(dict.fromkeys(p.provider for p in parts)),
        health="healthy" if any(p.health == "healthy" for p in parts) else "open",
        in_flight=sum(p.in_flight for p in parts),
        requests=stats.requests,
        successes=sum(p.successes for p in parts),
        failures=sum(kinds.values()),
        failures_by_kind=dict(kinds),
        retries=stats.retries,
        fallbacks=sum(p.fallbacks for p in parts),
        cache_hits=stats.cache_hits,
        input_tokens=stats.input_tokens,
        output_tokens=stats.output_tokens,
        cost=stats.cost,
        latency_p50=_percentile(latencies, 0.5),
        latency_p90=_percentile(latencies, 0.9),
        latency_p95=_percentile(latencies, 0.95),
        latency_p99=_percentile(latencies, 0.99),
        ttft_p50=_percentile(ttfts, 0.5),
        ttft_p90=_percentile(ttfts, 0.9),
        ttft_p95=_percentile(ttfts, 0.95),
    )
