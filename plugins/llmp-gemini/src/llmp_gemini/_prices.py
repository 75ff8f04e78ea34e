"""Gemini API prices in USD per million tokens (paid tier, text input).

Sources: Google's Gemini API pricing page (ai.google.dev/gemini-api/docs/pricing), as mirrored in
yoonholee/llm-provider's prices.csv (2026-02) for input, output and batch; cached input is
Google's context-caching price, 10% of input (gemini-3-flash-preview's $0.05 quoted from the
pricing page). Output prices include thinking tokens, which Gemini bills as output. Pro models
charge more for prompts over 200k tokens; the Batch API is half price. Unknown models are
priced None: the user sees "unknown", never a guess.
"""

from __future__ import annotations

from typing import NamedTuple

from llmp.types import Cost, PriceMode, Usage


class Price(NamedTuple):
    input: float
    output: float
    cached_input: float


class Tiers(NamedTuple):
    standard: Price
    #: The price once the prompt is longer than `LONG_PROMPT` tokens (Pro models).
    long: Price | None = None


LONG_PROMPT = 200_000
BATCH_DISCOUNT = 0.5

GEMINI: dict[str, Tiers] = {
    "gemini-3-pro-preview": Tiers(Price(2.00, 12.00, 0.20), Price(4.00, 18.00, 0.40)),
    "gemini-3-flash-preview": Tiers(Price(0.50, 3.00, 0.05)),
    "gemini-2.5-pro": Tiers(Price(1.25, 10.00, 0.125), Price(2.50, 15.00, 0.25)),
    "gemini-2.5-flash": Tiers(Price(0.30, 2.50, 0.03)),
    "gemini-2.5-flash-lite": Tiers(Price(0.10, 0.40, 0.01)),
}


def lookup(model: str, prompt_tokens: int = 0) -> Price | None:
    tiers = GEMINI.get(model.removeprefix("models/"))
    if tiers is None:
        return None
    if tiers.long is not None and prompt_tokens > LONG_PROMPT:
        return tiers.long
    return tiers.standard


def cost(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider != "gemini":
        return None
    price = lookup(model, usage.input_tokens)
    if price is None:
        return None
    factor = BATCH_DISCOUNT if mode == "batch" else 1.0
    uncached = max(0, usage.input_tokens - usage.cached_input_tokens)
    return Cost(
        input=uncached * price.input * factor / 1e6,
        cached_input=usage.cached_input_tokens * price.cached_input * factor / 1e6,
        output=usage.output_tokens * price.output * factor / 1e6,
    )
