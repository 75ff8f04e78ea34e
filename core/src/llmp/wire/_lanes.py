"""Connection lanes: several httpx2 clients for one origin, so concurrency is not capped by one
HTTP/2 connection, and a connection httpcore2 leaves dead does not stall every later request.

HTTP/2. httpcore2 2.16.2 multiplexes at most 100 streams on one connection (its local
SETTINGS_MAX_CONCURRENT_STREAMS) and never opens a second connection to an origin whose first one
is busy: request 101 waits. So a lane is one client (in practice one connection), and another
lane opens when every lane carries `streams_per_connection` requests, up to `max_connections`.
Low concurrency shares one connection; c=512 gets six.

HTTP/1.1 (an ``http://`` URL, ``http2=False``, or a server that does not negotiate h2): one
request per connection, so one lane whose pool holds as many connections as the concurrency asked
for (never a handful: issue 14 item 7).

Dead connections. When an HTTP/2 connection fails under a request (a read error or timeout, a
GOAWAY followed by more frames, a session dropped before it answered), httpcore2 2.16.2 marks it
unusable but leaves it in its pool as idle, where it still counts against ``max_connections``
and is never closed or replaced until its keep-alive expires, and even then only when another
request comes along: after a few such failures, requests to a healthy server wait out the pool
timeout (docs/upstream/httpcore2-goaway.md has the root cause and the fix). So a lane whose
request failed at the transport level is retired: it takes no new requests, is closed as soon as
its last request ends, and the next request opens a fresh lane.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from llmp.errors import ConfigurationError
from llmp.wire._hpack import never_index_credentials
from llmp.wire._transport import is_transport_failure

if TYPE_CHECKING:
    import httpx2

__all__ = ["Lanes"]

# httpcore2's cap on concurrent streams per HTTP/2 connection.
HTTPCORE_STREAMS = 100
# Connections an HTTP/2 lane may hold besides its own, for when httpcore2 replaces one itself.
_SPARE_CONNECTIONS = 4
_log = logging.getLogger("llmp.wire")


class _Lane:
    """One httpx2 client and the requests in flight on it."""

    __slots__ = ("http", "in_flight", "retired")

    def __init__(self, http: httpx2.AsyncClient) -> None:
        self.http = http
        self.in_flight = 0
        self.retired = False


class Lanes:
    """httpx2 clients for one origin, opened as concurrency needs them.

    ``base_url`` is the origin (and path) requests go to: ``https://`` uses HTTP/2 when
    ``http2`` is True and the server agrees, ``http://`` always HTTP/1.1. ``max_concurrency`` is
    the most requests the caller will have in flight (the HTTP/1.1 pool size).
    ``streams_per_connection`` (at most httpcore2's 100) and ``max_connections`` shape the
    HTTP/2 lanes. Everything else (``timeout``, ``verify``, ``headers``, ...) is passed to every
    ``httpx2.AsyncClient`` as it is built.

    ```python
    lanes = Lanes("https://api.example.com/v1", timeout=httpx2.Timeout(600, connect=15))
    response = await lanes.send(httpx2.Request("POST", url, json=body))  # body read
    response = await lanes.send(request, stream=True)
    try:
        async for data in response.aiter_raw():
            ...
    finally:
        await response.aclose()  # the lane counts this request until then
    await lanes.aclose()
    ```
    """

    def __init__(
        self,
        base_url: str,
        *,
        http2: bool = True,
        max_concurrency: int = 1024,
        streams_per_connection: int = HTTPCORE_STREAMS,
        max_connections: int = 16,
        **client_options: Any,
    ) -> None:
        if not isinstance(max_concurrency, int) or max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be a positive int, not {max_concurrency!r}")
        if not isinstance(streams_per_connection, int) or not 1 <= streams_per_connection <= HTTPCORE_STREAMS:
            raise ConfigurationError(
                f"streams_per_connection must be an int from 1 to {HTTPCORE_STREAMS} (httpcore2 queues "
                f"requests past {HTTPCORE_STREAMS} on one connection), not {streams_per_connection!r}"
            )
        if not isinstance(max_connections, int) or max_connections < 1:
            raise ConfigurationError(f"max_connections must be a positive int, not {max_connections!r}")
        clash = sorted({"http1", "http2", "limits", "transport", "mounts"} & client_options.keys())
        if clash:
            raise ConfigurationError(
                f"Lanes sets {', '.join(clash)} itself: pass http2=, max_concurrency= and "
                "max_connections= instead"
            )
        self.base_url = base_url
        self._h2 = http2 and base_url.lower().startswith("https://")
        if self._h2:
            never_index_credentials()
        #: ``"HTTP/2"`` or ``"HTTP/1.1"``: what the server negotiated (None before the first reply).
        self.http_version: str | None = None if self._h2 else "HTTP/1.1"
        self._max_concurrency = max_concurrency
        self._per_connection = streams_per_connection
        self._max_connections = max_connections
        self._options = client_options
        self._lanes: list[_Lane] = []
        self._retired: list[_Lane] = []
        self._closed = False

    def __repr__(self) -> str:
        return (
            f"Lanes({self.base_url!r}, http_version={self.http_version!r}, connections={self.connections}, "
            f"in_flight={self.in_flight})"
        )

    @property
    def connections(self) -> int:
        """Lanes open now (each one HTTP/2 connection, or one HTTP/1.1 pool), draining ones included."""
        return len(self._lanes) + len(self._retired)

    @property
    def in_flight(self) -> int:
        """Requests sent and not finished: a streamed response counts until it is closed."""
        return sum(lane.in_flight for lane in self._lanes) + sum(lane.in_flight for lane in self._retired)

    def _multiplexing(self) -> bool:
        return self._h2 and self.http_version != "HTTP/1.1"

    def _open(self) -> _Lane:
        import httpx2

        # HTTP/2 never opens more than one connection while that one works, so a large limit
        # costs nothing there; it is what lets the lane serve a server that picked HTTP/1.1.
        limit = max(self._max_concurrency, _SPARE_CONNECTIONS)
        http = httpx2.AsyncClient(
            http2=self._h2,
            limits=httpx2.Limits(max_connections=limit, max_keepalive_connections=limit),
            **self._options,
        )
        lane = _Lane(http)
        self._lanes.append(lane)
        return lane

    def _pick(self) -> _Lane:
        lanes = self._lanes
        if not lanes:
            return self._open()
        best = lanes[0] if len(lanes) == 1 else min(lanes, key=_in_flight)
        if (
            best.in_flight >= self._per_connection
            and self._multiplexing()
            and len(lanes) < self._max_connections
        ):
            best = self._open()
        return best

    def build_request(self, method: str, url: str | httpx2.URL, **kwargs: Any) -> httpx2.Request:
        """A request as the lanes' clients build one (``httpx2.AsyncClient.build_request``'s
        arguments): their default headers (``Accept``, ``Accept-Encoding``, ``Connection``,
        ``User-Agent``, and any ``headers=`` the `Lanes` were given) under the ones passed here, and
        their ``timeout`` unless one is passed. `send` sends a request as it is, so a plugin that
        sends one endpoint's request many times builds it here once and reuses its URL, headers
        and extensions (the lanes are alike, so it fits every one of them).
        """
        if self._closed:
            raise RuntimeError("these Lanes are closed: build new ones")
        lane = self._lanes[0] if self._lanes else self._open()
        return lane.http.build_request(method, url, **kwargs)

    async def send(self, request: httpx2.Request, *, stream: bool = False) -> httpx2.Response:
        """Send ``request`` on the least busy lane (opening one if all are full).

        Without ``stream`` the body is read before this returns. With it, the response holds its
        lane until it is closed (``await response.aclose()``, or reading it to the end), as with
        httpx2. Errors are httpx2's (and h2's) own: `llmp.wire.error_from_transport` maps them.
        """
        if self._closed:
            raise RuntimeError("these Lanes are closed: build new ones")
        lane = self._pick()
        lane.in_flight += 1
        try:
            response = await lane.http.send(request, stream=stream)
        except BaseException as exc:
            if isinstance(exc, Exception):
                self._failed(lane, exc)
            await self._release(lane)
            raise
        if response.http_version != self.http_version:
            self.http_version = response.http_version
        if not stream:
            lane.in_flight -= 1
            if lane.retired and not lane.in_flight:  # rare; the common case awaits nothing more
                await self._release(lane, counted=True)
            return response
        response.stream = _releasing_stream_type()(response.stream, self, lane)
        return response

    def _failed(self, lane: _Lane, exc: BaseException) -> None:
        """Retire an HTTP/2 lane whose connection failed under a request (see the module doc)."""
        if lane.retired or not self._multiplexing() or not is_transport_failure(exc):
            return
        lane.retired = True
        with contextlib.suppress(ValueError):
            self._lanes.remove(lane)
        self._retired.append(lane)
        _log.debug("retired an HTTP/2 connection to %s after %s", self.base_url, type(exc).__name__)

    async def _release(self, lane: _Lane, *, counted: bool = False) -> None:
        """A request on `lane` ended (`counted`: its count is already taken off); a retired lane
        with nothing left in flight is closed."""
        if not counted:
            lane.in_flight -= 1
        if lane.retired and not lane.in_flight:
            with contextlib.suppress(ValueError):
                self._retired.remove(lane)
            await _close(lane.http)

    async def aclose(self) -> None:
        """Close every lane (requests still in flight on them fail)."""
        self._closed = True
        lanes, self._lanes, self._retired = [*self._lanes, *self._retired], [], []
        for lane in lanes:
            await _close(lane.http)


async def _close(http: httpx2.AsyncClient) -> None:
    try:
        await http.aclose()
    except Exception as exc:  # a dead connection may fail to close cleanly; it is gone either way
        _log.debug("closing an httpx2 client failed: %r", exc)


def _in_flight(lane: _Lane) -> int:
    return lane.in_flight


@functools.cache
def _releasing_stream_type() -> Any:
    """The response stream wrapper, built on first use so that importing this module does not
    import httpx2 (its responses only iterate an ``httpx2.AsyncByteStream``)."""
    import httpx2

    class ReleasingStream(httpx2.AsyncByteStream):
        """Hands the lane back when the response closes; retires it if the body failed."""

        def __init__(self, inner: httpx2.AsyncByteStream, lanes: Lanes, lane: _Lane) -> None:
            self._inner = inner
            self._lanes = lanes
            self._lane = lane
            self._open = True

        async def __aiter__(self) -> AsyncIterator[bytes]:
            try:
                async for chunk in self._inner:
                    yield chunk
            except Exception as exc:
                self._lanes._failed(self._lane, exc)
                raise

        async def aclose(self) -> None:
            if not self._open:
                return
            self._open = False
            try:
                await self._inner.aclose()
            finally:
                await self._lanes._release(self._lane)

    return ReleasingStream
