"""API keys: where they come from, and rotation across several.

``{PREFIX}_KEYS=k1,k2,...`` gives a pool that is used round-robin; otherwise
``{PREFIX}_API_KEY`` gives one key. A key that gets a 429 steps aside until its cool-down ends;
a key that gets a 401/403 steps aside for good (while another key remains). Pools are shared by
every `LLM` in the process, so one instance's 401 spares the others the same failure.

Keys are secrets: the pool's repr shows only fingerprints, nothing here logs a key, and every
key read or given is registered with `llmp._secrets`, which scrubs it from errors and logs.
"""

from __future__ import annotations

import os
import threading
import time

from llmp._secrets import fingerprint, register
from llmp.errors import AuthenticationError, MissingAPIKeyError

__all__ = ["KeyPool", "fingerprint", "key_pool"]


def env_names(prefix: str) -> tuple[str, str]:
    return f"{prefix}_API_KEY", f"{prefix}_KEYS"


class KeyPool:
    __slots__ = ("_cooldown_until", "_dead", "_i", "_lock", "keys", "provider")

    def __init__(self, provider: str, keys: list[str]) -> None:
        for key in keys:
            register(key)
        self.provider = provider
        self.keys = keys
        self._i = 0
        self._dead: set[str] = set()
        self._cooldown_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KeyPool({self.provider!r}, keys={[fingerprint(k) for k in self.keys]})"

    def __len__(self) -> int:
        return len(self.keys)

    def pick(self) -> str:
        """Next usable key, round-robin; a cooling key is used only if all are cooling."""
        keys = self.keys
        if len(keys) == 1:
            return keys[0]
        with self._lock:
            now = time.monotonic()
            live = [k for k in keys if k not in self._dead]
            if not live:
                raise AuthenticationError(
                    f"every key in the pool for {self.provider!r} was rejected", provider=self.provider
                )
            for _ in range(len(live)):
                key = live[self._i % len(live)]
                self._i += 1
                if self._cooldown_until.get(key, 0.0) <= now:
                    return key
            # All cooling: the one that frees up first.
            return min(live, key=lambda k: self._cooldown_until.get(k, 0.0))

    def rate_limited(self, key: str, retry_after: float | None) -> None:
        if len(self.keys) > 1:
            with self._lock:
                self._cooldown_until[key] = time.monotonic() + (retry_after or 1.0)

    def other_available(self, key: str) -> bool:
        """Whether a key other than `key` is usable right now (not retired, not cooling)."""
        now = time.monotonic()
        return any(
            k != key and k not in self._dead and self._cooldown_until.get(k, 0.0) <= now for k in self.keys
        )

    def rejected(self, key: str) -> bool:
        """Retire a key that got 401/403. True if another key remains to try."""
        with self._lock:
            self._dead.add(key)
            return any(k not in self._dead for k in self.keys)


_pools: dict[tuple[str, tuple[str, ...]], KeyPool] = {}
_pools_lock = threading.Lock()


def _from_env(prefix: str) -> list[str]:
    single, multi = env_names(prefix)
    listed = [k.strip() for k in os.environ.get(multi, "").split(",") if k.strip()]
    if listed:
        return listed
    one = os.environ.get(single, "").strip()
    return [one] if one else []


def key_pool(provider: str, key_env: str | None, explicit: str | None = None) -> KeyPool | None:
    """The shared pool for a provider, or None if the provider needs no key.

    Raises MissingAPIKeyError naming the environment variables to set.
    """
    if explicit:
        register(explicit)
        keys = [explicit]
    elif key_env is None:
        return None
    else:
        keys = _from_env(key_env)
        for key in keys:
            register(key)  # before anything can fail with it in a message
        if not keys:
            raise MissingAPIKeyError(provider, env_names(key_env))
    ident = (provider, tuple(keys))
    pool = _pools.get(ident)
    if pool is None:
        with _pools_lock:
            pool = _pools.setdefault(ident, KeyPool(provider, keys))
    return pool
