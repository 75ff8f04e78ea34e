"""User-facing routing: add an OpenAI-compatible host without writing a plugin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmp._plugins import Registry, default_registry
from llmp.types import Route

__all__ = ["add_route", "routes"]


def add_route(
    pattern: str,
    *,
    base_url: str,
    provider: str | None = None,
    api: str = "openai",
    key_env: str | None = None,
    priority: int = 0,
    options: Mapping[str, Any] | None = None,
    registry: Registry | None = None,
) -> Route:
    """Route model names matching `pattern` to an OpenAI-compatible host (or another `api`).

    >>> llmp.add_route("myvllm/*", base_url="http://gpu-box:8000/v1", key_env="MYVLLM")
    >>> llmp.LLM("myvllm/Qwen3-8B").generate(["hi"])   # sends model "Qwen3-8B" to gpu-box

    `key_env` is the env-var prefix for credentials (``MYVLLM_API_KEY`` / ``MYVLLM_KEYS``);
    leave it None for a host that needs no key. `provider` defaults to the pattern's prefix.
    User routes win over plugin routes for the same pattern.
    """
    if not pattern:
        raise ValueError("pattern must be a model name or glob such as 'myvllm/*'")
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
    name = provider or pattern.split("/", 1)[0].rstrip("*") or pattern
    route = Route(
        pattern, name, priority, api=api, base_url=base_url, key_env=key_env, options=dict(options or {})
    )
    (registry or default_registry()).add_route(route)
    return route


def routes(registry: Registry | None = None) -> list[Route]:
    """The routing table, each row with the distribution that contributed it."""
    return (registry or default_registry()).table.routes
