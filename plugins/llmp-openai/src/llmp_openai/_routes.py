"""The routing rows llmp-openai contributes (names follow litellm's conventions)."""

from __future__ import annotations

from llmp.types import Route

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://localhost:30000/v1"
OPENAI_PATTERNS = ("gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "openai/*")


def _openai(pattern: str) -> Route:
    return Route(
        pattern,
        "openai",
        api="openai",
        base_url=OPENAI_BASE_URL,
        base_url_env="OPENAI_BASE_URL",
        key_env="OPENAI",
    )


def routes() -> list[Route]:
    return [
        *(_openai(pattern) for pattern in OPENAI_PATTERNS),
        Route(
            "sambanova/*",
            "sambanova",
            api="openai",
            base_url="https://api.sambanova.ai/v1",
            key_env="SAMBANOVA",
        ),
        Route(
            "openrouter/*",
            "openrouter",
            api="openai",
            base_url="https://openrouter.ai/api/v1",
            key_env="OPENROUTER",
            # Cheapest provider first, as OpenRouter documents for provider routing.
            options={"extra_body": {"provider": {"sort": "price"}}},
        ),
        # vLLM, SGLang, Ollama and friends: no key needed.
        Route("local/*", "local", api="openai", base_url=LOCAL_BASE_URL, base_url_env="LOCAL_BASE_URL"),
    ]
