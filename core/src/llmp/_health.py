"""A deployment's health: a circuit breaker.

Closed (healthy): requests go through. `threshold` consecutive outage-like failures (connection
errors, 5xx, timeouts, a rejected key) open the circuit for a cool-down that doubles on each
reopening, up to `cap` (failures of requests that were in flight when it opened change
nothing: the outage is known). When the cool-down has passed the circuit is half open: exactly one
probe request goes through; its success closes the circuit, its failure opens it again, for
longer. A 429 asking for a long wait steps the deployment aside for exactly that long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

__all__ = ["Health", "HealthState"]

HealthState = Literal["healthy", "open", "half_open"]


class Health:
    __slots__ = (
        "_clock",
        "_lock",
        "asides",
        "base",
        "cap",
        "cooldown",
        "failures",
        "limited",
        "open_until",
        "probing",
        "state",
        "threshold",
    )

    def __init__(
        self,
        *,
        threshold: int = 3,
        base: float = 5.0,
        cap: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.base, self.cap = threshold, base, cap
        self.cooldown = base
        self.failures = 0
        self.state: HealthState = "healthy"
        self.open_until = 0.0
        self.probing = False
        #: Whether it is open because a 429 asked it to wait (else: an outage).
        self.limited = False
        #: How many times it has stepped aside (a request that waited for a slot meanwhile goes
        #: elsewhere rather than into the same 429).
        self.asides = 0
        self._clock = clock
        self._lock = threading.Lock()

    def usable(self) -> bool:
        """Whether a request may go here now (a half-open circuit takes one probe at a time)."""
        with self._lock:
            if self.state == "open" and self._clock() >= self.open_until:
                self.state = "half_open"
            return self.state == "healthy" or (self.state == "half_open" and not self.probing)

    def begin(self) -> None:
        """A request is routed here (the probe, if the circuit is half open)."""
        with self._lock:
            if self.state == "half_open":
                self.probing = True

    def ok(self) -> None:
        with self._lock:
            self.failures = 0
            self.cooldown = self.base
            self.state = "healthy"
            self.probing = False
            self.limited = False

    def failed(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == "open" and self._clock() < self.open_until:
                return  # a request sent before it opened: the outage is known, its cool-down set
            if self.state != "healthy" or self.failures >= self.threshold:
                self._open(self.cooldown)
                self.limited = False
                self.cooldown = min(self.cooldown * 2, self.cap)

    def step_aside(self, seconds: float) -> None:
        with self._lock:
            self._open(seconds)
            self.limited = True
            self.asides += 1

    def _open(self, seconds: float) -> None:
        self.state = "open"
        self.open_until = max(self.open_until, self._clock() + seconds)
        self.probing = False

    @property
    def is_open(self) -> bool:
        return self.state == "open" and self._clock() < self.open_until

    def recovers_in(self) -> float:
        return max(0.0, self.open_until - self._clock()) if self.state == "open" else 0.0

    def limited_for(self) -> float:
        """Seconds it still steps aside for a rate limit (0: it does not)."""
        return self.recovers_in() if self.limited else 0.0
