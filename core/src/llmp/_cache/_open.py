"""`open_cache`: what `LLM(cache=...)` and the CLI turn a cache argument into."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from llmp._cache._codec import check_ttl
from llmp._cache._protocol import Cache
from llmp._cache._redis_url import import_redis, is_redis_url, mask_url
from llmp.errors import CacheError

__all__ = ["CACHE_URL_ENV", "FALLBACK_ENV", "open_cache"]

_log = logging.getLogger("llmp.cache")

CACHE_URL_ENV = "LLMP_CACHE_URL"
FALLBACK_ENV = "LLMP_CACHE_FALLBACK"
_TRUE = ("1", "true", "yes", "on")
_CACHE_METHODS = ("get", "set", "aget", "aget_many", "aset", "claim", "close")


def _env_fallback() -> bool:
    return os.environ.get(FALLBACK_ENV, "").strip().lower() in _TRUE


def _redis(url: str, ttl: float | None, fallback: bool, origin: str) -> Cache:
    from llmp._cache._redis import RedisCache

    import_redis()  # a missing package is an error even with a fallback: Redis was asked for
    try:
        return RedisCache(url, ttl=ttl)
    except CacheError as exc:
        if not fallback:
            if origin != "cache":
                raise CacheError(f"{CACHE_URL_ENV}: {exc}") from exc.__cause__
            raise
        _log.warning("llmp cache: %s; using the local SQLite cache instead (%s is set)", exc, FALLBACK_ENV)
    from llmp._cache._shared import shared_cache

    return shared_cache(ttl=ttl)


# "scheme:" of two or more letters: a URL, or a mistyped one ("redis:/host"), never a directory
# (a Windows drive letter has one).
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def _directory(text: str) -> Path:
    if _SCHEME.match(text):
        raise CacheError(
            f"cache={mask_url(text)!r} is not a supported cache URL (only redis://host:6379/0 and "
            "rediss://... are) nor a directory: pass one of those, a directory path, True for the "
            "default cache, or False"
        )
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise CacheError(
            f"cache={text!r} is a file, not a directory: pass the directory to keep llmp-cache.sqlite in, "
            "a redis:// URL, True for the default cache, or False"
        )
    return path


def open_cache(spec: Any = True, *, ttl: float | None = None, fallback: bool | None = None) -> Cache | None:
    """The cache for `spec`, or None for no cache.

    - True: `LLMP_CACHE_URL` if set (a redis:// URL), else the shared SQLite cache in
      `LLMP_CACHE_DIR` (default `~/.cache/llmp`).
    - False or None: no cache.
    - a directory (str or path): the shared SQLite cache there.
    - `"redis://host:6379/0"`, `"rediss://..."`: Redis (needs `pip install "llmp-core[redis]"`).
    - a ready cache object (anything implementing `Cache`): used as it is; `ttl` does not apply.

    `ttl`: default lifetime in seconds of new entries (None: forever). A Redis that cannot be
    reached raises CacheError naming the URL (password masked), unless `fallback` (default:
    `LLMP_CACHE_FALLBACK=1`) asks for a warning and the local SQLite cache instead.
    """
    seconds = check_ttl(ttl)
    use_fallback = _env_fallback() if fallback is None else fallback
    if spec is None or spec is False:
        return None
    if spec is True:
        url = os.environ.get(CACHE_URL_ENV, "").strip()
        if url:
            if not is_redis_url(url):
                raise CacheError(
                    f"{CACHE_URL_ENV}={mask_url(url)!r} is not a Redis URL: use redis://host:6379/0 or "
                    "rediss://..., or unset it for the local SQLite cache"
                )
            return _redis(url, seconds, use_fallback, CACHE_URL_ENV)
        from llmp._cache._shared import shared_cache

        return shared_cache(ttl=seconds)
    if isinstance(spec, str) and is_redis_url(spec.strip()):
        return _redis(spec.strip(), seconds, use_fallback, "cache")
    if isinstance(spec, str | os.PathLike):
        text = os.fspath(spec)
        if isinstance(text, bytes) or not text.strip():
            raise CacheError(
                f"cache={spec!r} is not a directory: pass a directory path, a redis:// URL, True or False"
            )
        from llmp._cache._shared import shared_cache

        return shared_cache(_directory(text), ttl=seconds)
    if all(callable(getattr(spec, name, None)) for name in _CACHE_METHODS):
        return spec  # type: ignore[no-any-return]
    raise CacheError(
        f"cache={spec!r} ({type(spec).__name__}) is not a cache: pass True, False, a directory path, "
        "a redis:// URL, or a cache object (llmp's DiskCache or RedisCache)"
    )
