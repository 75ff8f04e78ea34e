"""Prices in USD: our own table for Anthropic's current models, else litellm's bundled price map.

The table comes from yoonholee/llm-provider's prices.csv (2026-02), which follows Anthropic's
pricing page: input, output and cache-read prices per million tokens, and the Message Batches
prices (half of each). Cache writes (`Usage.cache_write_tokens`) are priced as Anthropic bills
them: 1.25x the input price for the default 5-minute cache, 2x for the 1-hour cache (the split
is ``Usage.details["cache_creation_1h_input_tokens"]``; without it every write is priced as a
5-minute one).

Approximations, stated: cache-write cost is reported inside `Cost.input`. Prompts over 200K
tokens are billed at a premium that we know only for Claude Sonnet 4 and 4.5 (2x input and
cache, 1.5x output); for the other models such a request is priced None, not guessed.

Any other model (and any provider reached through the catch-all) is priced from litellm's local
price map (read without importing litellm, `llmp_litellm._capabilities.model_info`), where it
has an entry; otherwise None.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from llmp.types import Cost, PriceMode, Usage


class Price(NamedTuple):
    """USD per million tokens."""

    input: float
    output: float
    cached_input: float
    batch_input: float
    batch_output: float


ANTHROPIC: dict[str, Price] = {
    "claude-opus-4-6": Price(5.00, 25.00, 0.50, 2.50, 12.50),
    "claude-opus-4-5": Price(5.00, 25.00, 0.50, 2.50, 12.50),
    "claude-sonnet-4-6": Price(3.00, 15.00, 0.30, 1.50, 7.50),
    "claude-sonnet-4-5": Price(3.00, 15.00, 0.30, 1.50, 7.50),
    "claude-sonnet-4": Price(3.00, 15.00, 0.30, 1.50, 7.50),
    "claude-haiku-4-5": Price(1.00, 5.00, 0.10, 0.50, 2.50),
}
#: The `Usage.details` count of cache writes to Anthropic's 1-hour cache (billed 2x input).
ONE_HOUR_WRITES = "cache_creation_1h_input_tokens"
CACHE_WRITE_5M = 1.25
CACHE_WRITE_1H = 2.0
LONG_CONTEXT_TOKENS = 200_000
# (input and cache multiplier, output multiplier) above LONG_CONTEXT_TOKENS of prompt.
LONG_CONTEXT: dict[str, tuple[float, float]] = {
    "claude-sonnet-4-5": (2.0, 1.5),
    "claude-sonnet-4": (2.0, 1.5),
}

# "claude-sonnet-4-5-20250929" is priced as "claude-sonnet-4-5"; "-latest" aliases likewise.
_SNAPSHOT = re.compile(r"-(\d{8}|latest)$")


def undated(model: str) -> str:
    """``"claude-sonnet-4-5-20250929"`` -> ``"claude-sonnet-4-5"`` (and ``-latest`` likewise)."""
    return _SNAPSHOT.sub("", model)


def lookup(model: str) -> Price | None:
    return ANTHROPIC.get(model) or ANTHROPIC.get(undated(model))


def _writes(usage: Usage) -> tuple[int, int]:
    """(5-minute, 1-hour) cache-write tokens (``Usage.details`` names the 1-hour ones)."""
    total = usage.cache_write_tokens
    hour = min(int(usage.details.get(ONE_HOUR_WRITES, 0)), total)
    return total - hour, hour


def _own(model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    price = lookup(model)
    if price is None:
        return None
    in_rate, out_rate = (
        (price.batch_input, price.batch_output) if mode == "batch" else (price.input, price.output)
    )
    cached_rate = price.cached_input * in_rate / price.input
    if usage.input_tokens > LONG_CONTEXT_TOKENS:
        premium = LONG_CONTEXT.get(_SNAPSHOT.sub("", model))
        if premium is None:
            return None
        in_rate, cached_rate, out_rate = in_rate * premium[0], cached_rate * premium[0], out_rate * premium[1]
    return _split(usage, in_rate, cached_rate, out_rate, CACHE_WRITE_5M * in_rate, CACHE_WRITE_1H * in_rate)


def _split(
    usage: Usage, in_rate: float, cached_rate: float, out_rate: float, write_5m: float, write_1h: float
) -> Cost:
    """Cost from per-million rates; cache writes go into ``input`` (Cost has no field for them)."""
    five, hour = _writes(usage)
    plain = max(0, usage.input_tokens - usage.cached_input_tokens - five - hour)
    return Cost(
        input=(plain * in_rate + five * write_5m + hour * write_1h) / 1e6,
        cached_input=usage.cached_input_tokens * cached_rate / 1e6,
        output=usage.output_tokens * out_rate / 1e6,
    )


def _from_map(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    from llmp_litellm._capabilities import model_info  # not at discovery: only when pricing

    entry = model_info(provider, model)
    if not entry:
        return None
    suffix = "_batches" if mode == "batch" else ""
    in_rate = entry.get(f"input_cost_per_token{suffix}")
    out_rate = entry.get(f"output_cost_per_token{suffix}")
    if not isinstance(in_rate, int | float) or not isinstance(out_rate, int | float):
        return None
    cached_rate = entry.get("cache_read_input_token_cost")
    write_5m = entry.get("cache_creation_input_token_cost")
    if usage.input_tokens > LONG_CONTEXT_TOKENS and mode == "standard":
        # Long prompts are billed at the map's "above 200k" rates where it has them.
        above = "_above_200k_tokens"
        in_rate = entry.get("input_cost_per_token" + above, in_rate)
        out_rate = entry.get("output_cost_per_token" + above, out_rate)
        cached_rate = entry.get("cache_read_input_token_cost" + above, cached_rate)
        write_5m = entry.get("cache_creation_input_token_cost" + above, write_5m)
    write_1h = entry.get("cache_creation_input_token_cost_above_1hr", write_5m)
    standard_in = entry.get("input_cost_per_token")
    if mode == "batch" and isinstance(standard_in, int | float) and standard_in > 0:
        # The map has batch prices for input and output only; the cache prices get the same discount.
        ratio = in_rate / standard_in
        cached_rate, write_5m, write_1h = (
            r * ratio if r is not None else None for r in (cached_rate, write_5m, write_1h)
        )
    five, hour = _writes(usage)
    # Tokens the map has no price for make the whole cost unknown, never a guess.
    if usage.cached_input_tokens and cached_rate is None:
        return None
    if (five and write_5m is None) or (hour and write_1h is None):
        return None
    per_million = 1e6
    return _split(
        usage,
        in_rate * per_million,
        (cached_rate or 0.0) * per_million,
        out_rate * per_million,
        (write_5m or 0.0) * per_million,
        (write_1h or 0.0) * per_million,
    )


def cost(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider == "anthropic":
        own = lookup(model)
        if own is not None:
            return _own(model, usage, mode)
    return _from_map(provider, model, usage, mode)
