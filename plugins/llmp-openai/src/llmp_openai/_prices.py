"""Prices in USD per million tokens for the providers this plugin serves.

Source: the providers' public price pages, cross-checked against
yoonholee/llm-provider's prices.csv (2026-02). Batch prices are half the standard price for
OpenAI (as OpenAI documents); where a provider has no batch API, there is no batch price.
Unknown models are priced None: the user sees "unknown", never a guess.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from llmp.types import Cost, PriceMode, Usage


class Price(NamedTuple):
    input: float
    output: float
    cached_input: float | None = None


OPENAI: dict[str, Price] = {
    "gpt-5.2": Price(1.75, 14.00, 0.175),
    "gpt-5.1": Price(1.25, 10.00, 0.125),
    "gpt-5": Price(1.25, 10.00, 0.125),
    "gpt-5-mini": Price(0.25, 2.00, 0.025),
    "gpt-5-nano": Price(0.05, 0.40, 0.005),
    "gpt-5.2-pro": Price(21.00, 168.00),
    "gpt-5-pro": Price(15.00, 120.00),
    "gpt-4.1": Price(2.00, 8.00, 0.50),
    "gpt-4.1-mini": Price(0.40, 1.60, 0.10),
    "gpt-4.1-nano": Price(0.10, 0.40, 0.025),
    "gpt-4o": Price(2.50, 10.00, 1.25),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075),
    "o1": Price(15.00, 60.00, 7.50),
    "o3": Price(2.00, 8.00, 0.50),
    "o3-mini": Price(1.10, 4.40, 0.275),
    "o4-mini": Price(1.10, 4.40, 0.275),
}

SAMBANOVA: dict[str, Price] = {
    "DeepSeek-R1-0528": Price(5.00, 7.00),
    "DeepSeek-R1-Distill-Llama-70B": Price(0.70, 1.40),
    "DeepSeek-V3-0324": Price(3.00, 4.50),
    "DeepSeek-V3.1": Price(3.00, 4.50),
    "DeepSeek-V3.2": Price(3.00, 4.50),
    "Meta-Llama-3.3-70B-Instruct": Price(0.60, 1.20),
    "Meta-Llama-3.1-8B-Instruct": Price(0.10, 0.20),
    "Llama-4-Maverick-17B-128E-Instruct": Price(0.63, 1.80),
    "Qwen3-235B": Price(0.40, 0.80),
    "Qwen3-32B": Price(0.40, 0.80),
    "gpt-oss-120b": Price(0.22, 0.59),
}

TABLES: dict[str, dict[str, Price]] = {"openai": OPENAI, "sambanova": SAMBANOVA}
# Providers with a batch API at half price.
BATCH_DISCOUNT: dict[str, float] = {"openai": 0.5}

_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")


def lookup(provider: str, model: str) -> Price | None:
    table = TABLES.get(provider)
    if table is None:
        return None
    # "gpt-4.1-mini-2025-04-14" is priced as "gpt-4.1-mini".
    return table.get(model) or table.get(_SNAPSHOT.sub("", model))


def cost(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    price = lookup(provider, model)
    if price is None:
        return None
    factor = 1.0
    if mode == "batch":
        discount = BATCH_DISCOUNT.get(provider)
        if discount is None:
            return None
        factor = discount
    cached_rate = price.input if price.cached_input is None else price.cached_input
    uncached = max(0, usage.input_tokens - usage.cached_input_tokens)
    return Cost(
        input=uncached * price.input * factor / 1e6,
        cached_input=usage.cached_input_tokens * cached_rate * factor / 1e6,
        output=usage.output_tokens * price.output * factor / 1e6,
    )
