"""An HTTP error response as the `llmp.errors` class the core acts on.

The class decides what the core does (`ProviderError.retryable`): retry a 429 after its wait,
step a rejected key aside, fail a bad request at once, fall back to a larger model on a
context-length error. The message is the provider's own, found in the error shapes providers
use; the body is kept (parsed when it is JSON) for plugins that special-case on top, and the
error scrubs any key the server echoed back (`llmp._secrets`).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from llmp import errors
from llmp.wire._ratelimit import parse_duration, rate_limit_info, retry_after

__all__ = ["error_from_status", "retry_delay"]

# OpenAI's codes for a prompt that does not fit; the messages below are how OpenAI, Anthropic,
# Gemini, vLLM, SGLang and Cohere word it when there is no code.
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_CONTEXT_PHRASES = (
    "maximum context length",  # OpenAI, vLLM: "This model's maximum context length is 8192 tokens"
    "context length",  # SGLang: "...is longer than the model's context length"
    "context window",
    "context_length_exceeded",
    "prompt is too long",  # Anthropic: "prompt is too long: 215000 tokens > 200000 maximum"
    "exceed context limit",  # Anthropic: "input length and `max_tokens` exceed context limit"
    "exceeds the maximum number of tokens",  # Gemini: "The input token count (...) exceeds ..."
    "maximum model length",  # vLLM: "...is longer than the maximum model length of 4096"
    "too many tokens",  # Cohere
)
_QUOTA_CODES = frozenset({"insufficient_quota"})
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")
_MAX_MESSAGE = 500


def _parse(body: Any) -> Any:
    """Bytes or text as JSON where it is JSON, else as text; parsed bodies pass through."""
    if isinstance(body, bytes | bytearray | memoryview):
        raw = bytes(body)
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body


def _error_object(body: Any) -> Mapping[str, Any]:
    """The mapping that holds the message: ``body["error"]`` (OpenAI, Anthropic, Gemini) or the
    body itself (Cohere, vLLM); Google sometimes wraps the body in a one-element list."""
    if isinstance(body, list) and len(body) == 1:
        body = body[0]
    if not isinstance(body, Mapping):
        return {}
    inner = body.get("error")
    return inner if isinstance(inner, Mapping) else body


def _text_message(text: str) -> str:
    """A one-line message from a plain-text or HTML error page (a proxy's 502)."""
    title = _TITLE.search(text.encode("utf-8", "replace"))
    if title is not None:
        text = title.group(1).decode("utf-8", "replace")
    elif "<" in text and ">" in text:
        text = _TAGS.sub(" ", text)
    return _SPACE.sub(" ", html.unescape(text)).strip()[:_MAX_MESSAGE]


def _message(body: Any, error: Mapping[str, Any]) -> str:
    for value in (error.get("message"), error.get("detail"), error.get("error")):
        if isinstance(value, str) and value:
            return value
    if isinstance(body, str):
        return _text_message(body)
    detail = error.get("detail")
    if isinstance(detail, list) and detail:  # FastAPI validation errors (vLLM, many gateways)
        return "; ".join(str(d.get("msg", d)) if isinstance(d, Mapping) else str(d) for d in detail)
    return ""


def retry_delay(body: Any) -> float | None:
    """Seconds from a Google ``RetryInfo`` detail in an error body (``"retryDelay": "7s"``, or the
    proto form ``{"seconds": 7, "nanos": 0}``), or None."""
    details = _error_object(_parse(body)).get("details")
    if not isinstance(details, list):
        return None
    for detail in details:
        if not isinstance(detail, Mapping) or detail.get("@type") != _RETRY_INFO:
            continue
        delay = detail.get("retryDelay")
        if isinstance(delay, str):
            return parse_duration(delay)
        if isinstance(delay, Mapping):
            try:
                return float(delay.get("seconds") or 0) + float(delay.get("nanos") or 0) / 1e9
            except (TypeError, ValueError):
                return None
    return None


def _codes(error: Mapping[str, Any]) -> set[str]:
    """The error's machine-readable words: OpenAI's ``code``/``type``, Google's ``status`` and the
    ``reason`` of each ``google.rpc.ErrorInfo`` detail (``API_KEY_INVALID``)."""
    codes = {str(error[k]) for k in ("code", "type", "status") if isinstance(error.get(k), str)}
    details = error.get("details")
    if isinstance(details, list):
        for detail in details:
            if isinstance(detail, Mapping) and detail.get("@type") == _ERROR_INFO:
                reason = detail.get("reason")
                if isinstance(reason, str):
                    codes.add(reason)
    return codes


def _is_context_error(codes: set[str], message: str) -> bool:
    if codes & _CONTEXT_CODES:
        return True
    lowered = message.lower()
    return any(phrase in lowered for phrase in _CONTEXT_PHRASES)


def _class_for(status: int, codes: set[str], message: str) -> type[errors.ProviderError]:
    if (status == 429 and codes & _QUOTA_CODES) or status == 402:
        return errors.QuotaExceededError
    if status in (401, 403):
        return errors.AuthenticationError
    if status == 429:
        return errors.RateLimitError
    if status == 408:
        return errors.ProviderTimeoutError
    if status == 409:
        return errors.ConflictError
    if status >= 500:
        return errors.ServerError
    if _is_context_error(codes, message):
        return errors.ContextWindowExceededError
    return errors.BadRequestError


def error_from_status(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    provider: str,
    *,
    codes: Mapping[str, type[errors.ProviderError]] | None = None,
) -> errors.ProviderError:
    """The llmp error for an HTTP error response.

    ``body`` is the response body as bytes, text or parsed JSON; ``headers`` its headers
    (``httpx2.Headers`` or lower-case names). The message is the provider's own (OpenAI's and
    Anthropic's ``error.message``, Gemini's ``error.message``, Cohere's and vLLM's ``message``,
    FastAPI's ``detail``, an HTML page's title), or the status's reason phrase.

    - 400, 404, 413, 422 and other 4xx: `BadRequestError`, or `ContextWindowExceededError` when the
      code or message says the prompt does not fit.
    - 401, 403: `AuthenticationError`. 402 and a 429 ``insufficient_quota``: `QuotaExceededError`.
    - 429: `RateLimitError` with `retry_after` (``retry-after-ms``, ``retry-after`` in seconds or
      as an HTTP date, Gemini's ``RetryInfo``) and `rate_limit` (``x-ratelimit-*``,
      ``anthropic-ratelimit-*``).
    - 408: `ProviderTimeoutError`; 409: `ConflictError`; 5xx (and Anthropic's 529): `ServerError`,
      each with the `retry_after` the provider asked for.

    ``codes`` is the provider's own table on top: its machine-readable error words (OpenAI's
    ``code`` and ``type``, Google's ``status`` and ``ErrorInfo`` reasons) mapped to the class
    they mean whatever the status says, e.g. Gemini's ``{"API_KEY_INVALID": AuthenticationError}``
    for a wrong key, which Google sends as a 400. The first word of the table the error carries
    decides (in the table's order). A retryable class gets the `retry_after` the provider asked for,
    a `RateLimitError` the `rate_limit` headers too.
    """
    parsed = _parse(body)
    error = _error_object(parsed)
    message = _message(parsed, error)
    if not message:
        try:
            message = f"HTTP {status} {HTTPStatus(status).phrase}"
        except ValueError:
            message = f"HTTP {status}"
    words = _codes(error)
    cls = next((c for word, c in codes.items() if word in words), None) if codes else None
    if cls is None:
        cls = _class_for(status, words, message)
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status, "body": parsed}
    if cls.retryable:
        wait = retry_after(headers)
        kwargs["retry_after"] = retry_delay(parsed) if wait is None else wait
        if issubclass(cls, errors.RateLimitError):
            kwargs["rate_limit"] = rate_limit_info(headers)
    return cls(message, **kwargs)
