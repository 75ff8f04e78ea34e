"""The rate-limit signals providers send in headers, as numbers and `RateLimitInfo`.

Most providers follow OpenAI: ``retry-after`` (seconds or an HTTP date), ``retry-after-ms``, and
``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` where a reset is a Go-style duration
(``"1s"``, ``"6m0s"``, ``"20ms"``). Anthropic sends
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`` with
the reset as an RFC 3339 time. Plugins turn headers into typed data here; the core alone decides
what to do with it. Header names are looked up in lower case: pass ``httpx2.Headers`` (case
insensitive) or a mapping with lower-case names.
"""

from __future__ import annotations

import datetime
import email.utils
import math
import re
import time
from collections.abc import Mapping

from llmp.types import RateLimitInfo

__all__ = ["parse_duration", "rate_limit_info", "retry_after"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
_OPENAI = "x-ratelimit-"
_ANTHROPIC = "anthropic-ratelimit-"


def _seconds(value: str) -> float | None:
    try:
        number = float(value)
    except ValueError:
        return None
    # "nan" and "inf" parse as floats; neither is a wait anyone can honour.
    return max(0.0, number) if math.isfinite(number) else None


def parse_duration(value: str | None) -> float | None:
    """``"6m0s"`` -> 360.0, ``"20ms"`` -> 0.02, ``"1.5"`` -> 1.5, ``"7s"`` -> 7.0; None if unparseable."""
    if not value:
        return None
    value = value.strip()
    seconds = _seconds(value)
    if seconds is not None or not value:
        return seconds
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


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


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date).

    None when neither is there or parses (a negative wait is 0; ``nan``/``inf`` are ignored).
    The value is what the provider asked for, uncapped: capping it is the core's decision.
    """
    ms = headers.get("retry-after-ms")
    if ms:
        seconds = _seconds(ms)
        if seconds is not None:
            return seconds / 1000.0
    value = headers.get("retry-after")
    if not value:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, when.timestamp() - time.time())


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except (ValueError, OverflowError):
        return None


def _openai_style(headers: Mapping[str, str], prefix: str) -> RateLimitInfo | None:
    remaining_requests = headers.get(prefix + "remaining-requests")
    remaining_tokens = headers.get(prefix + "remaining-tokens")
    if remaining_requests is None and remaining_tokens is None:
        return None
    return RateLimitInfo(
        limit_requests=_int(headers.get(prefix + "limit-requests")),
        limit_tokens=_int(headers.get(prefix + "limit-tokens")),
        remaining_requests=_int(remaining_requests),
        remaining_tokens=_int(remaining_tokens),
        reset_requests=parse_duration(headers.get(prefix + "reset-requests")),
        reset_tokens=parse_duration(headers.get(prefix + "reset-tokens")),
    )


def _anthropic_style(headers: Mapping[str, str]) -> RateLimitInfo | None:
    # "tokens" is the most restrictive of Anthropic's token limits; older answers only had the
    # input-tokens/output-tokens ones.
    tokens = "tokens" if _ANTHROPIC + "tokens-remaining" in headers else "input-tokens"
    remaining_requests = headers.get(_ANTHROPIC + "requests-remaining")
    remaining_tokens = headers.get(f"{_ANTHROPIC}{tokens}-remaining")
    if remaining_requests is None and remaining_tokens is None:
        return None
    return RateLimitInfo(
        limit_requests=_int(headers.get(_ANTHROPIC + "requests-limit")),
        limit_tokens=_int(headers.get(f"{_ANTHROPIC}{tokens}-limit")),
        remaining_requests=_int(remaining_requests),
        remaining_tokens=_int(remaining_tokens),
        reset_requests=_until(headers.get(_ANTHROPIC + "requests-reset")),
        reset_tokens=_until(headers.get(f"{_ANTHROPIC}{tokens}-reset")),
    )


def rate_limit_info(headers: Mapping[str, str], prefix: str = _OPENAI) -> RateLimitInfo | None:
    """The ``x-ratelimit-*`` (or Anthropic's ``anthropic-ratelimit-*``) headers as `RateLimitInfo`,
    or None if there are none. ``prefix`` names another OpenAI-style family."""
    info = _openai_style(headers, prefix)
    if info is None and prefix == _OPENAI:
        return _anthropic_style(headers)
    return info
