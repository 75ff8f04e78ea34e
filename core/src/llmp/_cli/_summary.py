"""Usage and cost, as the CLI prints them after a command."""

from __future__ import annotations

from typing import Any

__all__ = ["cost_text", "deployments_text", "usage_text"]


def cost_text(cost: float | None) -> str:
    # None means some request's price is unknown: say so rather than print a partial sum.
    return "cost unknown (no price for this model)" if cost is None else f"cost ${cost:.6f}"


def usage_text(usage: Any) -> str:
    """One line from an `llmp.UsageStats`: requests, cache hits, tokens, cost."""
    parts = [f"{usage.requests:,} requests", f"{usage.cache_hits:,} from cache"]
    if usage.retries:
        parts.append(f"{usage.retries:,} retries")
    tokens = f"tokens in {usage.input_tokens:,}"
    if usage.cached_input_tokens:
        tokens += f" ({usage.cached_input_tokens:,} cached)"
    if getattr(usage, "cache_write_tokens", 0):
        tokens += f" ({usage.cache_write_tokens:,} written to the provider's cache)"
    tokens += f", out {usage.output_tokens:,}"
    if usage.reasoning_tokens:
        tokens += f" ({usage.reasoning_tokens:,} reasoning)"
    return f"{', '.join(parts)}; {tokens}; {cost_text(usage.cost)}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.01 else f"{seconds * 1000:.1f} ms"


def _latency(part: Any) -> str:
    if part.latency_p50 is None:
        return ""
    return f"latency p50 {_ms(part.latency_p50)}, p95 {_ms(part.latency_p95)}"


def _failures(part: Any) -> str:
    kinds = sorted(part.failures_by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
    return "failures " + ", ".join(f"{kind} {count:,}" for kind, count in kinds) if kinds else ""


def deployments_text(metrics: Any) -> list[str]:
    """Lines from an `llmp.Metrics`: for one model, its latency and failures (the usage line has
    the rest); for a set, one line per deployment (health, requests, retries, cache hits,
    tokens, cost, latency, failures). Parts with nothing to say are left out."""
    parts = metrics.deployments
    if len(parts) == 1:
        (part,) = parts
        line = "; ".join(x for x in (_latency(part), _failures(part)) if x)
        return [line] if line else []
    lines = []
    for part in parts:
        counts = [f"{part.requests:,} requests"]
        if part.retries:
            counts.append(f"{part.retries:,} retries")
        if part.cache_hits:
            counts.append(f"{part.cache_hits:,} from cache")
        fields = [
            f"{part.name} [{part.health}]: {', '.join(counts)}",
            f"tokens in {part.input_tokens:,}, out {part.output_tokens:,}",
            cost_text(part.cost),
            _latency(part),
            _failures(part),
        ]
        lines.append("; ".join(x for x in fields if x))
    return lines
