"""The routing row llmp-cohere contributes (litellm's ``cohere/`` naming convention)."""

from __future__ import annotations

from llmp.types import Route

API = "cohere"
# The origin: the client appends /v2/chat itself, so a proxy or a fake can stand in.
COHERE_BASE_URL = "https://api.cohere.com"


# --8<-- [start:routes]
def routes() -> list[Route]:
    return [
        Route(
            "cohere/*",  # "cohere/command-a-03-2025" is sent as "command-a-03-2025"
            "cohere",
            api=API,
            base_url=COHERE_BASE_URL,
            base_url_env="COHERE_BASE_URL",
            key_env="COHERE",  # COHERE_API_KEY, or COHERE_KEYS=k1,k2 rotated by the core
        )
    ]


# --8<-- [end:routes]
