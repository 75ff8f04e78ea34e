"""Rate-limit headers as `RateLimitInfo`, from whatever litellm kept of the response headers.

Anthropic sends ``anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`` with the reset as
an RFC 3339 time; most other providers send OpenAI's ``x-ratelimit-*`` with Go-style durations.
litellm hands successful responses' headers over as ``llm_provider-<name>`` (plus a few renamed
``x-ratelimit-*`` ones without the resets), and errors' headers as they came.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping

from llmp import headers as common
from llmp.types import RateLimitInfo

_PREFIX = "llm_provider-"
_ANTHROPIC = "anthropic-ratelimit-"


def original_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The provider's own headers (lower-case names) out of litellm's ``additional_headers``."""
    items = [(str(k).lower(), str(v)) for k, v in headers.items()]
    prefixed = {k[len(_PREFIX) :]: v for k, v in items if k.startswith(_PREFIX)}
    return prefixed or dict(items)


def _int(value: str | None) -> int | None:
    try:
        return int(float(value)) if value is not None else None
    except ValueError:
        return None


def _until(value: str | None) -> float | None:
    """Seconds from now until an RFC 3339 time (``2026-01-02T03:04:05Z``); None if unparseable."""
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _anthropic(h: Mapping[str, str]) -> RateLimitInfo | None:
    # "tokens" is the most restrictive of Anthropic's token limits; older answers only had the
    # input/output ones.
    tokens = "tokens" if _ANTHROPIC + "tokens-remaining" in h else "input-tokens"
    remaining_requests = h.get(_ANTHROPIC + "requests-remaining")
    remaining_tokens = h.get(f"{_ANTHROPIC}{tokens}-remaining")
    if remaining_requests is None and remaining_tokens is None:
        return None
    return RateLimitInfo(
        limit_requests=_int(h.get(_ANTHROPIC + "requests-limit")),
        limit_tokens=_int(h.get(f"{_ANTHROPIC}{tokens}-limit")),
        remaining_requests=_int(remaining_requests),
        remaining_tokens=_int(remaining_tokens),
        reset_requests=_until(h.get(_ANTHROPIC + "requests-reset")),
        reset_tokens=_until(h.get(f"{_ANTHROPIC}{tokens}-reset")),
    )


def rate_limit_info(headers: Mapping[str, str] | None) -> RateLimitInfo | None:
    if not headers:
        return None
    h = original_headers(headers)
    if any(name.startswith(_ANTHROPIC) for name in h):
        return _anthropic(h)
    return common.rate_limit_info(h)


def retry_after(headers: Mapping[str, str] | None) -> float | None:
    return common.retry_after(original_headers(headers)) if headers else None
