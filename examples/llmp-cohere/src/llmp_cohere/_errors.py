"""Cohere's HTTP errors and httpx2's transport errors, as `llmp.errors`.

The error class decides what the core does (`ProviderError.retryable`): retry a 429 after its
``retry-after``, step a rejected key aside, fail a bad request at once. `llmp.wire` maps the
statuses and transport failures every provider shares; what is Cohere's own is on top. Messages
come from Cohere's ``{"message": ...}`` body only, which never holds the key.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmp import errors
from llmp.wire import error_from_status, error_from_transport

__all__ = ["from_status", "from_transport"]

PROVIDER = "cohere"
# Cohere answers 498 for an invalid token, besides the usual 401.
INVALID_TOKEN = 498


# --8<-- [start:status]
def from_status(status: int, raw: bytes, headers: Mapping[str, str]) -> errors.ProviderError:
    """The llmp error for an HTTP error response: `llmp.wire`'s, but a 498 is a rejected key."""
    error = error_from_status(status, raw, headers, PROVIDER)
    if status == INVALID_TOKEN:
        return errors.AuthenticationError(
            error.message, provider=PROVIDER, status_code=status, body=error.body
        )
    return error


def from_transport(exc: BaseException) -> errors.ProviderError | None:
    """The llmp error for an httpx2 / h2 exception, or None for anything else."""
    return error_from_transport(exc, PROVIDER)


# --8<-- [end:status]
