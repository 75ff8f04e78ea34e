"""litellm's exceptions, translated into `llmp.errors`.

litellm maps every provider's failures onto OpenAI-style classes (``litellm.RateLimitError`` ...)
whose messages wrap the provider's body (``"litellm.RateLimitError: AnthropicException -
{"type":"error","error":{...}}"``). We keep the provider's own message and status (Anthropic's 529
"overloaded" stays 529, although litellm reports it as a 500), read ``retry-after`` and the rate-limit
headers litellm kept, and chain the original (``raise ... from``). litellm's messages never contain
the key, and we only ever add the provider's message to them.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

from llmp import errors
from llmp_litellm._ratelimit import rate_limit_info, retry_after

_TIMEOUT_STATUSES = frozenset({408, 504})


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    for _ in range(12):  # bounded: chains can loop
        if seen is None:
            return
        yield seen
        seen = seen.__cause__ or seen.__context__


def _status(exc: BaseException) -> int | None:
    """The provider's HTTP status: the innermost one in the chain (before litellm's remapping)."""
    found = None
    for link in _chain(exc):
        code = getattr(link, "status_code", None)
        if isinstance(code, int) and not isinstance(code, bool):
            found = code
    return found


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    for link in _chain(exc):
        for headers in (
            getattr(link, "litellm_response_headers", None),
            getattr(getattr(link, "response", None), "headers", None),
            getattr(link, "headers", None),
        ):
            if headers:
                return headers  # type: ignore[no-any-return]
    return None


def _body(exc: BaseException) -> Any:
    """The provider's JSON error body, found inside litellm's message, or None."""
    text = str(getattr(exc, "message", "") or exc)
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        return json.loads(text[start : end + 1])
    except ValueError:
        return None


def _message(exc: BaseException, body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        for holder in (error, body):
            message = holder.get("message") if isinstance(holder, dict) else None
            if isinstance(message, str):
                return message
    text = str(getattr(exc, "message", "") or exc)
    return text.removeprefix("litellm.").strip()


# Where litellm's advice starts ("To drop these, set `litellm.drop_params=True` ..."): llmp does
# not drop parameters, so that advice would mislead.
_ADVICE = re.compile(r"\s*(To drop these|If you want to use these params)", re.IGNORECASE)
_INSTEAD = (
    "llmp sends every parameter it is given and never drops one silently: leave it out of the call "
    "(and of the LLM's defaults) to send the request without it, or send a raw field the provider "
    "takes with extra_body={...}."
)


def unsupported_message(exc: BaseException) -> str:
    """litellm's "does not support parameters" message without its drop_params advice, and what
    to do with llmp instead."""
    text = _message(exc, None)
    cut = _ADVICE.search(text)
    if cut is not None:
        text = text[: cut.start()]
    return f"{text.rstrip(' .')}. {_INSTEAD}"


def _is_tls_failure(exc: BaseException) -> bool:
    for link in _chain(exc):
        if isinstance(link, ssl.SSLCertVerificationError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(link):
            return True
    return False


def _is_transport_failure(exc: BaseException) -> bool:
    import httpx

    return any(isinstance(link, httpx.TransportError | ConnectionError) for link in _chain(exc))


def translate(exc: BaseException, provider: str) -> errors.LLMPError | None:
    """The llmp error for a litellm (or transport) exception, or None if it is not one we know."""
    from litellm import exceptions as litellm

    if isinstance(exc, litellm.UnsupportedParamsError):
        return errors.UnsupportedParameterError(f"{provider}: {unsupported_message(exc)}")
    if not isinstance(exc, tuple(litellm.LITELLM_EXCEPTION_TYPES)) and not _is_transport_failure(exc):
        return None
    body = _body(exc)
    message = _message(exc, body)
    status = _status(exc)
    headers = _headers(exc)
    kwargs: dict[str, Any] = {"provider": provider, "status_code": status, "body": body}
    if _is_tls_failure(exc):
        return errors.TLSError(
            "the server's TLS certificate is not trusted. Check the base URL, or point SSL_CERT_FILE "
            "at the CA bundle that signed it.",
            provider=provider,
        )
    if isinstance(exc, litellm.ContextWindowExceededError):
        return errors.ContextWindowExceededError(message, **kwargs)
    if isinstance(exc, litellm.RateLimitError) or status == 429:
        return errors.RateLimitError(
            message, retry_after=retry_after(headers), rate_limit=rate_limit_info(headers), **kwargs
        )
    if isinstance(exc, litellm.AuthenticationError | litellm.PermissionDeniedError) or status in (401, 403):
        return errors.AuthenticationError(message, **kwargs)
    if isinstance(exc, litellm.Timeout) or status in _TIMEOUT_STATUSES:
        return errors.ProviderTimeoutError(message, retry_after=retry_after(headers), **kwargs)
    if status == 409:
        return errors.ConflictError(message, retry_after=retry_after(headers), **kwargs)
    if _is_transport_failure(exc) or (isinstance(exc, litellm.APIConnectionError) and body is None):
        # litellm reports transport failures as a 500 (or an APIConnectionError): they are not the
        # provider's answer, so no status.
        kwargs["status_code"] = None
        return errors.ProviderConnectionError(message, **kwargs)
    if status is not None and status >= 500:
        return errors.ServerError(message, retry_after=retry_after(headers), **kwargs)
    if status is not None and 400 <= status < 500:
        return errors.BadRequestError(message, **kwargs)
    return errors.ServerError(message, **kwargs)
