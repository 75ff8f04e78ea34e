"""Gemini's errors as `llmp.errors`: `llmp.wire`'s mapping, with Google's error reasons on top.

Google's error body is ``{"error": {"code", "message", "status", "details": [...]}}``; a 429
says how long to wait in a ``google.rpc.RetryInfo`` detail (``"retryDelay": "7s"``) rather than
a ``retry-after`` header, which `llmp.wire.error_from_status` reads. What only Gemini's table
(`CODES`) knows: a wrong key is a 400 whose ``ErrorInfo`` reason is ``API_KEY_INVALID``, an
authentication failure whatever the status says. (The ``status`` strings, ``RESOURCE_EXHAUSTED``
and the rest, always come with the HTTP status that means the same.) Live calls apply the table
through `llmp.wire.send_checked`; the batch API's calls go through google-genai, whose
``APIError`` carries the same body (`translate`). Messages come from the body's ``message``
field only, which never contains the key.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from llmp import errors
from llmp.wire import error_from_status, error_from_transport

__all__ = ["CODES", "translate"]

#: ``google.rpc.ErrorInfo`` reasons that mean the key, not the request, is wrong.
CODES: dict[str, type[errors.ProviderError]] = {
    "API_KEY_INVALID": errors.AuthenticationError,
    "API_KEY_SERVICE_BLOCKED": errors.AuthenticationError,
    "API_KEY_HTTP_REFERRER_BLOCKED": errors.AuthenticationError,
}


def _sdk_error(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """google-genai's exceptions (the batch API), if it is imported: they cannot exist before."""
    sdk = sys.modules.get("google.genai.errors")
    if sdk is None:
        return None
    if isinstance(exc, sdk.APIError):
        response: Any = getattr(exc, "response", None)
        headers = getattr(response, "headers", None) or {}
        return error_from_status(int(exc.code or 0), exc.details, headers, provider, codes=CODES)
    if isinstance(exc, sdk.UnknownApiResponseError):
        return errors.MalformedResponseError(f"a response body is not valid JSON: {exc}", provider=provider)
    return None


def translate(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """The llmp error for a google-genai or transport exception, or None if it is neither."""
    if isinstance(exc, errors.LLMPError):
        return exc
    translated = _sdk_error(exc, provider)
    if translated is not None:
        return translated
    if isinstance(exc, json.JSONDecodeError):
        return errors.MalformedResponseError(f"a response body is not valid JSON: {exc}", provider=provider)
    return error_from_transport(exc, provider)
