"""A raw HTTP/2 server on the ``h2`` library, over TLS, that can misbehave at the frame level.

hypercorn (under the fake providers) speaks HTTP/2 correctly and has no way to send a GOAWAY in
the middle of a body or to drop a session before it answers, which is exactly what a client's
connection handling must survive. This server owns every frame. What it does depends on the
request's path (query parameters tune it):

- ``/ok``: 200 with a small JSON body. ``?hold=N`` answers only once N requests are in flight
  at once (503 after 10 s if they never are), which proves they overlapped; ``?delay=S`` waits S
  seconds first; ``?size=N`` pads the body to N bytes.
- ``/goaway``: the headers, half the body, then GOAWAY (``?code=0&last=2147483647``: NO_ERROR and
  the highest stream id, a "graceful" shutdown) and the connection closes (``?close=0`` keeps it
  open, silent).
- ``/destroy``: the connection closes at once, before any answer (a session destroyed).
- ``/trickle``: the headers, then one body byte every ``?interval=`` seconds, ``?count=`` in all.
- ``/sse-keepalive``: an event stream of ``: keep-alive`` comments every ``?interval=`` seconds,
  ``?count=`` of them, then ``data: [DONE]``.

``RawH2Server(alpn=("http/1.1",))`` answers ``/ok`` over HTTP/1.1 instead (a server that does
not negotiate h2), and ``tls=False`` serves plain-text HTTP/1.1 (an ``http://`` base URL).
It shares the process's test CA (`llmp.testing._tls`), so ``SSL_CERT_FILE`` trusts it too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from llmp.testing._tls import TLSFiles, make_tls_files

__all__ = ["RawH2Server"]

_LAST_STREAM = 2**31 - 1
_HOLD_TIMEOUT = 10.0


class _Counts:
    """What the server saw, read by tests from their own thread (ints and lists: atomic enough)."""

    def __init__(self) -> None:
        self.connections = 0
        self.open_connections = 0
        self.paths: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        #: The most streams one connection carried at once.
        self.max_streams_per_connection = 0

    def begin(self) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end(self) -> None:
        self.in_flight -= 1


def _query(path: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(path)
    return parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}


async def _wait_for_ok(counts: _Counts, query: dict[str, str]) -> bool:
    """Apply ``/ok``'s ``hold`` and ``delay``; False if the requests to hold never all came."""
    hold = int(query.get("hold", "0"))
    deadline = asyncio.get_running_loop().time() + _HOLD_TIMEOUT
    while counts.max_in_flight < hold:  # the peak, not the count now: the first to go ends early
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.005)  # a condition polled with a deadline, in the server
    await asyncio.sleep(float(query.get("delay", "0")))
    return True


def _ok_body(path: str, size: int) -> bytes:
    body = json.dumps({"ok": True, "path": path}).encode()
    return body + b" " * max(0, size - len(body))


