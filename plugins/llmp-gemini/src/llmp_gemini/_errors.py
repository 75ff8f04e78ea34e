"""google-genai's (and httpx2's) exceptions, translated into `llmp.errors`.

Google's error body is ``{"error": {"code", "message", "status", "details": [...]}}``; a 429
says how long to wait in a ``google.rpc.RetryInfo`` detail (``"retryDelay": "7s"``) rather than
a ``retry-after`` header, so both are read. A wrong key is a 400 whose ``ErrorInfo`` reason is
``API_KEY_INVALID``: that is an authentication failure, whatever the status says. Messages come
from the body's ``message`` field only, which never contains the key.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from typing import Any

from llmp import errors
from llmp.headers import parse_duration, retry_after

_DETAIL = "type.googleapis.com/google.rpc."
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "API_KEY_HTTP_REFERRER_BLOCKED"})


# Defined in the core so every plugin (and the core's usage accounting) shares it.
EmptyResponseError = errors.EmptyResponseError


def _error_object(details: Any) -> Mapping[str, Any]:
    if isinstance(details, list) and len(details) == 1:
        details = details[0]
    if isinstance(details, Mapping):
        inner = details.get("error")
        return inner if isinstance(inner, Mapping) else details
    return {}


def _details(error: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    items = error.get("details")
    return [d for d in items if isinstance(d, Mapping)] if isinstance(items, list) else []


def retry_delay(error: Mapping[str, Any]) -> float | None:
    """Seconds from a ``RetryInfo`` detail (``"retryDelay": "7s"``), or None."""
    for detail in _details(error):
        if detail.get("@type") == _DETAIL + "RetryInfo":
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
            if isinstance(delay, Mapping):  # the proto form {"seconds": 7, "nanos": 0}
                return float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
    return None


def _reasons(error: Mapping[str, Any]) -> set[str]:
    return {str(d.get("reason")) for d in _details(error) if d.get("@type") == _DETAIL + "ErrorInfo"}


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


def _status_error(exc: Any, provider: str) -> errors.ProviderError:
    status = int(exc.code or 0)
    error = _error_object(exc.details)
    message = str(exc.message or error.get("message") or exc)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    wait = retry_delay(error)
    if wait is None:
        wait = retry_after(headers)
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status, "body": exc.details}
    if status == 429:
        return errors.RateLimitError(message, retry_after=wait, **kwargs)
    if status in (401, 403) or _reasons(error) & _AUTH_REASONS:
        return errors.AuthenticationError(message, **kwargs)
    if status == 408:
        return errors.ProviderTimeoutError(message, retry_after=wait, **kwargs)
    if status == 409:
        return errors.ConflictError(message, retry_after=wait, **kwargs)
    if status >= 500:
        return errors.ServerError(message, retry_after=wait, **kwargs)
    if "exceeds the maximum number of tokens" in message:
        return errors.ContextWindowExceededError(message, **kwargs)
    return errors.BadRequestError(message, **kwargs)


def translate(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """The llmp error for an SDK / transport exception, or None if it is not one we know."""
    import httpx2
    from google.genai import errors as genai_errors

    if isinstance(exc, genai_errors.APIError):
        return _status_error(exc, provider)
    if isinstance(exc, httpx2.TimeoutException):
        return errors.ProviderTimeoutError("no complete response within the timeout", provider=provider)
    if isinstance(exc, httpx2.TransportError):
        if _is_tls_failure(exc):
            return errors.TLSError(
                "the server's TLS certificate is not trusted. Check the base URL, or point "
                "SSL_CERT_FILE at the CA bundle that signed it.",
                provider=provider,
            )
        return errors.ProviderConnectionError(f"{type(exc).__name__}: {exc}", provider=provider)
    if isinstance(exc, (genai_errors.UnknownApiResponseError, json.JSONDecodeError)):
        return errors.MalformedResponseError(f"a response body is not valid JSON: {exc}", provider=provider)
    return None
