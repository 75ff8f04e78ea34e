"""The cap on requests in flight beyond one process: `LLMP_GLOBAL_CONCURRENCY=N`.

The N slots are machine-wide (`MachineSlots`: file locks in one fixed directory per user,
whatever cache directory each process uses). The interface, `GlobalSlots`:
`slot = await slots.acquire()` ... `slot.release()`.

Environment, read on every call of `global_slots_from_env()` (calls with the same settings share
one instance):

- `LLMP_GLOBAL_CONCURRENCY` (or `LLM_GLOBAL_CONCURRENCY`): N; unset or empty means no cap.
- `LLMP_GLOBAL_SLOTS_DIR`: the machine-wide slot directory (default `/tmp/llmp-<uid>/slots`).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol

from llmp._machine_slots import MachineSlot, MachineSlots
from llmp._paths import SLOTS_DIR_ENV_VAR, default_slots_dir
from llmp.errors import ConfigurationError

__all__ = [
    "CONCURRENCY_ENV_VARS",
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


def global_slots(limit: int | None = None, *, directory: str | Path | None = None) -> GlobalSlots | None:
    """The slots for `limit` (default: `LLMP_GLOBAL_CONCURRENCY`), or None when there is no cap.

    `directory` (default `LLMP_GLOBAL_SLOTS_DIR`, else `/tmp/llmp-<uid>/slots`) holds them.
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
    where = Path(directory).expanduser() if directory is not None else default_slots_dir()
    key = ("machine", where.resolve(), limit)
    with _SHARED_LOCK:
        slots = _SHARED.get(key)
        if slots is None:
            slots = _SHARED[key] = MachineSlots(limit, key[1])
        return slots


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
            f"on this machine), got {raw!r}"
        )
    return limit


def _after_fork_in_child() -> None:
    global _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
