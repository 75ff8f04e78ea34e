"""Whether a Redis-backed limit is working or standing in locally, and the warnings about it.

Shared by the cluster-wide slots and the shared token buckets: the first failure of an outage
warns once and switches to the local stand-in; Redis is tried again every `probe_every` seconds;
the first success after that says so and switches back. For the slots it also keeps the epoch
Redis reported (a new one means Redis lost its memory: the holders must register again).
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["RedisHealth"]

_log = logging.getLogger("llmp.limits")


class RedisHealth:
    """`degraded` while Redis is away; `failed(exc)` and `answered(...)` move between the two."""

    def __init__(self, masked_url: str, *, fallback: str, back: str, probe_every: float) -> None:
        self.masked_url = masked_url
        self._fallback = fallback  # "<the limit> falls back to <the stand-in>"
        self._back = back  # "<the limit> is back"
        self.probe_every = probe_every
        self.degraded = False
        self.epoch = ""  # the epoch Redis last reported ("" before the first answer)
        self.probe_at = 0.0
        self._quiet_until = 0.0  # no "expired before renewal" warning before this
        self._lock = threading.Lock()

    def probe_due(self) -> bool:
        return time.monotonic() >= self.probe_at

    def failed(self, exc: BaseException) -> None:
        """Redis failed a call: stand in locally (warning once per outage), try again later."""
        with self._lock:
            self.probe_at = time.monotonic() + self.probe_every
            if self.degraded:
                return
            self.degraded = True
        _log.warning(
            "llmp: Redis at %s failed (%s: %s); %s until Redis answers again",
            self.masked_url,
            type(exc).__name__,
            exc,
            self._fallback,
        )

    def answered(self, epoch: str = "", lost: int = 0, *, lease: float = 0.0) -> bool:
        """Redis answered (reporting `epoch`, and `lost` leases it had to add back). True when the
        holders must register everything again: Redis is back after an outage, or it lost its
        memory since the last answer."""
        with self._lock:
            recovered, self.degraded = self.degraded, False
            renewed_epoch = bool(epoch) and epoch != self.epoch
            restarted = renewed_epoch and bool(self.epoch)
            if renewed_epoch:
                self.epoch = epoch
            if recovered or restarted:
                self._quiet_until = time.monotonic() + 2 * lease  # re-added leases are expected now
            quiet = time.monotonic() < self._quiet_until
        if recovered:
            _log.warning("llmp: Redis at %s answers again; %s", self.masked_url, self._back)
        if restarted:
            _log.warning(
                "llmp: Redis at %s lost the slot leases (restarted or flushed); the leases held here "
                "are registered again",
                self.masked_url,
            )
        elif lost and not quiet:
            _log.warning(
                "llmp: %d slot lease(s) expired before renewal (this process stalled for more than "
                "%.1f s); registered again",
                lost,
                lease,
            )
        return recovered or restarted
