"""Together serverless prices, USD per million tokens (input, output).

Source: Together's pricing page, cross-checked against yoonholee/llm-provider's prices.csv
(2026-02). Rows there that are display names rather than API model ids ("Kimi/K2.5",
"GLM/GLM-5", "gpt-oss/gpt-oss-120B", "MiniMax/M2.5", ...) are left out until verified: a wrong id
would never match, and a guessed id could price the wrong model. Together's batch API is not wired
up, so there is no batch price.
"""

from __future__ import annotations

from llmp.types import Cost, PriceMode, Usage

PRICES: dict[str, tuple[float, float]] = {
    "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8": (0.27, 0.85),
    "meta-llama/Llama-3.3-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Llama-3.2-3B-Instruct-Turbo": (0.06, 0.06),
    "meta-llama/Llama-3.1-405B-Instruct-Turbo": (3.50, 3.50),
    "meta-llama/Llama-3.1-70B-Instruct-Turbo": (0.88, 0.88),
    "meta-llama/Llama-3.1-8B-Instruct-Turbo": (0.18, 0.18),
    "meta-llama/Llama-3-8B-Instruct-Lite": (0.10, 0.10),
    "Qwen/Qwen3.5-397B-A17B": (0.60, 3.60),
    "Qwen/Qwen3-Coder-Next": (0.50, 1.20),
    "Qwen/Qwen3-Coder-480B-A35B-Instruct": (2.00, 2.00),
    "Qwen/Qwen3-Next-80B-A3B-Instruct": (0.15, 1.50),
    "Qwen/Qwen3-Next-80B-A3B-Thinking": (0.15, 1.50),
    "Qwen/Qwen3-235B-A22B-Instruct-2507-FP8": (0.20, 0.60),
    "Qwen/Qwen3-235B-A22B-Thinking-2507-FP8": (0.65, 3.00),
    "Qwen/Qwen3-VL-32B-Instruct": (0.50, 1.50),
    "Qwen/Qwen2.5-7B-Instruct-Turbo": (0.30, 0.30),
    "deepseek-ai/DeepSeek-R1-0528": (3.00, 7.00),
    "deepseek-ai/DeepSeek-V3.1": (0.60, 1.70),
    "deepseek-ai/DeepSeek-V3-0324": (1.25, 1.25),
    "mistralai/Mistral-7B-Instruct-v0.2": (0.20, 0.20),
    "google/gemma-3n-e4b-it": (0.02, 0.04),
}


def cost(provider: str, model: str, usage: Usage, mode: PriceMode) -> Cost | None:
    if provider != "together" or mode != "standard":
        return None
    price = PRICES.get(model)
    if price is None:
        return None
    rate_in, rate_out = price
    # Together bills cached prompt tokens at the input rate.
    return Cost(
        input=(usage.input_tokens - usage.cached_input_tokens) * rate_in / 1e6,
        cached_input=usage.cached_input_tokens * rate_in / 1e6,
        output=usage.output_tokens * rate_out / 1e6,
    )
