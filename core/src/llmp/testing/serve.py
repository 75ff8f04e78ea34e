"""Run a fake provider server in the foreground.

    python -m llmp.testing.serve openai --latency-ttft 0.05 --token-delay 0.01
    python -m llmp.testing.serve gemini --latency-ttft 0.05 --token-delay 0.005 --chunk-count 20
    python -m llmp.testing.serve my_plugin.testing.serve:serve_fake --latency-ttft 0.05

The fake is named by an installed plugin in the ``llmp.testing.fakes`` entry-point group
(llmp-openai: ``openai``; llmp-gemini: ``gemini``; llmp-litellm: ``anthropic``), or given as
``module:attribute``: a fake factory (see :class:`FakeFactory`). Once it is listening it prints
one JSON line on stdout, ``{"base_url": ..., "ca_path": ..., "api_key": ..., "pid": ...}``, then
serves until SIGINT or SIGTERM (or, with ``--exit-on-stdin-eof``, until its stdin closes, which
is how :func:`spawn` ties the child's life to its parent). Point a client at it with
``SSL_CERT_FILE=<ca_path>`` and

- openai: ``OPENAI_BASE_URL=<base_url> OPENAI_API_KEY=<api_key>``;
- gemini: ``GEMINI_BASE_URL=<base_url> GEMINI_API_KEY=<api_key>`` (llmp-gemini), or
  ``HttpOptions(base_url=<base_url>)`` / ``GOOGLE_GEMINI_BASE_URL`` for google-genai itself;
- anthropic: ``ANTHROPIC_BASE_URL=<base_url> ANTHROPIC_API_KEY=<api_key>``.

Every server's certificate comes from one shared test CA, kept in ``--ca-dir`` (default:
``$LLMP_TEST_CA_DIR``, else a private per-user directory under the system temp dir), and
``ca_path`` is that CA's file: servers of different providers started with the same CA
directory, and the fakes of a test process using it, are all trusted by one ``SSL_CERT_FILE``.

Every fake answers ``GET /_fake/stats`` (``request_count``, ``in_flight``, ``max_in_flight``)
and ``POST /_fake/reset``, which is what :class:`~llmp.testing.SpawnedServer` calls (a fake
without them of its own gets them from `llmp.testing._controlled.ControlledServer`). The OpenAI
fake also takes faults, knobs and gives its request log there (`llmp.testing._steering`), for
tests that steer a server in another process.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from llmp.testing._server import ServerOptions, SpawnedServer

__all__ = ["FAKES_GROUP", "FakeFactory", "ServedFake", "fake_names", "load_fake", "main", "spawn"]

#: The entry-point group where plugins register their fakes' factories (name = "module:factory").
FAKES_GROUP = "llmp.testing.fakes"

# Knobs every factory takes, and the optional ones (with their flags): a flag for a knob the
# chosen factory does not take fails loudly instead of being silently ignored.
_COMMON = ("ttft", "token_delay", "chunk_count", "api_keys", "record")
_OPTIONAL = {
    "cached_tokens": "--cached-tokens",
    "reasoning_tokens": "--reasoning-tokens",
    "rpm": "--rpm",
    "tpm": "--tpm",
    "non_stream_delay": "--non-stream-delay",
}


class ServedFake(Protocol):
    """What a fake factory returns: entering it starts the server, leaving it stops it."""

    @property
    def base_url(self) -> str: ...

    @property
    def ca_path(self) -> Path: ...

    @property
    def api_key(self) -> str: ...

    def __enter__(self) -> Any: ...

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Any: ...


class FakeFactory(Protocol):
    """``factory(options, *, ttft, token_delay, chunk_count, api_keys, record, **optional)``.

    ``options`` is the transport (:class:`~llmp.testing.ServerOptions`: host, port, HTTP/2 stream
    limit). The optional knobs a factory may take, as keyword parameters: ``cached_tokens``,
    ``reasoning_tokens``, ``rpm``, ``tpm``, ``non_stream_delay``; the ones it does not name are
    refused on the command line. Plugins register theirs in the ``llmp.testing.fakes`` group.
    """

    def __call__(self, options: ServerOptions, /, **knobs: Any) -> ServedFake: ...


def fake_names() -> dict[str, str]:
    """The fakes installed plugins register: name -> ``"module:factory"``."""
    return {point.name: point.value for point in entry_points(group=FAKES_GROUP)}


def _spec(fake: str) -> str:
    spec = fake_names().get(fake) or (fake if ":" in fake else None)
    if spec is None:
        installed = ", ".join(sorted(fake_names())) or "none"
        raise LookupError(
            f"no fake server named {fake!r} is installed (installed: {installed}); install the "
            "provider's plugin (llmp-openai, llmp-gemini, llmp-litellm) or give module:factory"
        )
    return spec


def load_fake(fake: str) -> FakeFactory:
    """The factory for ``fake``: a name from :func:`fake_names`, or ``"module:attribute"``."""
    module, _, attribute = _spec(fake).partition(":")
    return cast(FakeFactory, getattr(importlib.import_module(module), attribute))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llmp.testing.serve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "fake", help="the fake to run: openai, gemini, anthropic (their plugins' names) or module:factory"
    )
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


def _knobs(parser: argparse.ArgumentParser, args: argparse.Namespace, factory: FakeFactory) -> dict[str, Any]:
    knobs: dict[str, Any] = {
        "ttft": args.latency_ttft,
        "token_delay": args.token_delay,
        "chunk_count": args.chunk_count,
        "api_keys": args.api_key,
        "record": args.record,
    }
    taken = inspect.signature(factory).parameters
    for name, flag in _OPTIONAL.items():
        value = getattr(args, name)
        if value is None or value == 0:
            continue  # not given: the factory's own default stands
        if name not in taken:
            parser.error(f"{flag} does not apply to the {args.fake} fake")
        knobs[name] = value
    return knobs


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        factory = load_fake(args.fake)
    except LookupError as exc:
        parser.error(str(exc))
    knobs = _knobs(parser, args, factory)

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

    with factory(options, **knobs) as server:
        info = {"base_url": server.base_url, "ca_path": str(server.ca_path), "api_key": server.api_key}
        print(json.dumps({**info, "pid": os.getpid()}), flush=True)
        # The server runs on its own thread; the main thread only waits, so it costs no CPU.
        while not done.wait(3600):
            pass
    return 0


def spawn(
    fake: str,
    *,
    ttft: float = 0.0,
    token_delay: float = 0.0,
    chunk_count: int | None = None,
    cached_tokens: int = 0,
    reasoning_tokens: int = 0,
    rpm: int | None = None,
    tpm: int | None = None,
    non_stream_delay: float = 0.0,
    api_keys: Iterable[str] | None = None,
    record: bool = False,
    h2_max_concurrent_streams: int | None = None,
    ca_dir: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    startup_timeout: float = 60.0,
) -> SpawnedServer:
    """Run the ``fake`` (a name from :func:`fake_names` or ``"module:factory"``) in a child
    process (for benchmarks, and tests that need a server in another process) and return its handle.

    The handle (:class:`~llmp.testing.SpawnedServer`) has ``base_url``, ``ca_path``, ``api_key``,
    ``pid``, ``stats()``, ``reset()``, ``stop()``, and is a context manager. A knob the fake does
    not have fails the child's start (``--rpm does not apply to the gemini fake``); ``extra_args``
    passes more flags through. ``ca_dir`` is the shared test CA's directory (default: the child
    inherits ``$LLMP_TEST_CA_DIR`` or the per-user default, so its certificate verifies against the
    same ``ca_path`` as this process's fakes). Records are off by default: nobody can read them
    there, and a long benchmark would only grow the child's memory.
    """
    from llmp.testing._server import spawn_server

    _spec(fake)  # an unknown name fails here, in the caller, not as a child that exits early
    args = [fake, "--latency-ttft", repr(ttft), "--token-delay", repr(token_delay)]
    if chunk_count is not None:
        args += ["--chunk-count", str(chunk_count)]
    if cached_tokens:
        args += ["--cached-tokens", str(cached_tokens)]
    if reasoning_tokens:
        args += ["--reasoning-tokens", str(reasoning_tokens)]
    if rpm is not None:
        args += ["--rpm", str(rpm)]
    if tpm is not None:
        args += ["--tpm", str(tpm)]
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
