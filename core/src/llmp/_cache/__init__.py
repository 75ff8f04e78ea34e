"""Response caches: SQLite on one machine (`DiskCache`), Redis across machines (`RedisCache`).

Both implement `Cache` (`_protocol`), store the same keys (`cache_key`) and the same JSON
values, and take a TTL per entry. `open_cache(spec)` turns `LLM(cache=...)` into one. The Redis
backend (and redis-py) is imported only when a Redis URL is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmp._cache._codec import cache_key
from llmp._cache._open import CACHE_URL_ENV, FALLBACK_ENV, open_cache
from llmp._cache._protocol import DEFAULT_LEASE, Cache, CacheStats, Claim
from llmp._cache._shared import shared_cache
from llmp._cache._sqlite import FILENAME, TABLE, DiskCache
from llmp._paths import default_cache_dir

if TYPE_CHECKING:
    from llmp._cache._redis import RedisCache

__all__ = [
    "CACHE_URL_ENV",
    "DEFAULT_LEASE",
    "FALLBACK_ENV",
    "FILENAME",
    "TABLE",
    "Cache",
    "CacheStats",
    "Claim",
    "DiskCache",
    "RedisCache",
    "cache_key",
    "default_cache_dir",
    "open_cache",
    "shared_cache",
]


def __getattr__(name: str) -> Any:
    if name == "RedisCache":
        from llmp._cache._redis import RedisCache

        return RedisCache
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