class _H2Connection:
    """One client connection: h2's state machine, the socket, and a task per request."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: _Counts) -> None:
        import h2.config
        import h2.connection

        self.reader, self.writer, self.counts = reader, writer, counts
        config = h2.config.H2Configuration(client_side=False, header_encoding=None)
        self.h2 = h2.connection.H2Connection(config=config)
        self.headers: dict[int, dict[bytes, bytes]] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.window = asyncio.Event()
        self.closed = False
        #: After a GOAWAY that keeps the connection open: read and ignore everything.
        self.silent = False

    async def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def close(self) -> None:
        """Drop the TCP connection (no GOAWAY, no close_notify): a session destroyed."""
        self.closed = True
        transport = self.writer.transport
        # abort() rather than close(): no TLS shutdown, the bytes stop here.
        transport.abort()

    async def serve(self) -> None:
        import h2.events
        import h2.exceptions

        self.h2.initiate_connection()
        await self.flush()
        try:
            while not self.closed:
                data = await self.reader.read(65536)
                if not data:
                    break
                if self.silent:
                    continue
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError:
                    # After our GOAWAY h2 refuses every frame; a server that is going away
                    # discards them (and a broken client gets no answer either).
                    continue
                for event in events:
                    if isinstance(event, h2.events.RequestReceived):
                        self.headers[event.stream_id] = dict(event.headers or [])
                        self.counts.max_streams_per_connection = max(
                            self.counts.max_streams_per_connection, len(self.headers)
                        )
                    elif isinstance(event, h2.events.DataReceived):
                        self.h2.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id)
                    elif isinstance(event, h2.events.StreamEnded):
                        self._spawn(self._answer(event.stream_id))
                    elif isinstance(event, h2.events.WindowUpdated):
                        self.window.set()
                    elif isinstance(event, h2.events.StreamReset):
                        self.headers.pop(event.stream_id, None)
                    elif isinstance(event, h2.events.ConnectionTerminated):
                        self.closed = True
                await self.flush()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            for task in self.tasks:
                task.cancel()
            if not self.closed:
                self.close()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _send_body(self, stream_id: int, data: bytes, *, end: bool) -> None:
        while data:
            window = min(self.h2.local_flow_control_window(stream_id), self.h2.max_outbound_frame_size)
            if window <= 0:
                self.window.clear()
                await self.window.wait()
                continue
            self.h2.send_data(stream_id, data[:window])
            data = data[window:]
            await self.flush()
        if end:
            self.h2.end_stream(stream_id)
            await self.flush()

    async def _answer(self, stream_id: int) -> None:
        import h2.exceptions

        headers = self.headers.get(stream_id, {})
        path, query = _query(headers.get(b":path", b"/").decode())
        self.counts.paths.append(path)
        self.counts.begin()
        try:
            await self._dispatch(stream_id, path, query)
        except h2.exceptions.StreamClosedError:
            pass  # the client reset or gave up on the stream
        finally:
            self.counts.end()
            self.headers.pop(stream_id, None)

    async def _goaway(self, stream_id: int, body: bytes, query: dict[str, str]) -> None:
        """Half the body, a GOAWAY, then (``then=``) ``close`` the connection, go ``silent``, or
        send the ``rest`` of the body (a graceful shutdown: the stream is below last_stream_id,
        so it may finish). All in one write, as a server shutting down sends them.

        The GOAWAY frame is written by hand: h2 would refuse to send anything after its own."""
        from hyperframe.frame import GoAwayFrame

        half = len(body) // 2
        self.h2.send_data(stream_id, body[:half])
        goaway = GoAwayFrame(0)
        goaway.error_code = int(query.get("code", "0"))
        goaway.last_stream_id = int(query.get("last", str(_LAST_STREAM)))
        data = self.h2.data_to_send() + goaway.serialize()
        then = query.get("then", "close")
        if then == "rest":
            self.h2.send_data(stream_id, body[half:], end_stream=True)
            data += self.h2.data_to_send()
        self.writer.write(data)
        with contextlib.suppress(ConnectionError):
            await self.writer.drain()
        if then == "silent":
            self.silent = True
        else:
            self.close()

    async def _dispatch(self, stream_id: int, path: str, query: dict[str, str]) -> None:
        interval = float(query.get("interval", "0.05"))
        count = int(query.get("count", "20"))
        if path == "/destroy":
            self.close()
            return
        content_type = b"text/event-stream" if path == "/sse-keepalive" else b"application/json"
        status = b"200"
        if path == "/ok" and not await _wait_for_ok(self.counts, query):
            status = b"503"
        self.h2.send_headers(stream_id, [(b":status", status), (b"content-type", content_type)])
        await self.flush()
        if path == "/ok":
            await self._send_body(stream_id, _ok_body(path, int(query.get("size", "0"))), end=True)
        elif path == "/goaway":
            body = _ok_body(path, int(query.get("size", "2000")))
            await self._goaway(stream_id, body, query)
        elif path in ("/trickle", "/sse-keepalive"):
            piece = b": keep-alive\n\n" if path == "/sse-keepalive" else b"x"
            for _ in range(count):
                await self._send_body(stream_id, piece, end=False)
                await asyncio.sleep(interval)
            await self._send_body(
                stream_id, b"data: [DONE]\n\n" if path == "/sse-keepalive" else b"", end=True
            )
        else:
            self.h2.send_data(stream_id, b'{"error": "unknown path"}', end_stream=True)
            await self.flush()


async def _serve_http11(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counts: _Counts) -> None:
    """``/ok`` (and its ``delay``/``size``) over HTTP/1.1 with keep-alive, on h11."""
    import h11

    connection = h11.Connection(h11.SERVER)
    target = "/"
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                connection.receive_data(data)
                if not data:
                    return
                continue
            if isinstance(event, h11.Request):
                target = event.target.decode()
            elif isinstance(event, h11.EndOfMessage):
                path, query = _query(target)
                counts.paths.append(path)
                counts.begin()
                try:
                    status = 200 if await _wait_for_ok(counts, query) else 503
                finally:
                    counts.end()
                body = _ok_body(path, int(query.get("size", "0")))
                headers = [("content-type", "application/json"), ("content-length", str(len(body)))]
                writer.write(connection.send(h11.Response(status_code=status, headers=headers)) or b"")
                writer.write(connection.send(h11.Data(data=body)) or b"")
                writer.write(connection.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                connection.start_next_cycle()
            elif isinstance(event, h11.ConnectionClosed):
                return
    except (ConnectionError, ssl.SSLError, h11.ProtocolError):
        pass
    finally:
        writer.transport.abort()


class RawH2Server:
    """A raw HTTP/2 server on a loopback port, in a daemon thread with its own event loop.

    The request's path says how it misbehaves: ``/ok`` (``?hold=N``, ``?delay=S``, ``?size=N``),
    ``/goaway`` (half the body, then GOAWAY: ``?code=``, ``?last=``, ``?then=close|silent|rest``),
    ``/destroy`` (drop the connection unanswered), ``/trickle`` and ``/sse-keepalive``
    (``?interval=``, ``?count=``). Clients trust it through ``verify=server.tls.client_context()``
    or ``SSL_CERT_FILE=server.ca_path``.

    ``alpn``: the protocols offered in TLS (``("h2",)`` by default; ``("http/1.1",)`` for a server
    that never negotiates h2). ``tls=False``: plain-text HTTP/1.1. The counters
    (``connections``, ``open_connections``, ``paths``, ``max_in_flight``,
    ``max_streams_per_connection``) are what the server saw since start or :meth:`reset`.
    """

    def __init__(self, *, alpn: tuple[str, ...] = ("h2",), tls: bool = True) -> None:
        self.alpn = alpn
        self.use_tls = tls
        self.tls: TLSFiles | None = None
        self.port = 0
        self.counts = _Counts()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def origin(self) -> str:
        return f"{'https' if self.use_tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> str:
        if self.tls is None:
            raise RuntimeError("this server has no TLS (tls=False) or is not started")
        return str(self.tls.ca_path)

    def url(self, path: str) -> str:
        return self.origin + path

    def reset(self) -> None:
        """Zero the counters (connections already open stay open)."""
        open_now = self.counts.open_connections
        self.counts = _Counts()
        self.counts.open_connections = open_now

    def start(self, timeout: float = 10.0) -> None:
        context = None
        if self.use_tls:
            self.tls = make_tls_files()
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.tls.cert_path), str(self.tls.key_path))
            context.set_alpn_protocols(list(self.alpn))
        self._thread = threading.Thread(target=self._run, args=(context,), name="llmp-raw-h2", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or not self.port:
            raise RuntimeError("the raw HTTP/2 test server did not start")

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None
        if self.tls is not None:
            self.tls.remove()
            self.tls = None

    def _run(self, context: ssl.SSLContext | None) -> None:
        asyncio.run(self._main(context))

    async def _main(self, context: ssl.SSLContext | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        handler: Callable[..., Coroutine[Any, Any, None]] = self._handle
        tls: dict[str, Any] = {"ssl": context, "ssl_shutdown_timeout": 0.5} if context is not None else {}
        server = await asyncio.start_server(handler, "127.0.0.1", 0, **tls)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            for writer in list(self._writers):
                writer.transport.abort()
            server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts = self.counts
        counts.connections += 1
        counts.open_connections += 1
        self._writers.add(writer)
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            protocol = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
            if protocol == "h2":
                await _H2Connection(reader, writer, counts).serve()
            else:
                await _serve_http11(reader, writer, counts)
        finally:
            self._writers.discard(writer)
            self.counts.open_connections -= 1

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
