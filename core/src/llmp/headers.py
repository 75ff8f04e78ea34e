"""Parsing the rate-limit signals providers send, for plugin authors.

Most providers follow OpenAI's conventions: ``retry-after`` (seconds or an HTTP date),
``retry-after-ms``, and ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}`` where reset is a
Go-style duration (``"1s"``, ``"6m0s"``, ``"20ms"``). Plugins turn headers into typed data with
these helpers; the core alone decides what to do with it.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping

from llmp.types import RateLimitInfo

__all__ = ["parse_duration", "rate_limit_info", "retry_after"]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: str | None) -> float | None:
    """``"6m0s"`` -> 360.0, ``"20ms"`` -> 0.02, ``"1.5"`` -> 1.5; None if unparseable."""
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def rate_limit_info(headers: Mapping[str, str], prefix: str = "x-ratelimit-") -> RateLimitInfo | None:
    """The ``x-ratelimit-*`` headers as `RateLimitInfo`, or None if there are none."""
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
