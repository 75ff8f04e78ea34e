"""Run an ASGI app under hypercorn over TLS (ALPN h2 + http/1.1) on a loopback port.

Two ways to run one:

- :class:`BackgroundServer`: a thread with its own event loop, in the test process, so tests
  can read the app's state (recorded requests, counters) directly.
- :func:`spawn_server`: ``python -m llmp.testing.serve ...`` in a child process, for benchmarks,
  so the server's CPU time is not charged to the client being measured.

hypercorn is imported only when a server starts, so importing this module stays cheap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import selectors
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, cast

from llmp.testing._tls import TLSFiles, make_tls_files

__all__ = ["ASGIApp", "BackgroundServer", "ServerOptions", "SpawnedServer", "spawn_server"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Only the server's own endpoints live under this prefix; see SpawnedServer.stats().
CONTROL_PREFIX = "/_fake/"


@dataclass(frozen=True, slots=True)
class ServerOptions:
    """Transport settings for the fake servers.

    ``h2_max_concurrent_streams`` is what the server advertises in its HTTP/2 SETTINGS: a client
    multiplexing on one connection cannot have more requests in flight on it than this. 256 is
    what large API front ends commonly advertise; raise it to measure the client alone.
    """

    host: str = "127.0.0.1"
    port: int = 0
    h2_max_concurrent_streams: int = 256
    # Many clients connect at once at high concurrency over HTTP/1.1; a short accept queue would
    # drop SYNs and add 1 s retransmit stalls that look like client slowness.
    backlog: int = 4096
    keep_alive_timeout: float = 75.0
    # Bounds stop(): hypercorn waits this long for open connections before giving up on them.
    graceful_timeout: float = 2.0
    log_level: str = "WARNING"


def _listen(options: ServerOptions) -> socket.socket:
    # Binding ourselves (port 0) lets the OS pick a free port with no race, and listening before
    # hypercorn starts means early client connections queue instead of being refused.
    sock = socket.socket(socket.AF_INET6 if ":" in options.host else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((options.host, options.port))
        sock.listen(options.backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def _hypercorn_config(fd: int, tls: TLSFiles, options: ServerOptions) -> Any:
    from hypercorn.config import Config

    from llmp.testing._hypercorn_fix import close_buffers_of_closed_connections

    close_buffers_of_closed_connections()
    config = Config()
    # fd:// hands hypercorn the socket we already bound (it wraps the descriptor and owns it).
    config.bind = [f"fd://{fd}"]
    config.certfile = str(tls.cert_path)
    config.keyfile = str(tls.key_path)
    config.alpn_protocols = ["h2", "http/1.1"]
    config.h2_max_concurrent_streams = options.h2_max_concurrent_streams
    config.backlog = options.backlog
    config.keep_alive_timeout = options.keep_alive_timeout
    config.graceful_timeout = options.graceful_timeout
    config.loglevel = options.log_level
    config.accesslog = None
    # One header fewer to encode per response; nothing reads it.
    config.include_server_header = False
    # Keep-alive connections are never recycled by request count during a long benchmark.
    config.keep_alive_max_requests = 2**31
    return config


def _probe_tls(host: str, port: int, tls: TLSFiles, timeout: float) -> None:
    # A completed handshake proves the event loop is accepting and the certificate verifies
    # against the CA, which is the readiness signal (no sleeping and hoping).
    context = tls.client_context()
    with (
        socket.create_connection((host, port), timeout=timeout) as raw,
        context.wrap_socket(raw, server_hostname=host),
    ):
        pass


# How long a closing TLS connection waits for the client's close_notify. asyncio's default is 30 s,
# and an idle pooled client connection never answers (nobody reads it), so without this stop()
# would hang for 30 s whenever a test leaves a client open.
_SSL_SHUTDOWN_TIMEOUT = 0.5
# How long reset_stream() lets already-sent body bytes reach the client before the reset.
_DRAIN_TIMEOUT = 5.0


class _ServerLoop(asyncio.SelectorEventLoop):
    """An event loop whose TLS servers give up on unanswered TLS shutdowns quickly.

    hypercorn calls ``asyncio.start_server`` without ``ssl_shutdown_timeout``; this is the public
    hook where it can be set.
    """

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_shutdown_timeout", _SSL_SHUTDOWN_TIMEOUT)
        return await super().create_server(*args, **kwargs)


def _quiet_ssl_shutdown(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # An unanswered TLS shutdown is the expected fate of idle client connections at stop().
    if isinstance(context.get("exception"), TimeoutError) and "SSL shutdown" in str(context["exception"]):
        return
    loop.default_exception_handler(context)


class BackgroundServer:
    """Serves ``app`` from a daemon thread running its own asyncio loop."""

    def __init__(self, app: ASGIApp, *, options: ServerOptions | None = None, tls: TLSFiles | None = None):
        self.app = app
        self.options = options or ServerOptions()
        self._tls = tls
        self._owns_tls = tls is None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._shutdown: asyncio.Event | None = None
        self._loop_ready = threading.Event()
        self._error: BaseException | None = None
        self.port = 0

    @property
    def tls(self) -> TLSFiles:
        if self._tls is None:
            raise RuntimeError("server not started")
        return self._tls

    @property
    def origin(self) -> str:
        """``https://host:port`` (no path)."""
        host = f"[{self.options.host}]" if ":" in self.options.host else self.options.host
        return f"https://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 30.0) -> None:
        if self._thread is not None:
            raise RuntimeError("server already started")
        if self._tls is None:
            self._tls = make_tls_files()
        self._loop, self._shutdown, self._error = None, None, None
        self._loop_ready.clear()
        sock = _listen(self.options)
        self.port = sock.getsockname()[1]
        config = _hypercorn_config(sock.detach(), self._tls, self.options)
        self._thread = threading.Thread(
            target=self._run, args=(config,), name=f"llmp-fake-server:{self.port}", daemon=True
        )
        self._thread.start()
        try:
            _probe_tls(self.options.host, self.port, self._tls, timeout)
        except OSError as exc:
            self.stop()
            raise RuntimeError(f"fake server on port {self.port} did not come up: {self._error!r}") from exc

    def stop(self, timeout: float = 30.0) -> None:
        thread = self._thread
        if thread is None:
            return
        if self._loop_ready.wait(timeout) and self._loop is not None and self._shutdown is not None:
            # The loop is already closed if hypercorn crashed; then there is nothing to stop.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._shutdown.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"fake server thread on port {self.port} did not stop within {timeout}s")
        self._thread = None
        if self._owns_tls and self._tls is not None:
            self._tls.remove()
            self._tls = None

    def _run(self, config: Any) -> None:
        try:
            # Runner (unlike run_until_complete) cancels and awaits whatever hypercorn left running,
            # so no "Task was destroyed but it is pending" noise when the loop closes.
            with asyncio.Runner(loop_factory=_ServerLoop) as runner:
                runner.run(self._serve(config))
        except BaseException as exc:  # reported by start()/stop(), the thread has nobody else to tell
            self._error = exc
        finally:
            self._loop_ready.set()

    async def _serve(self, config: Any) -> None:
        from hypercorn.asyncio import serve

        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(_quiet_ssl_shutdown)
        self._shutdown = asyncio.Event()
        self._loop_ready.set()
        await serve(cast(Any, self.app), config, shutdown_trigger=self._shutdown.wait, mode="asgi")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SpawnedServer:
    """Handle on a fake server running in a child process (see :func:`spawn_server`)."""

    def __init__(self, process: subprocess.Popen[bytes], info: dict[str, Any]):
        self.process = process
        self.info = info
        self.base_url: str = info["base_url"]
        self.ca_path = Path(info["ca_path"])
        self.api_key: str | None = info.get("api_key")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stats(self, timeout: float = 10.0) -> dict[str, Any]:
        """The child's counters (``request_count``, ``in_flight``, ``max_in_flight``)."""
        return self._control("GET", "stats", timeout)

    def reset(self, timeout: float = 10.0) -> None:
        """Clear the child's records, faults and counters."""
        self._control("POST", "reset", timeout)

    def _control(self, method: str, name: str, timeout: float) -> dict[str, Any]:
        import urllib.request  # only benchmarks call this; keep it off the import path
        from urllib.parse import urlsplit

        # The control endpoints hang off the origin, whatever path the fake's base URL has.
        origin = "https://" + urlsplit(self.base_url).netloc
        request = urllib.request.Request(f"{origin}{CONTROL_PREFIX}{name}", method=method, data=b"")
        context = ssl.create_default_context(cafile=str(self.ca_path))
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return cast(dict[str, Any], json.loads(response.read()))

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        # Closing stdin is the child's cue to shut down gracefully (--exit-on-stdin-eof).
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_line(stream: Any, deadline: float) -> bytes:
    # readline() on the pipe could block forever on a wedged child; select with a deadline.
    fd = stream.fileno()
    buf = b""
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in buf:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                raise TimeoutError("fake server process did not report its address in time")
            data = os.read(fd, 65536)
            if not data:
                break
            buf += data
    return buf.split(b"\n", 1)[0]


