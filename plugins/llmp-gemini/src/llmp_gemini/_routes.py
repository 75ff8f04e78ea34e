"""The routing row llmp-gemini contributes (names follow litellm's ``gemini/`` convention)."""

from __future__ import annotations

from llmp.types import Route

# google-genai appends the API version ("v1beta/...") itself, so the base URL is the origin.
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"


def routes() -> list[Route]:
    return [
        Route(
            "gemini/*",
            "gemini",
            api="gemini",
            base_url=GEMINI_BASE_URL,
            base_url_env="GEMINI_BASE_URL",
            key_env="GEMINI",
        )
    ]
