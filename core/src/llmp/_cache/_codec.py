"""What every cache backend stores and how: the key, the JSON text of a value, a TTL.

One encoding for SQLite and Redis, so an entry written by one backend reads the same through the
other: keys are `cache_key(payload)` (hex SHA-256), values are JSON objects as ASCII JSON text,
never pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from llmp.errors import ConfigurationError

__all__ = ["cache_key", "check_ttl", "decode", "encode"]


def cache_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 hex of canonical JSON (sorted keys, no whitespace, unescaped unicode) of payload."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    # surrogatepass: a lone surrogate is a valid Python str and must hash, not raise.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def encode(value: Mapping[str, Any]) -> str:
    """The stored text of a value; a value that is not JSON fails here, at the caller's call."""
    if not isinstance(value, Mapping):
        raise TypeError(f"a cache value must be a JSON object (a dict), not {type(value).__name__}")
    # ASCII-only JSON: a lone surrogate in model output cannot be stored as UTF-8 text and would
    # otherwise fail later on a writer thread or in Redis, far from the caller.
    return json.dumps(value, separators=(",", ":"))


def decode(raw: object) -> dict[str, Any]:
    """A stored value back as a dict: JSON objects stored as text, nothing else, never unpickled."""
    if type(raw) is not str:
        raise ValueError(f"cache value is {type(raw).__name__}, not JSON text; refusing to decode it")
    value = json.loads(raw)
    if type(value) is not dict:
        raise ValueError(f"cache value is a JSON {type(value).__name__}, not an object")
    return value


def check_ttl(ttl: object, name: str = "ttl") -> float | None:
    """ttl as seconds (a positive finite number) or None (never expires); a typed error otherwise."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise ConfigurationError(
            f"{name} must be a positive number of seconds or None (never expires), not {ttl!r}"
        )
    return float(ttl)
