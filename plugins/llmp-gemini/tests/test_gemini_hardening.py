"""Defects found by trying llmp-gemini as a new user would (issue 14, items 5-7), each pinned
through the real wire."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import llmp
from llmp.errors import EmptyResponseError, IncompleteResponseError
from llmp.testing._tls import TLSFiles, make_tls_files
from llmp_gemini import _hooks
from llmp_gemini.testing import FakeGeminiServer

MakeLLM = Callable[..., llmp.LLM]


# ----- item 5: fewer candidates than candidate_count -----


def test_fewer_candidates_than_asked_is_raised_once_with_the_billed_usage(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    # Before: MalformedResponseError without usageMetadata's tokens, retried: one generate(n=2)
    # became 7 billed requests. Now what came is returned, and the core raises once.
    fake_gemini.max_candidates = 1
    llm = make_llm()  # default retries
    with pytest.raises(
        IncompleteResponseError, match="asked for n=2 samples, the provider returned 1"
    ) as info:
        llm.complete("one two three", n=2)
    assert fake_gemini.request_count == 1, "a short answer cannot change: not retried"
    usage = info.value.usage
    assert usage is not None
    assert (usage.input_tokens, usage.output_tokens) == (3, 4), "the billed usage, not zeros"
    assert (llm.total_input_tokens, llm.total_output_tokens) == (3, 4), "and it is counted"


# ----- item 6: an empty STOP answer at temperature 0 -----


def test_an_empty_answer_at_temperature_0_is_not_retried(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    # Before: 7 billed requests over ~20 s for one deterministic empty answer.
    fake_gemini.empty_text = True
    with pytest.raises(EmptyResponseError) as info:
        make_llm(temperature=0).chat("x")
    assert fake_gemini.request_count == 1
    assert not info.value.retryable
    assert info.value.usage is not None
    assert info.value.usage.input_tokens == 1
    # Where another try can differ, the core retries it (as it does for every plugin).
    with pytest.raises(EmptyResponseError):
        make_llm(temperature=0.7, max_retries=2).chat("x")
    assert fake_gemini.request_count == 1 + 3


# ----- item 7: concurrency over HTTP/1.1 -----


@contextlib.contextmanager
def http1_server(app: Any, tls: TLSFiles | None = None) -> Iterator[str]:
    """`app` under hypercorn speaking HTTP/1.1 only: plain ``http://`` (as a gateway or local
    proxy is reached), or TLS that offers no ``h2`` in ALPN. Yields the origin."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.alpn_protocols = ["http/1.1"]
    config.loglevel = "WARNING"
    config.graceful_timeout = 1.0
    if tls is not None:
        config.certfile, config.keyfile = str(tls.cert_path), str(tls.key_path)
    stop = threading.Event()
    loop_ready = threading.Event()
    state: dict[str, Any] = {}

    def run() -> None:
        async def main() -> None:
            state["loop"] = asyncio.get_running_loop()
            state["stop"] = asyncio.Event()
            loop_ready.set()
            await serve(app, config, shutdown_trigger=state["stop"].wait, mode="asgi")

        asyncio.run(main())
        stop.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert loop_ready.wait(10)
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(10)


def _peak(fake: FakeGeminiServer, base_url: str, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("GEMINI_BASE_URL", base_url)
    registry = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    with llmp.LLM("gemini/gemini-2.5-flash", registry=registry, cache=False, max_concurrent=16) as llm:
        assert llm.chat("warm up") == "Echo: warm up"  # the first answer shows the HTTP version
        fake.reset()
        fake.ttft = 0.3  # long enough that every allowed request is in flight at once
        assert llm.generate([f"p{i}" for i in range(32)]) == [[f"Echo: p{i}"] for i in range(32)]
    assert {r.http_version for r in fake.requests} == {"1.1"}
    return fake.max_in_flight


def test_an_http_base_url_runs_max_concurrent_requests_at_once(
    fake_gemini: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: the pool held HTTP/2's 4 spare connections, and over HTTP/1.1 each request needs
    # its own, so 4 ran at once whatever max_concurrent said.
    with http1_server(fake_gemini) as origin:
        assert _peak(fake_gemini, origin, monkeypatch) == 16


def test_an_https_server_without_http2_runs_max_concurrent_requests_at_once(
    fake_gemini: FakeGeminiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    tls = make_tls_files()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(tls.ca_path))
        with http1_server(fake_gemini, tls) as origin:
            # The first answer arrives over HTTP/1.1 on the HTTP/2-sized pool; then it is resized.
            assert _peak(fake_gemini, origin, monkeypatch) == 16
    finally:
        tls.remove()
