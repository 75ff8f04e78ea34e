"""Usage and cost, as the CLI prints them after a command."""

from __future__ import annotations

from typing import Any

__all__ = ["cost_text", "usage_text"]


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
