"""Serve any fake ASGI app with the control endpoints and counters a spawned fake needs.

`SpawnedServer` (`llmp.testing._server`) reads a child's counters at ``GET /_fake/stats`` and
resets it with ``POST /_fake/reset``. A fake that has no such endpoints of its own (the Gemini and
Anthropic fakes, a third-party plugin's) is served behind `ControlledApp`, which adds them, by
`ControlledServer`: what a fake factory for ``python -m llmp.testing.serve`` returns.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Protocol

from llmp.testing._served import BackgroundServed
from llmp.testing._server import CONTROL_PREFIX, BackgroundServer, Receive, Scope, Send, ServerOptions

__all__ = ["ControlledApp", "ControlledServer", "ResettableApp"]


class ResettableApp(Protocol):
    """A fake's ASGI app: answers requests, has a key clients can use, and resets its state."""

    api_key: str

    def reset(self) -> None: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class ControlledApp:
    """ASGI wrapper giving a fake the control endpoints and counters FakeOpenAIServer has built in.

    Runs on the server's one event loop thread, so the counters need no lock. Requests begun
    before a reset still finish later; counting per generation keeps them out of the new peak.
    ``delay(path)`` is seconds to wait before the fake sees a request (0: none).
    """

    def __init__(self, app: ResettableApp, *, delay: Callable[[str], float] | None = None) -> None:
        self.app = app
        self.delay = delay
        self._generation = 0
        self._request_count = 0
        self._in_flight = 0  # every request being handled
        self._in_flight_now = 0  # those begun since the last reset
        self._max_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if path.startswith(CONTROL_PREFIX):
            await self._control(scope["method"], path[len(CONTROL_PREFIX) :], send)
            return
        generation = self._generation
        self._request_count += 1
        self._in_flight += 1
        self._in_flight_now += 1
        self._max_in_flight = max(self._max_in_flight, self._in_flight_now)
        try:
            wait = self.delay(path) if self.delay is not None else 0.0
            if wait > 0:
                await asyncio.sleep(wait)
            await self.app(scope, receive, send)
        finally:
            self._in_flight -= 1
            if generation == self._generation:
                self._in_flight_now -= 1

    async def _control(self, method: str, name: str, send: Send) -> None:
        status, body = 200, b"{}"
        if method == "GET" and name == "stats":
            stats = {
                "request_count": self._request_count,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }
            body = json.dumps(stats).encode()
        elif method == "POST" and name == "reset":
            self.app.reset()
            self._generation += 1
            self._request_count = self._in_flight_now = self._max_in_flight = 0
        else:
            status, body = 404, b'{"error": "unknown control endpoint"}'
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class ControlledServer(BackgroundServed):
    """``app`` behind `ControlledApp`, served over TLS on loopback; a context manager.

    The fake's own in-process server (if it has one) is not started: this one serves it. Its
    :attr:`base_url` is the origin, or the origin plus ``base_path`` (``"/v1"``).
    """

    def __init__(
        self,
        app: ResettableApp,
        *,
        options: ServerOptions | None = None,
        base_path: str = "",
        delay: Callable[[str], float] | None = None,
    ) -> None:
        self.app = app
        self.base_path = base_path
        self._server = BackgroundServer(ControlledApp(app, delay=delay), options=options)

    @property
    def api_key(self) -> str:
        return self.app.api_key
