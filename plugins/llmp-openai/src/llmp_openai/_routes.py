"""The routing rows llmp-openai contributes (names follow litellm's conventions).

Every row speaks the ``"openai"`` wire API. Base URLs and key variables are litellm's own
(``litellm/litellm_core_utils/get_llm_provider_logic.py`` and each provider's
``chat/transformation.py``, litellm 1.83): ``<PREFIX>_API_KEY`` (or ``<PREFIX>_KEYS`` to rotate),
and ``<PREFIX>_API_BASE`` to point a host elsewhere.
"""

from __future__ import annotations

from llmp.types import Route

OPENAI_BASE_URL = "https://api.openai.com/v1"
LOCAL_BASE_URL = "http://localhost:30000/v1"
OPENAI_PATTERNS = ("gpt-*", "o1*", "o3*", "o4*", "chatgpt-*", "text-embedding-*", "openai/*")

#: OpenAI-compatible hosts: (pattern, provider, base URL, key prefix or None for no key).
COMPATIBLE_HOSTS: tuple[tuple[str, str, str, str | None], ...] = (
    ("sambanova/*", "sambanova", "https://api.sambanova.ai/v1", "SAMBANOVA"),
    ("openrouter/*", "openrouter", "https://openrouter.ai/api/v1", "OPENROUTER"),
    # litellm's default DeepSeek base is the beta endpoint (strict tools, prefix completion).
    ("deepseek/*", "deepseek", "https://api.deepseek.com/beta", "DEEPSEEK"),
    ("ollama/*", "ollama", "http://localhost:11434/v1", None),
    # GLM: litellm names the provider "zai"; mainland China's host is open.bigmodel.cn.
    ("zhipu/*", "zhipu", "https://api.z.ai/api/paas/v4", "ZAI"),
    ("zai/*", "zhipu", "https://api.z.ai/api/paas/v4", "ZAI"),
    ("dashscope/*", "dashscope", "https://dashscope.aliyuncs.com/compatible-mode/v1", "DASHSCOPE"),
    ("mistral/*", "mistral", "https://api.mistral.ai/v1", "MISTRAL"),
    ("groq/*", "groq", "https://api.groq.com/openai/v1", "GROQ"),
    ("xai/*", "xai", "https://api.x.ai/v1", "XAI"),
    ("fireworks_ai/*", "fireworks_ai", "https://api.fireworks.ai/inference/v1", "FIREWORKS"),
    ("deepinfra/*", "deepinfra", "https://api.deepinfra.com/v1/openai", "DEEPINFRA"),
)


def _openai(pattern: str) -> Route:
    return Route(
        pattern,
        "openai",
        api="openai",
        base_url=OPENAI_BASE_URL,
        base_url_env="OPENAI_BASE_URL",
        key_env="OPENAI",
    )


def _host(pattern: str, provider: str, base_url: str, key: str | None) -> Route:
    env = (key or provider.upper().removesuffix("_AI")) + "_API_BASE"
    options = {}
    if provider == "openrouter":
        # Cheapest provider first, as OpenRouter documents for provider routing.
        options = {"extra_body": {"provider": {"sort": "price"}}}
    return Route(
        pattern, provider, api="openai", base_url=base_url, base_url_env=env, key_env=key, options=options
    )


def routes() -> list[Route]:
    return [
        *(_openai(pattern) for pattern in OPENAI_PATTERNS),
        *(_host(*row) for row in COMPATIBLE_HOSTS),
        # vLLM, SGLang, llama.cpp and friends: no key needed.
        Route("local/*", "local", api="openai", base_url=LOCAL_BASE_URL, base_url_env="LOCAL_BASE_URL"),
    ]
