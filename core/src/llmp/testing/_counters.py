"""Request counters every fake server keeps: requests seen, in flight now, and the peak.

Thread-safe (tests read them from their own thread while the server's loop thread counts).
Requests from before the last `reset` (say, a timed-out slow one a test left behind) still
finish later; counting per generation keeps them out of the next test's peak.
"""

from __future__ import annotations

import threading


class RequestCounter:
    __slots__ = ("_generation", "_idle", "_in_flight", "_in_flight_now", "_lock", "_max_in_flight", "count")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self.count = 0
        self._in_flight = 0
        self._generation = 0
        self._in_flight_now = 0
        self._max_in_flight = 0

    def begin(self) -> int:
        """Count a request in; returns the generation to hand back to `end`."""
        with self._lock:
            self.count += 1
            self._in_flight += 1
            self._in_flight_now += 1
            if self._in_flight_now > self._max_in_flight:
                self._max_in_flight = self._in_flight_now
            return self._generation

    def end(self, generation: int) -> None:
        with self._lock:
            self._in_flight -= 1
            if generation == self._generation:
                self._in_flight_now -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def reset(self) -> None:
        """Start a new generation: count and peak from zero; requests still running are not in it."""
        with self._lock:
            self.count = 0
            self._generation += 1
            self._in_flight_now = 0
            self._max_in_flight = 0

    @property
    def in_flight(self) -> int:
        """Requests being handled now (including any begun before the last reset)."""
        return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak number of requests, begun since the last reset, being handled at once."""
        return self._max_in_flight

    def wait_idle(self, timeout: float) -> bool:
        """Block until no request is being handled; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def stats(self) -> dict[str, int]:
        return {
            "request_count": self.count,
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
        }
