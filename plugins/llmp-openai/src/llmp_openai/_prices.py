"""Prices in USD per million tokens for the providers this plugin serves.

Source: the providers' public price pages, cross-checked against yoonholee/llm-provider's
prices.csv (2026-02) for OpenAI and SambaNova, and against litellm 1.83.0's
model_prices_and_context_window.json for DeepSeek, Z.ai (GLM), DashScope (Qwen), Mistral, Groq,
xAI, Fireworks and DeepInfra; only models whose price both agree on, or that the provider's page
lists, are here. Batch prices are half the standard price for OpenAI (as OpenAI documents); where
a provider has no batch API, there is no batch price. Local servers (``local/*``, ``ollama/*``)
and unknown models are priced None: the user sees "unknown", never a guess.
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

EMBEDDINGS: dict[str, Price] = {
    "text-embedding-3-small": Price(0.02, 0.0),
    "text-embedding-3-large": Price(0.13, 0.0),
    "text-embedding-ada-002": Price(0.10, 0.0),
}

DEEPSEEK: dict[str, Price] = {
    "deepseek-chat": Price(0.28, 0.42, 0.028),
    "deepseek-reasoner": Price(0.28, 0.42, 0.028),
}

ZHIPU: dict[str, Price] = {
    "glm-5": Price(1.00, 3.20, 0.20),
    "glm-4.7": Price(0.60, 2.20, 0.11),
    "glm-4.6": Price(0.60, 2.20, 0.11),
    "glm-4.5": Price(0.60, 2.20),
    "glm-4.5v": Price(0.60, 1.80),
    "glm-4.5-air": Price(0.20, 1.10),
    "glm-4.5-flash": Price(0.0, 0.0),
}

DASHSCOPE: dict[str, Price] = {
    "qwen-max": Price(1.60, 6.40),
    "qwen-plus": Price(0.40, 1.20),
    "qwen-turbo": Price(0.05, 0.20),
    "qwq-plus": Price(0.80, 2.40),
    "qwen3-next-80b-a3b-instruct": Price(0.15, 1.20),
    "qwen3-next-80b-a3b-thinking": Price(0.15, 1.20),
    "qwen3-vl-235b-a22b-instruct": Price(0.40, 1.60),
}

MISTRAL: dict[str, Price] = {
    "mistral-large-latest": Price(0.50, 1.50),
    "mistral-large-2512": Price(0.50, 1.50),
    "mistral-medium-latest": Price(0.40, 2.00),
    "mistral-medium-2505": Price(0.40, 2.00),
    "mistral-small-latest": Price(0.06, 0.18),
    "magistral-medium-latest": Price(2.00, 5.00),
    "magistral-small-latest": Price(0.50, 1.50),
    "pixtral-large-latest": Price(2.00, 6.00),
    "devstral-medium-latest": Price(0.40, 2.00),
    "devstral-small-latest": Price(0.10, 0.30),
}

GROQ: dict[str, Price] = {
    "llama-3.1-8b-instant": Price(0.05, 0.08),
    "llama-3.3-70b-versatile": Price(0.59, 0.79),
    "openai/gpt-oss-120b": Price(0.15, 0.60, 0.075),
    "openai/gpt-oss-20b": Price(0.075, 0.30, 0.0375),
    "qwen/qwen3-32b": Price(0.29, 0.59),
    "meta-llama/llama-4-scout-17b-16e-instruct": Price(0.11, 0.34),
    "meta-llama/llama-4-maverick-17b-128e-instruct": Price(0.20, 0.60),
    "moonshotai/kimi-k2-instruct-0905": Price(1.00, 3.00, 0.50),
}

XAI: dict[str, Price] = {
    "grok-4": Price(3.00, 15.00),
    "grok-4-0709": Price(3.00, 15.00),
    "grok-4-fast-reasoning": Price(0.20, 0.50, 0.05),
    "grok-4-fast-non-reasoning": Price(0.20, 0.50, 0.05),
    "grok-4-1-fast-reasoning": Price(0.20, 0.50, 0.05),
    "grok-4-1-fast-non-reasoning": Price(0.20, 0.50, 0.05),
    "grok-3": Price(3.00, 15.00, 0.75),
    "grok-3-mini": Price(0.30, 0.50, 0.075),
    "grok-code-fast-1": Price(0.20, 1.50, 0.02),
}

_FW = "accounts/fireworks/models/"
FIREWORKS: dict[str, Price] = {
    _FW + "deepseek-v3p1": Price(0.56, 1.68),
    _FW + "deepseek-r1-0528": Price(3.00, 8.00),
    _FW + "gpt-oss-120b": Price(0.15, 0.60),
    _FW + "gpt-oss-20b": Price(0.05, 0.20),
    _FW + "kimi-k2-instruct-0905": Price(0.60, 2.50),
    _FW + "llama-v3p1-8b-instruct": Price(0.10, 0.10),
    _FW + "llama-v3p1-405b-instruct": Price(3.00, 3.00),
    _FW + "qwen3-235b-a22b-instruct-2507": Price(0.22, 0.88),
    _FW + "glm-4p6": Price(0.55, 2.19),
}

DEEPINFRA: dict[str, Price] = {
    "meta-llama/Llama-3.3-70B-Instruct-Turbo": Price(0.13, 0.39),
    "meta-llama/Meta-Llama-3.1-8B-Instruct": Price(0.03, 0.05),
    "deepseek-ai/DeepSeek-V3.1": Price(0.27, 1.00, 0.216),
    "deepseek-ai/DeepSeek-R1-0528": Price(0.50, 2.15, 0.40),
    "openai/gpt-oss-120b": Price(0.05, 0.45),
    "Qwen/Qwen3-235B-A22B-Instruct-2507": Price(0.09, 0.60),
}

TABLES: dict[str, dict[str, Price]] = {
    "openai": {**OPENAI, **EMBEDDINGS},
    "sambanova": SAMBANOVA,
    "deepseek": DEEPSEEK,
    "zhipu": ZHIPU,
    "dashscope": DASHSCOPE,
    "mistral": MISTRAL,
    "groq": GROQ,
    "xai": XAI,
    "fireworks_ai": FIREWORKS,
    "deepinfra": DEEPINFRA,
}
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
