"""The routing rows llmp-litellm contributes: Anthropic, and the catch-all for everything else."""

from __future__ import annotations

from llmp.types import Route

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
# The catch-all sits below every other row: a name any other plugin (or a user route) claims goes
# there, whatever its priority; only names nobody else serves fall through to litellm.
CATCH_ALL_PRIORITY = -1_000_000


def routes() -> list[Route]:
    return [
        # "anthropic/claude-sonnet-4-6" is sent as "claude-sonnet-4-6" to litellm's Anthropic
        # provider. ANTHROPIC_BASE_URL is the origin (litellm appends /v1/messages), as in the
        # anthropic SDK.
        Route(
            "anthropic/*",
            "anthropic",
            api="litellm",
            base_url=ANTHROPIC_BASE_URL,
            base_url_env="ANTHROPIC_BASE_URL",
            key_env="ANTHROPIC",
        ),
        # Any other name goes to litellm as it is ("mistral/mistral-large-latest"), and litellm
        # finds the provider and reads that provider's key from the environment itself.
        Route("*", "litellm", priority=CATCH_ALL_PRIORITY, api="litellm"),
    ]
