"""Run a fake provider server in the foreground.

    python -m llmp.testing.serve openai --latency-ttft 0.05 --token-delay 0.01
    python -m llmp.testing.serve gemini --latency-ttft 0.05 --token-delay 0.005 --chunk-count 20

Once it is listening it prints one JSON line on stdout,
``{"base_url": ..., "ca_path": ..., "api_key": ..., "pid": ...}``, then serves until SIGINT or
SIGTERM (or, with ``--exit-on-stdin-eof``, until its stdin closes, which is how :func:`spawn`
ties the child's life to its parent). Point a client at it with ``SSL_CERT_FILE=<ca_path>`` and

- openai: ``OPENAI_BASE_URL=<base_url> OPENAI_API_KEY=<api_key>``;
- gemini: ``GEMINI_BASE_URL=<base_url> GEMINI_API_KEY=<api_key>`` (llmp-gemini), or
  ``HttpOptions(base_url=<base_url>)`` / ``GOOGLE_GEMINI_BASE_URL`` for google-genai itself;
- anthropic: ``ANTHROPIC_BASE_URL=<base_url> ANTHROPIC_API_KEY=<api_key>``.

Every server's certificate comes from one shared test CA, kept in ``--ca-dir`` (default:
``$LLMP_TEST_CA_DIR``, else a private per-user directory under the system temp dir), and
``ca_path`` is that CA's file: servers of different providers started with the same CA
directory, and the fakes of a test process using it, are all trusted by one ``SSL_CERT_FILE``.

Every provider answers ``GET /_fake/stats`` (``request_count``, ``in_flight``, ``max_in_flight``)
and ``POST /_fake/reset``, which is what :class:`~llmp.testing.SpawnedServer` calls. The openai
fake also takes, for tests that steer a server in another process (JSON bodies):

- ``POST /_fake/fault`` ``{"status": 429, "retry_after": 1.5, "times": null}``: the next ``times``
  chat completions (null: every one, until a reset) fail with that status and OpenAI's error body;
- ``POST /_fake/knobs`` ``{"ttft": 0.2}``: change ``ttft``, ``token_delay`` or ``chunk_count``
  from now on (a reset restores the command line's);
- ``GET /_fake/requests``: ``[[arrival time.time(), status], ...]`` of the requests recorded
  (start it with ``--record``), oldest first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from llmp.testing._server import Receive, Scope, Send, ServerOptions, SpawnedServer

PROVIDERS = ("openai", "gemini", "anthropic")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llmp.testing.serve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("provider", choices=PROVIDERS, help="which provider's wire format to speak")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ttft", type=float, default=0.0, help="seconds before the first byte")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between stream deltas")
    parser.add_argument("--chunk-count", type=int, default=None, help="stream deltas per choice")
    parser.add_argument(
        "--non-stream-delay",
        type=float,
        default=0.0,
        help="gemini: extra seconds before a non-streamed reply (the gemini fake answers one after "
        "--latency-ttft alone; token_delay * (chunk_count - 1) makes it arrive when the stream "
        "would have ended, as the openai and anthropic fakes do by themselves)",
    )
    parser.add_argument(
        "--cached-tokens", type=int, default=0, help="cached prompt tokens (anthropic: cache reads)"
    )
    parser.add_argument("--reasoning-tokens", type=int, default=0, help="reasoning (gemini: thoughts) tokens")
    parser.add_argument(
        "--api-key", action="append", default=None, help="accepted key (repeatable); default: any"
    )
    parser.add_argument("--rpm", type=int, default=None, help="enforce a requests-per-minute budget")
    parser.add_argument("--tpm", type=int, default=None, help="enforce a tokens-per-minute budget")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--h2-max-concurrent-streams", type=int, default=None)
    parser.add_argument(
        "--ca-dir",
        default=None,
        help="directory of the shared test CA, made there on first use (default: $LLMP_TEST_CA_DIR, "
        "else a per-user directory under the system temp dir)",
    )
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    return parser


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    # A knob the chosen fake does not have must fail loudly, not be silently ignored.
    unsupported = {
        "gemini": [("--rpm", args.rpm is not None), ("--tpm", args.tpm is not None)],
        "anthropic": [("--reasoning-tokens", bool(args.reasoning_tokens))],
    }.get(args.provider, [])
    if args.provider != "gemini":
        unsupported.append(("--non-stream-delay", bool(args.non_stream_delay)))
    for flag, given in unsupported:
        if given:
            parser.error(f"{flag} does not apply to the {args.provider} fake")


class _Steered:
    """ASGI wrapper giving the openai fake the control endpoints listed in the module docstring."""

    _KNOBS = ("ttft", "token_delay", "chunk_count")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from llmp.testing._server import CONTROL_PREFIX

        name = scope["path"][len(CONTROL_PREFIX) :] if scope["type"] == "http" else ""
        if not scope["path"].startswith(CONTROL_PREFIX) or name not in ("fault", "knobs", "requests"):
            await self.app(scope, receive, send)
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body", False):
                break
        status, body = 200, b"{}"
        try:
            body = self._control(scope["method"], name, json.loads(raw) if raw else {})
        except (TypeError, ValueError) as exc:  # a test's mistake: say which, do not guess
            status, body = 400, json.dumps({"error": str(exc)}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _control(self, method: str, name: str, data: dict[str, Any]) -> bytes:
        if name == "requests" and method == "GET":
            return json.dumps([[r.timestamp, r.status] for r in self.app.requests]).encode()
        if name == "fault" and method == "POST":
            from llmp.testing._faults import StatusError

            fault = StatusError(int(data["status"]), retry_after=data.get("retry_after"))
            self.app.inject(fault, times=data.get("times", 1))
            return b"{}"
        if name == "knobs" and method == "POST":
            unknown = set(data) - set(self._KNOBS)
            if unknown:
                raise ValueError(f"unknown knobs {sorted(unknown)}; known: {', '.join(self._KNOBS)}")
            for knob, value in data.items():
                setattr(self.app, knob, value)
            return b"{}"
        raise ValueError(f"{method} /_fake/{name} is not a control endpoint")


class _Resettable(Protocol):
    api_key: str

    def reset(self) -> None: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class _Controlled:
    """ASGI wrapper giving a fake the control endpoints and counters FakeOpenAIServer has built in.

    Runs on the server's one event loop thread, so the counters need no lock. Requests begun
    before a reset still finish later; counting per generation keeps them out of the new peak.
    """

    def __init__(self, app: _Resettable, *, non_stream_delay: float = 0.0) -> None:
        self.app = app
        self.non_stream_delay = non_stream_delay
        self._generation = 0
        self._request_count = 0
        self._in_flight = 0  # every request being handled
        self._in_flight_now = 0  # those begun since the last reset
        self._max_in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from llmp.testing._server import CONTROL_PREFIX

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
            if self.non_stream_delay > 0 and path.endswith(":generateContent"):
                await asyncio.sleep(self.non_stream_delay)
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


@contextlib.contextmanager
def _serve(args: argparse.Namespace, options: ServerOptions) -> Iterator[dict[str, Any]]:
    """Start the fake named by ``args``; yield what a client needs to reach it."""
    common: dict[str, Any] = {
        "ttft": args.latency_ttft,
        "token_delay": args.token_delay,
        "chunk_count": args.chunk_count,
        "api_keys": args.api_key,
        "record": args.record,
    }
    from llmp.testing._server import BackgroundServer

    if args.provider == "openai":
        from llmp.testing._fake_openai_app import FakeOpenAIApp

        app = FakeOpenAIApp(
            **common,
            cached_tokens=args.cached_tokens,
            reasoning_tokens=args.reasoning_tokens,
            rpm=args.rpm,
            tpm=args.tpm,
        )
        # FakeOpenAIServer's own transport, behind the wrapper that adds the steering endpoints.
        with BackgroundServer(_Steered(app), options=options) as served:
            yield {
                "base_url": f"{served.origin}/v1",
                "ca_path": str(served.tls.ca_path),
                "api_key": app.api_key,
            }
        return

    fake: _Resettable
    if args.provider == "gemini":
        from llmp.testing._fake_gemini import FakeGeminiServer

        fake = FakeGeminiServer(
            **common, cached_tokens=args.cached_tokens, thoughts_tokens=args.reasoning_tokens
        )
    else:
        from llmp.testing._fake_anthropic import FakeAnthropicServer

        fake = FakeAnthropicServer(**common, cache_read_tokens=args.cached_tokens, rpm=args.rpm, tpm=args.tpm)
    # The fake is itself the ASGI app; served here behind the wrapper, its own (never started)
    # server is unused. Both fakes' base URL is the bare origin.
    with BackgroundServer(_Controlled(fake, non_stream_delay=args.non_stream_delay), options=options) as bg:
        yield {"base_url": bg.origin, "ca_path": str(bg.tls.ca_path), "api_key": fake.api_key}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    _check(parser, args)

    from llmp.testing._server import ServerOptions
    from llmp.testing._tls import CA_DIR_ENV

    if args.ca_dir is not None:
        # Every server this process starts reads the CA directory from here (see _tls).
        os.environ[CA_DIR_ENV] = str(Path(args.ca_dir).expanduser().resolve())
    options = ServerOptions(host=args.host, port=args.port)
    if args.h2_max_concurrent_streams is not None:
        options = dataclasses.replace(options, h2_max_concurrent_streams=args.h2_max_concurrent_streams)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    if args.exit_on_stdin_eof:

        def _watch_stdin() -> None:
            # Reads until EOF: the parent closed the pipe or died.
            while os.read(sys.stdin.fileno(), 4096):
                pass
            done.set()

        threading.Thread(target=_watch_stdin, name="stdin-watch", daemon=True).start()

    with _serve(args, options) as info:
        print(json.dumps({**info, "pid": os.getpid()}), flush=True)
        # The server runs on its own thread; the main thread only waits, so it costs no CPU.
        while not done.wait(3600):
            pass
    return 0


def spawn(
    provider: str,
    *,
    ttft: float = 0.0,
    token_delay: float = 0.0,
    chunk_count: int | None = None,
    non_stream_delay: float = 0.0,
    api_keys: Iterable[str] | None = None,
    record: bool = False,
    h2_max_concurrent_streams: int | None = None,
    ca_dir: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> SpawnedServer:
    """Run the ``provider`` fake in a child process (for benchmarks) and return its handle.

    The handle is the one ``FakeOpenAIServer.spawn`` returns: ``base_url``, ``ca_path``,
    ``api_key``, ``pid``, ``stats()``, ``reset()``, ``stop()``, a context manager. ``extra_args``
    passes provider-specific flags through (``["--rpm", "60"]``). ``ca_dir`` is the shared test
    CA's directory (default: the child inherits ``$LLMP_TEST_CA_DIR`` or the per-user default, so
    its certificate verifies against the same ``ca_path`` as this process's fakes). Records are
    off by default: nobody can read them there, and a long benchmark would only grow the child's
    memory.
    """
    from llmp.testing._server import spawn_server

    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
    args = [provider, "--latency-ttft", repr(ttft), "--token-delay", repr(token_delay)]
    if chunk_count is not None:
        args += ["--chunk-count", str(chunk_count)]
    if non_stream_delay:
        args += ["--non-stream-delay", repr(non_stream_delay)]
    for key in api_keys or ():
        args += ["--api-key", key]
    if record:
        args.append("--record")
    if h2_max_concurrent_streams is not None:
        args += ["--h2-max-concurrent-streams", str(h2_max_concurrent_streams)]
    if ca_dir is not None:
        args += ["--ca-dir", os.fspath(ca_dir)]
    return spawn_server([*args, *extra_args], startup_timeout=startup_timeout)


if __name__ == "__main__":
    sys.exit(main())
