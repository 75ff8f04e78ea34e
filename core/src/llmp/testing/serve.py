"""Run a fake provider server in the foreground.

    python -m llmp.testing.serve openai --latency-ttft 0.05 --token-delay 0.01

Once it is listening it prints one JSON line on stdout,
``{"base_url": ..., "ca_path": ..., "api_key": ..., "pid": ...}``, then serves until SIGINT or
SIGTERM (or, with ``--exit-on-stdin-eof``, until its stdin closes, which is how
``FakeOpenAIServer.spawn`` ties the child's life to its parent). Point a client at it with
``SSL_CERT_FILE=<ca_path> OPENAI_BASE_URL=<base_url> OPENAI_API_KEY=<api_key>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m llmp.testing.serve", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("provider", choices=["openai"], help="which provider's wire format to speak")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ttft", type=float, default=0.0, help="seconds before the first byte")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between stream deltas")
    parser.add_argument("--chunk-count", type=int, default=None, help="stream deltas per choice")
    parser.add_argument("--cached-tokens", type=int, default=0)
    parser.add_argument("--reasoning-tokens", type=int, default=0)
    parser.add_argument(
        "--api-key", action="append", default=None, help="accepted bearer key (repeatable); default: any"
    )
    parser.add_argument("--rpm", type=int, default=None, help="enforce a requests-per-minute budget")
    parser.add_argument("--tpm", type=int, default=None, help="enforce a tokens-per-minute budget")
    parser.add_argument("--record", action="store_true", help="keep every request in memory")
    parser.add_argument("--h2-max-concurrent-streams", type=int, default=None)
    parser.add_argument("--exit-on-stdin-eof", action="store_true", help="stop when stdin closes")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    from llmp.testing._fake_openai import FakeOpenAIServer
    from llmp.testing._server import ServerOptions

    options = ServerOptions(host=args.host, port=args.port)
    if args.h2_max_concurrent_streams is not None:
        options = dataclasses.replace(options, h2_max_concurrent_streams=args.h2_max_concurrent_streams)
    server = FakeOpenAIServer(
        ttft=args.latency_ttft,
        token_delay=args.token_delay,
        chunk_count=args.chunk_count,
        cached_tokens=args.cached_tokens,
        reasoning_tokens=args.reasoning_tokens,
        api_keys=args.api_key,
        rpm=args.rpm,
        tpm=args.tpm,
        record=args.record,
        options=options,
    )
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

    with server:
        info = {"base_url": server.base_url, "ca_path": str(server.ca_path), "api_key": server.api_key}
        print(json.dumps({**info, "pid": os.getpid()}), flush=True)
        # The server runs on its own thread; the main thread only waits, so it costs no CPU.
        while not done.wait(3600):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
