"""One `DiskCache` per directory (and default TTL) per process, flushed at exit and after fork."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from pathlib import Path

from llmp._cache._codec import check_ttl
from llmp._cache._sqlite import LIVE, DiskCache
from llmp._paths import default_cache_dir
from llmp.errors import CacheError

__all__ = ["close_all", "close_at_multiprocessing_exit", "shared_cache"]

_log = logging.getLogger("llmp.cache")
_SHARED: dict[tuple[Path, float | None], DiskCache] = {}
_SHARED_LOCK = threading.Lock()
_MP_EXIT_HOOKED_PID: int | None = None


def shared_cache(directory: Path | str | None = None, *, ttl: float | None = None) -> DiskCache:
    """The process-wide DiskCache for a directory (default: `default_cache_dir()`) and default TTL."""
    seconds = check_ttl(ttl)
    base = default_cache_dir() if directory is None else Path(directory).expanduser()
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CacheError(
            f"cannot use {str(base)!r} as the cache directory ({exc}): pass cache=<a writable directory> "
            "(or set LLMP_CACHE_DIR), or cache=False"
        ) from exc
    resolved = base.resolve()
    with _SHARED_LOCK:
        cache = _SHARED.get((resolved, seconds))
        if cache is None or cache.closed:
            cache = _SHARED[(resolved, seconds)] = DiskCache(resolved, ttl=seconds)
        return cache


def close_all() -> None:
    # At exit the worker is a daemon thread about to be killed: drain its queue first.
    for cache in list(LIVE):
        try:
            cache.close()
        except Exception:
            _log.exception("llmp cache %s: could not flush at exit", cache.path)


def close_at_multiprocessing_exit() -> None:
    # A forked multiprocessing worker leaves through os._exit, skipping atexit; its own exit
    # hook (multiprocessing.util finalizers) still runs, so flush there.
    global _MP_EXIT_HOOKED_PID
    if "multiprocessing" not in sys.modules or os.getpid() == _MP_EXIT_HOOKED_PID:
        return
    import multiprocessing.util

    multiprocessing.util.Finalize(None, close_all, exitpriority=10)
    _MP_EXIT_HOOKED_PID = os.getpid()


def _before_fork() -> None:
    for cache in list(LIVE):
        cache.quiesce_before_fork()


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    for cache in list(LIVE):
        cache.forget_after_fork()


atexit.register(close_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