def spawn_server(args: Sequence[str], *, startup_timeout: float = 60.0) -> SpawnedServer:
    """Start ``python -m llmp.testing.serve <args>`` and wait for its address line.

    The child exits when :meth:`SpawnedServer.stop` closes its stdin, or when this process dies.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "llmp.testing.serve", *args, "--exit-on-stdin-eof"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        line = _read_line(process.stdout, time.monotonic() + startup_timeout)
        if not line:
            raise RuntimeError(f"fake server process exited early with status {process.wait()}")
        info = json.loads(line)
    except BaseException:
        process.kill()
        process.wait()
        raise
    return SpawnedServer(process, info)


def client_gone(send: Send) -> bool:
    """Whether the stream behind hypercorn's ASGI ``send`` has closed (client left or reset it).

    hypercorn's ``HTTPStream.app_send`` ignores that and, over HTTP/2, blocks forever on a send
    to a closed connection, so callers check before answering. False if it cannot tell.
    """
    return bool(getattr(getattr(send, "__self__", None), "closed", False))


async def reset_stream(send: Send) -> None:
    """Abort the HTTP/2 stream behind hypercorn's ASGI ``send`` with RST_STREAM (INTERNAL_ERROR).

    Body bytes the app already sent are flushed first, so the client reads them and then gets the
    reset, in that order. ASGI has no way to say "reset": an app that just returns mid-body leaves
    hypercorn's h2 stream open and the client waiting forever. So this reaches through ``send``
    (hypercorn's ``HTTPStream.app_send``) to the connection's h2 state machine, checked at each
    step so a hypercorn change fails loudly here rather than as a hanging test.
    """
    stream = getattr(send, "__self__", None)
    stream_id = getattr(stream, "stream_id", None)
    protocol = getattr(getattr(stream, "send", None), "__self__", None)
    connection = getattr(protocol, "connection", None)
    buffers = getattr(protocol, "stream_buffers", None)
    if protocol is None or stream_id is None or connection is None or not isinstance(buffers, dict):
        raise RuntimeError("cannot reset an HTTP/2 stream: this is not hypercorn's h2 protocol")
    import h2.errors
    import h2.exceptions

    if getattr(protocol, "closed", False):
        return  # the connection is gone already; nothing to reset (and nothing would drain)
    buffer = buffers.get(stream_id)
    if buffer is not None:
        # Bounded: if the connection dies meanwhile the buffer never drains.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(buffer.drain(), _DRAIN_TIMEOUT)
    try:
        connection.reset_stream(stream_id, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
    except h2.exceptions.ProtocolError:
        return  # the client already closed the stream
    await protocol._flush()
    if buffer is not None:
        # Let hypercorn's sender visit the stream once more: ending a reset stream fails inside
        # its own error handling, which is what drops the stream's buffer and priority entry.
        buffer.set_complete()
        protocol.priority.unblock(stream_id)
        await protocol.has_data.set()
