"""The openai SDK's (and httpx2's) exceptions, translated into `llmp.errors`.

Translation keeps the provider's own message and status, reads ``retry-after`` and the
``x-ratelimit-*`` headers into typed fields, and chains the original (``raise ... from``).
Nothing here puts a key in a message: the SDK's error bodies never contain one, and we build
messages only from the body's ``message`` field.
"""

from __future__ import annotations

import ssl
from typing import Any

from llmp import errors
from llmp.headers import rate_limit_info, retry_after

_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})


def _provider_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        message = body.get("message")
        if isinstance(message, str) and message:
            return message
    return str(getattr(exc, "message", "") or exc)


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        if isinstance(seen, ssl.SSLError) and "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_h2_protocol_error(exc: BaseException) -> bool:
    try:
        from h2.exceptions import H2Error
    except ImportError:  # pragma: no cover - h2 comes with httpx2[http2]
        return False
    return isinstance(exc, H2Error)


def translate(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """The llmp error for an SDK / transport exception, or None if it is not one we know."""
    import httpx2
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        headers = exc.response.headers
        message = _provider_message(exc)
        body = exc.body
        kwargs: dict[str, Any] = {"provider": provider, "status_code": status, "body": body}
        code = body.get("code") if isinstance(body, dict) else None
        if status == 429 and code == "insufficient_quota":
            return errors.QuotaExceededError(message, **kwargs)
        if status == 429:
            return errors.RateLimitError(
                message, retry_after=retry_after(headers), rate_limit=rate_limit_info(headers), **kwargs
            )
        if status in (401, 403):
            return errors.AuthenticationError(message, **kwargs)
        if status == 408:
            return errors.ProviderTimeoutError(message, retry_after=retry_after(headers), **kwargs)
        if status == 409:
            return errors.ConflictError(message, retry_after=retry_after(headers), **kwargs)
        if status >= 500:
            return errors.ServerError(message, retry_after=retry_after(headers), **kwargs)
        if code in _CONTEXT_CODES:
            return errors.ContextWindowExceededError(message, **kwargs)
        return errors.BadRequestError(message, **kwargs)
    if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
        return errors.ProviderTimeoutError("no complete response within the timeout", provider=provider)
    if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
        if _is_tls_failure(exc):
            return errors.TLSError(
                "the server's TLS certificate is not trusted. Check the base URL, or point "
                "SSL_CERT_FILE at the CA bundle that signed it.",
                provider=provider,
            )
        cause = exc.__cause__ or exc
        return errors.ProviderConnectionError(f"{type(cause).__name__}: {cause}", provider=provider)
    if _is_h2_protocol_error(exc):
        # httpcore2 lets some HTTP/2 protocol errors escape unwrapped while reading a body
        # (e.g. h2's InvalidBodyLengthError after a stream reset): the connection failed us.
        message = f"HTTP/2 protocol error: {type(exc).__name__}: {exc}"
        return errors.ProviderConnectionError(message, provider=provider)
    if isinstance(exc, openai.APIError):
        # An error event inside a stream: the provider failed mid-answer.
        return errors.ServerError(_provider_message(exc), provider=provider, body=getattr(exc, "body", None))
    return None
