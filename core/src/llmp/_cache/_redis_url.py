"""Redis URLs: which strings are ones, how to show one without its password, importing redis-py."""

from __future__ import annotations

import importlib
from types import ModuleType
from urllib.parse import urlsplit, urlunsplit

from llmp.errors import CacheError

__all__ = ["REDIS_SCHEMES", "import_redis", "is_redis_url", "mask_url"]

REDIS_SCHEMES = ("redis", "rediss")


def is_redis_url(text: str) -> bool:
    return text.split("://", 1)[0].lower() in REDIS_SCHEMES and "://" in text


def mask_url(url: str) -> str:
    """url with any password replaced by `***` (for messages, reprs, stats)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<malformed URL>"
    if not password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def import_redis() -> tuple[ModuleType, ModuleType]:
    """(redis, redis.asyncio), or a CacheError saying what to install."""
    try:
        return importlib.import_module("redis"), importlib.import_module("redis.asyncio")
    except ImportError as exc:
        raise CacheError('the Redis cache needs the redis package: pip install "llmp-core[redis]"') from exc
