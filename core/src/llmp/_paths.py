"""Where llmp keeps its files on disk (the response cache, the global concurrency slots).

Shared by `_cache` and `_global_slots` so both agree on one directory per user.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV_VARS", "default_cache_dir"]

# Checked in order. `LLM_CACHE_DIR` is accepted because users of other LLM clients already set it.
CACHE_DIR_ENV_VARS: tuple[str, ...] = ("LLMP_CACHE_DIR", "LLM_CACHE_DIR")


def default_cache_dir() -> Path:
    """`LLMP_CACHE_DIR`, else `LLM_CACHE_DIR`, else `~/.cache/llmp`; created if missing.

    An empty variable counts as unset, so `LLMP_CACHE_DIR= cmd` falls through instead of
    caching into the current directory.
    """
    for name in CACHE_DIR_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            path = Path(value).expanduser()
            break
    else:
        path = Path("~/.cache/llmp").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
