"""Cohere's HTTP errors and httpx2's transport errors, as `llmp.errors`.

The error class decides what the core does (`ProviderError.retryable`): retry a 429 after its
``retry-after``, step a rejected key aside, fail a bad request at once. Messages come from
Cohere's ``{"message": ...}`` body only, which never holds the key.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

from llmp import errors
from llmp.headers import rate_limit_info, retry_after

__all__ = ["from_status", "from_transport"]

PROVIDER = "cohere"
# Cohere answers 498 for an invalid token, besides the usual 401.
_AUTH = frozenset({401, 403, 498})
_CONTEXT_HINTS = ("too many tokens", "context length", "context window")


def _message(body: Any, raw: bytes) -> str:
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return raw[:300].decode("utf-8", "replace") or "no error message"


# --8<-- [start:status]
def from_status(status: int, raw: bytes, headers: Mapping[str, str]) -> errors.ProviderError:
    """The llmp error for an HTTP error response."""
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = None  # a proxy's HTML error page
    message = _message(body, raw)
    kwargs: dict[str, Any] = {"provider": PROVIDER, "status_code": status, "body": body}
    if status == 429:
        return errors.RateLimitError(
            message, retry_after=retry_after(headers), rate_limit=rate_limit_info(headers), **kwargs
        )
    if status in _AUTH:
        return errors.AuthenticationError(message, **kwargs)
    if status == 402:
        return errors.QuotaExceededError(message, **kwargs)
    if status == 408:
        return errors.ProviderTimeoutError(message, retry_after=retry_after(headers), **kwargs)
    if status == 409:
        return errors.ConflictError(message, retry_after=retry_after(headers), **kwargs)
    if status >= 500:
        return errors.ServerError(message, retry_after=retry_after(headers), **kwargs)
    if any(hint in message.lower() for hint in _CONTEXT_HINTS):
        return errors.ContextWindowExceededError(message, **kwargs)
    return errors.BadRequestError(message, **kwargs)


# --8<-- [end:status]


def _tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # the SSL error sits a few links down httpx2's exception chain
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def from_transport(exc: BaseException) -> errors.ProviderError | None:
    """The llmp error for an httpx2 / h2 exception, or None for anything else."""
    import httpx2

    if isinstance(exc, httpx2.TimeoutException):
        return errors.ProviderTimeoutError("no complete response within the timeout", provider=PROVIDER)
    if _tls_failure(exc):
        return errors.TLSError(
            "the server's certificate is not trusted (check SSL_CERT_FILE or COHERE_BASE_URL)",
            provider=PROVIDER,
        )
    if isinstance(exc, httpx2.TransportError):
        return errors.ProviderConnectionError(f"{type(exc).__name__}: {exc}", provider=PROVIDER)
    try:
        from h2.exceptions import H2Error
    except ImportError:  # pragma: no cover - h2 comes with httpx2[http2]
        return None
    if isinstance(exc, H2Error):
        return errors.ProviderConnectionError(f"HTTP/2 protocol error: {exc}", provider=PROVIDER)
    return None
