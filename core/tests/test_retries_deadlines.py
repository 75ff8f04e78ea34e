"""Retries, rate limits, whole-request deadlines and the per-instance bound."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from llmp import errors
from llmp._streaming import stream
from llmp.testing import FunctionClient
from llmp.types import Chunk, RateLimitInfo, Request, Usage

MakeLLM = Callable[..., Any]


# -- whole-request deadlines (issue 15 item 3) -----------------------------------------------


def test_a_call_that_never_finishes_is_cut_off_at_the_timeout(make_llm: MakeLLM) -> None:
    cancelled = []

    async def trickle(request: Request) -> str:
        try:
            await asyncio.sleep(3600)  # a server that keeps the request open
        except asyncio.CancelledError:
            cancelled.append(True)
            raise
        return "never"

    llm, client = make_llm(trickle, timeout=0.2, max_retries=1)
    with pytest.raises(errors.ProviderTimeoutError, match=r"timeout=0\.2"):
        llm.chat("hi")
    assert client.request_count == 2, "a timeout is retried"
    assert cancelled == [True, True], "each attempt was cut off, not left running"


def test_a_trickling_stream_is_cut_off_at_the_timeout(make_llm: MakeLLM) -> None:
    closed = []

    async def trickle(request: Request) -> AsyncIterator[Chunk]:
        try:
            while True:
                yield Chunk(text=".")
                await asyncio.sleep(0.02)  # one byte now and then: each read is quick
        finally:
            closed.append(True)

    llm, _ = make_llm(FunctionClient(lambda r: "x", stream=trickle), timeout=0.3, max_retries=0)
    got: list[str] = []

    def read() -> None:
        got.extend(llm.stream("hi"))

    with pytest.raises(errors.ProviderTimeoutError, match=r"did not finish within timeout=0\.3"):
        read()
    assert got, "deltas before the deadline were handed out"
    assert closed == [True], "the provider's stream was closed"


def test_a_slow_consumer_is_not_cancelled_by_the_deadline_between_deltas(make_llm: MakeLLM) -> None:
    # The deadline only cancels while llmp waits for the provider, never the caller's own code.
    llm, _ = make_llm("one two three four five six", timeout=0.2, client_kwargs={"chunk_size": 3})

    async def main() -> str:
        out = []
        async for delta in llm.astream("hi"):
            out.append(delta)
            if len(out) == 1:
                await asyncio.sleep(0.4)  # past the deadline, in the caller's code
        return "".join(out)

    with pytest.raises(errors.ProviderTimeoutError):
        asyncio.run(main())


# -- a failed stream attempt leaks nothing into the next (issue 14 item 3) --------------------


def test_a_failed_stream_attempt_s_samples_and_usage_do_not_leak(make_llm: MakeLLM) -> None:
    attempts = []

    async def flaky(request: Request) -> AsyncIterator[Chunk]:
        attempts.append(1)
        if len(attempts) == 1:
            yield Chunk(text="LEAK", index=1)
            yield Chunk(usage=Usage(100, 0, 100))
            raise errors.ServerError("boom", provider="test", status_code=500)
        yield Chunk(text="a", index=0)
        yield Chunk(text="b", index=1)
        yield Chunk(index=0, finish_reason="stop")
        yield Chunk(index=1, finish_reason="stop")
        yield Chunk(usage=Usage(3, 0, 2))

    llm, _ = make_llm(FunctionClient(lambda r: "x", stream=flaky))
    engine = llm._engine
    request = engine.request([{"role": "user", "content": "hi"}], 2, {})

    async def main() -> tuple[list[str], Any]:
        texts = [text async for text in stream(engine, request, text_only=True)]
        return texts, await engine.cached(engine.cache_key(request), None)

    texts, cached = asyncio.run(main())
    assert texts == ["a"]
    assert cached is not None
    assert cached.texts == ["a", "b"]
    assert llm.usage.output_tokens == 2


# -- rate limits (issue 15 items 6 and 7) -----------------------------------------------------


def test_a_retry_after_longer_than_llmp_waits_fails_at_once(make_llm: MakeLLM) -> None:
    def limited(request: Request) -> str:
        raise errors.RateLimitError("slow down", provider="test", status_code=429, retry_after=3600)

    llm, client = make_llm(limited, timeout=5)
    with pytest.raises(errors.RateLimitError, match="asked to wait 3600 s") as info:
        llm.chat("hi")
    assert "5 s" in str(info.value)
    assert client.request_count == 1


def test_a_long_retry_after_does_not_pause_the_other_prompts(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        if request.messages[-1]["content"] == "p0":
            raise errors.RateLimitError("slow down", provider="test", status_code=429, retry_after=3600)
        return "ok"

    llm, client = make_llm(answer, max_concurrent=4)
    results = llm.generate([f"p{i}" for i in range(40)], on_error="return")
    assert isinstance(results[0], errors.RateLimitError)
    assert results[1:] == [["ok"]] * 39
    assert client.request_count == 40


def test_retry_after_zero_uses_the_reset_headers_and_does_not_burn_retries(make_llm: MakeLLM) -> None:
    calls = []

    def answer(request: Request) -> str:
        calls.append(1)
        if len(calls) <= 12:
            info = RateLimitInfo(limit_requests=10, remaining_requests=0, reset_requests=0.01)
            raise errors.RateLimitError(
                "429", provider="test", status_code=429, retry_after=0, rate_limit=info
            )
        return "through"

    llm, _ = make_llm(answer, max_retries=2)
    assert llm.chat("hi") == "through"
    assert len(calls) == 13, "12 rate-limited attempts with a known reset did not use up max_retries=2"


def test_max_retries_zero_means_no_retry_even_with_a_known_wait(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        raise errors.RateLimitError("429", provider="test", status_code=429, retry_after=0.01)

    llm, client = make_llm(answer, max_retries=0)
    with pytest.raises(errors.RateLimitError):
        llm.chat("hi")
    assert client.request_count == 1


def test_a_rate_limit_without_any_wait_signal_counts_against_max_retries(make_llm: MakeLLM) -> None:
    def answer(request: Request) -> str:
        raise errors.RateLimitError("429", provider="test", status_code=429)

    llm, client = make_llm(answer, max_retries=2)
    with pytest.raises(errors.RateLimitError):
        llm.chat("hi")
    assert client.request_count == 3


# -- the instance bound over rotated keys (issue 15 item 8) -----------------------------------


def test_max_concurrent_bounds_the_instance_over_all_its_keys(
    make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTATE_KEYS", "key-a,key-b,key-c")

    async def slow(request: Request) -> str:
        await asyncio.sleep(0.005)  # simulated latency, so requests overlap
        return "ok"

    client = FunctionClient(slow)
    import llmp

    llm = llmp.LLM("test/m", registry=client.registry(key_env="ROTATE"), cache=False, max_concurrent=8)
    llm.generate([f"p{i}" for i in range(200)])
    assert client.max_in_flight == 8
    assert {s.api_key for s in client.settings} == {"key-a", "key-b", "key-c"}


# -- retries are visible (issue 14 item 13) ---------------------------------------------------


def test_retries_are_logged_without_the_key(make_llm: MakeLLM, caplog: pytest.LogCaptureFixture) -> None:
    replies = iter([errors.ServerError("overloaded", provider="test", status_code=503), "fine"])

    def answer(request: Request) -> str:
        value = next(replies)
        if isinstance(value, Exception):
            raise value
        return value

    llm, _ = make_llm(answer, api_key="sk-do-not-log-me-123")
    with caplog.at_level(logging.INFO, logger="llmp"):
        assert llm.chat("hi") == "fine"
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("llmp")]
    assert any("ServerError 503" in m and "retrying in" in m for m in messages), messages
    assert not any("sk-do-not-log-me-123" in m for m in messages)
