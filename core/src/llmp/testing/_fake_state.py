"""State a fake server keeps for tests to read and change: knobs, faults, records, counters, limits.

Provider-neutral: the OpenAI and Anthropic fakes (in llmp-openai and llmp-litellm) build on
`FakeServerState` with their own knobs and wire; a third-party plugin's fake can too.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llmp.testing._counters import RequestCounter
from llmp.testing._faults import BodyPredicate, Fault, FaultSchedule, Injection
from llmp.testing._ratelimit import RateLimiter
from llmp.testing._wire import ReplyFn

__all__ = ["FakeServerState", "RequestRecord", "TokenCount"]

#: A token count a fake reports: a number, or a function of the request's JSON body.
TokenCount = int | Callable[[Mapping[str, Any]], int]


@dataclass(slots=True)
class RequestRecord:
    """One request as the server saw it. ``status`` is filled in once the response starts."""

    method: str
    path: str
    http_version: str  # from the ASGI scope: "2" or "1.1"
    headers: dict[str, str]  # lower-case names; authorization included so tests can check keys
    body: Any  # parsed JSON, or None if the body was empty or not JSON
    raw_body: bytes
    timestamp: float
    status: int | None = None
    fault: Fault | None = None
    client_port: int | None = None  # the client's source port: one per TCP connection


class FakeServerState:
    """Knobs, fault schedule, rate limits, records and counters of one fake server.

    Tests change and read these from their own thread while the server's event loop serves
    requests; everything shared is behind ``_lock`` or is a single attribute swap.

    The shared knobs (``reply_fn``, ``ttft``, ``token_delay``, ``chunk_count``, ``cached_tokens``)
    and a fake's own (``knobs``: name -> constructor value) can be changed on a running server and
    are restored by :meth:`reset`. ``key_prefix`` starts the made-up :attr:`api_key` used when
    ``api_keys`` is None (auth not enforced).
    """

    def __init__(
        self,
        *,
        reply_fn: ReplyFn,
        models: Iterable[str],
        key_prefix: str,
        ttft: float = 0.0,
        token_delay: float = 0.0,
        chunk_count: int | None = None,
        cached_tokens: TokenCount = 0,
        knobs: Mapping[str, Any] | None = None,
        api_keys: Iterable[str] | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        strict_models: bool = False,
        record: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ):
        keys = tuple(api_keys) if api_keys is not None else None
        self.api_keys: frozenset[str] | None = frozenset(keys) if keys is not None else None
        # A key clients can use: an accepted one, or a made-up one when auth is not enforced.
        self.api_key: str = keys[0] if keys else key_prefix + secrets.token_hex(12)
        self.models = tuple(models)
        self.strict_models = strict_models
        self.record = record
        self._defaults: dict[str, Any] = {
            "reply_fn": reply_fn,
            "ttft": ttft,
            "token_delay": token_delay,
            "chunk_count": chunk_count,
            "cached_tokens": cached_tokens,
            **(knobs or {}),
        }
        self.reply_fn: ReplyFn = reply_fn
        self.ttft = 0.0
        self.token_delay = 0.0
        self.chunk_count: int | None = None
        self.cached_tokens: TokenCount = 0
        self._faults = FaultSchedule()
        self._clock = clock
        self._default_limits = (rpm, tpm)
        self._limiter = RateLimiter(rpm, tpm, clock)
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._counter = RequestCounter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        # Ids are a per-server random prefix plus a counter: unique without per-request entropy.
        self._id_prefix = secrets.token_hex(6)
        self._next_id = 0
        self.reset()

    def reset(self) -> None:
        """Forget records, faults, counters and rate-limit usage; restore constructor knobs."""
        for name, value in self._defaults.items():
            setattr(self, name, value)
        self._faults.clear()
        self._limiter = RateLimiter(*self._default_limits, self._clock)
        with self._lock:
            self._records = []
        self._counter.reset()
        if self._loop is not None:
            # End Slow waits left over from before the reset so they stop holding connections.
            with contextlib.suppress(RuntimeError):  # the server's loop is already closed
                self._loop.call_soon_threadsafe(self._wake_sleepers)

    def set_rate_limits(
        self, rpm: int | None = None, tpm: int | None = None, *, period: float = 60.0
    ) -> None:
        """Enforce new budgets from now on, starting full; `period` is the seconds over which a
        budget refills completely (60 for per-minute limits; shrink it to test pacing in seconds,
        the reset headers stay truthful). `reset()` restores the constructor's limits."""
        self._limiter = RateLimiter(rpm, tpm, self._clock, period)

    def _wake_sleepers(self) -> None:
        if self._wake is not None:
            self._wake.set()
            self._wake = None

    def inject(self, fault: Fault, *, times: int | None = 1, when: BodyPredicate | None = None) -> Injection:
        """Make the next ``times`` API requests (``None``: all) whose JSON body
        satisfies ``when`` (default: any) fail with ``fault``. Earlier injections match first."""
        return self._faults.add(fault, times=times, when=when)

    def cancel(self, injection: Injection) -> None:
        self._faults.cancel(injection)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Injection]:
        return self._faults.pending

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the recorded requests, oldest first (empty when ``record=False``)."""
        with self._lock:
            return list(self._records)

    @property
    def request_count(self) -> int:
        return self._counter.count

    @property
    def in_flight(self) -> int:
        """API requests being handled now (including any begun before the last reset)."""
        return self._counter.in_flight

    @property
    def max_in_flight(self) -> int:
        """Peak number of API requests, begun since the last reset, being handled at once."""
        return self._counter.max_in_flight

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until no API request is being handled (e.g. after clients gave up on them).

        Returns False on timeout. From async code: ``await asyncio.to_thread(server.wait_idle)``.
        """
        return self._counter.wait_idle(timeout)

    def stats(self) -> dict[str, int]:
        return self._counter.stats()

    # ----- bookkeeping for the request handler (server thread) -----

    def _begin(self, record: RequestRecord) -> int:
        """Count a request in; returns the generation to hand back to :meth:`_end`."""
        if self.record:
            with self._lock:
                self._records.append(record)
        return self._counter.begin()

    def _end(self, generation: int) -> None:
        self._counter.end(generation)

    def _wake_event(self) -> asyncio.Event:
        """The event that the next reset() sets (created on the server's loop)."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        if self._wake is None:
            self._wake = asyncio.Event()
        return self._wake
