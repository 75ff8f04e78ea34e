"""The cap on requests in flight beyond one process: `LLMP_GLOBAL_CONCURRENCY=N`.

By default the N slots are machine-wide (`MachineSlots`: file locks in one fixed directory per
user, whatever cache directory each process uses). With `LLMP_REDIS_URL=redis://...` (or
`redis_url=`) they are cluster-wide (`ClusterSlots`: leases in Redis that expire when a worker
dies, falling back to the machine-wide slots while Redis is away). Both have one interface,
`GlobalSlots`: `slot = await slots.acquire()` ... `slot.release()`.

Environment, read on every call of `global_slots_from_env()` (calls with the same settings share
one instance):

- `LLMP_GLOBAL_CONCURRENCY` (or `LLM_GLOBAL_CONCURRENCY`): N; unset or empty means no cap.
- `LLMP_REDIS_URL`: makes the cap cluster-wide.
- `LLMP_GLOBAL_LEASE`: seconds a cluster-wide slot outlives a dead holder (default 10).
- `LLMP_GLOBAL_SLOTS_DIR`: the machine-wide slot directory (default `/tmp/llmp-<uid>/slots`).
"""

from __future__ import annotations

import math
import os
import threading
from pathlib import Path
from typing import Protocol

from llmp._machine_slots import MachineSlot, MachineSlots
from llmp._paths import SLOTS_DIR_ENV_VAR, default_slots_dir
from llmp._redis_link import REDIS_URL_ENV_VAR
from llmp.errors import ConfigurationError

__all__ = [
    "CONCURRENCY_ENV_VARS",
    "LEASE_ENV_VAR",
    "REDIS_URL_ENV_VAR",
    "SLOTS_DIR_ENV_VAR",
    "GlobalSlots",
    "MachineSlot",
    "MachineSlots",
    "Slot",
    "global_slots",
    "global_slots_from_env",
]

# Checked in order; `LLM_GLOBAL_CONCURRENCY` is accepted for users of other LLM clients.
CONCURRENCY_ENV_VARS: tuple[str, ...] = ("LLMP_GLOBAL_CONCURRENCY", "LLM_GLOBAL_CONCURRENCY")
LEASE_ENV_VAR = "LLMP_GLOBAL_LEASE"


class Slot(Protocol):
    """A held slot; `release()` gives it back (idempotent, synchronous, never raises)."""

    def release(self) -> None: ...


class GlobalSlots(Protocol):
    """`limit` slots shared beyond this process. Waiting for one holds nothing."""

    @property
    def limit(self) -> int: ...

    @property
    def held(self) -> int:
        """Slots this instance holds now."""
        ...

    async def acquire(self) -> Slot:
        """Wait (without blocking the loop) until a slot is free, and take it."""
        ...


_SHARED: dict[tuple[object, ...], GlobalSlots] = {}
_SHARED_LOCK = threading.Lock()


def global_slots(
    limit: int | None = None,
    *,
    redis_url: str | None = None,
    lease: float | None = None,
    directory: str | Path | None = None,
    name: str = "global",
) -> GlobalSlots | None:
    """The slots for `limit` (default: `LLMP_GLOBAL_CONCURRENCY`), or None when there is no cap.

    `redis_url` (default: `LLMP_REDIS_URL`; `""` for machine-wide even if that is set) makes them
    cluster-wide: Redis is checked here, and an unreachable or malformed URL raises
    `ConfigurationError` naming it (password masked). `lease` (default `LLMP_GLOBAL_LEASE`, else
    10 s) bounds how long a dead worker's slots stay taken. `directory` (default
    `LLMP_GLOBAL_SLOTS_DIR`, else `/tmp/llmp-<uid>/slots`) holds the machine-wide slots, also the
    fallback while Redis is away. `name` keeps separate cluster-wide caps apart on one Redis.
    Calls with the same settings return the same instance.
    """
    if limit is None:
        limit = _limit_from_env()
        if limit is None:
            return None
    elif isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigurationError(
            f"global_slots limit must be a positive integer (requests in flight), got {limit!r}"
        )
    source = "redis_url"
    if redis_url is None:
        redis_url = os.environ.get(REDIS_URL_ENV_VAR, "").strip()
        source = REDIS_URL_ENV_VAR
    where = Path(directory).expanduser() if directory is not None else default_slots_dir()
    machine_key = ("machine", where.resolve(), limit)
    with _SHARED_LOCK:
        machine = _SHARED.get(machine_key)
        if machine is None:
            machine = _SHARED[machine_key] = MachineSlots(limit, machine_key[1])
    if not redis_url:
        return machine
    assert isinstance(machine, MachineSlots)
    seconds = _lease_from_env() if lease is None else _check_lease(lease, "lease")
    cluster_key = ("cluster", redis_url, name, limit, seconds, machine_key[1])
    with _SHARED_LOCK:
        found = _SHARED.get(cluster_key)
    if found is not None:
        return found
    from llmp._redis_link import redis_link  # redis-py is imported only when a URL is set
    from llmp._redis_slots import ClusterSlots

    link = redis_link(redis_url, source=source)
    cluster = ClusterSlots(link, limit, fallback=machine, name=name, lease=seconds)
    with _SHARED_LOCK:
        return _SHARED.setdefault(cluster_key, cluster)


def global_slots_from_env() -> GlobalSlots | None:
    """`global_slots()` configured entirely from the environment (see the module docstring)."""
    return global_slots()


def _limit_from_env() -> int | None:
    for name in CONCURRENCY_ENV_VARS:
        raw = os.environ.get(name, "").strip()
        if raw:
            break
    else:
        return None
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if limit < 1:
        raise ConfigurationError(
            f"{name} must be a positive integer (requests allowed in flight across all processes "
            f"on this machine, or the cluster with {REDIS_URL_ENV_VAR}), got {raw!r}"
        )
    return limit


def _lease_from_env() -> float:
    from llmp._redis_slots import DEFAULT_LEASE

    raw = os.environ.get(LEASE_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_LEASE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    return _check_lease(value, LEASE_ENV_VAR, raw)


def _check_lease(value: float, name: str, raw: object = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not (0.5 <= value < math.inf):
        shown = raw if raw is not None else value
        raise ConfigurationError(
            f"{name} must be a number of seconds of at least 0.5 (how long a dead worker's "
            f"cluster-wide slots stay taken), got {shown!r}"
        )
    return float(value)


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
