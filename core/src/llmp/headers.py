"""Parsing the rate-limit signals providers send (moved to `llmp.wire`).

Kept importable while the plugins move to `llmp.wire`; new code imports from there.
"""

from __future__ import annotations

from llmp.wire._ratelimit import parse_duration, rate_limit_info, retry_after

__all__ = ["parse_duration", "rate_limit_info", "retry_after"]
