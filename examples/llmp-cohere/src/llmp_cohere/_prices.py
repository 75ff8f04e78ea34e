"""Cohere's prices, USD per million tokens (input, output), from cohere.com/pricing (2025).

Re-verify before relying on them for billing. A model that is not listed costs None (llmp
never guesses a price); Cohere has no batch price for chat, so batch mode is None as well.
"""

from __future__ import annotations

from llmp.types import Cost, PriceMode, Usage

# --8<-- [start:cost]
PRICES: dict[str, tuple[float, float]] = {
    "command-a-03-2025": (2.50, 10.00),
    "command-r-plus-08-2024": (2.50, 10.00),
    "command-r-08-2024": (0.15, 0.60),
    "command-r7b-12-2024": (0.0375, 0.15),
}


def cost(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider != "cohere" or mode != "standard":
        return None
    price = PRICES.get(model)
    if price is None:
        return None
    rate_in, rate_out = price
    return Cost(
        input=usage.input_tokens * rate_in / 1e6,
        cached_input=0.0,  # Cohere reports no cached input
        output=usage.output_tokens * rate_out / 1e6,
    )


# --8<-- [end:cost]
