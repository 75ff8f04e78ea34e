"""llmp + llmp-openai end to end: the real openai SDK over TLS/HTTP/2 to the local fake server."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

import llmp
from llmp._retry import RetryPolicy
from llmp.errors import (
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    GenerationError,
    MalformedResponseError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderTimeoutError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    UnknownModelError,
    UnsupportedParameterError,
)
from llmp.testing import (
    bad_request,
    malformed_chunk,
    quota_exceeded,
    rate_limited,
    reset_mid_stream,
    server_error,
    slow,
    truncated_stream,
)
from llmp_openai.testing import FakeOpenAIServer

PROMPTS = ["What is 2+2?", "Name a color.", "Say hi."]


def chat_requests(server: FakeOpenAIServer) -> list[llmp.testing.RequestRecord]:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def test_mission_example(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("gpt-4.1-mini")
    results = llm.generate(PROMPTS)
    assert results == [[f"Echo: {p}"] for p in PROMPTS]
    records = chat_requests(fake_openai)
    assert len(records) == 3
    assert {r.http_version for r in records} == {"2"}, "OpenAI traffic must use HTTP/2"
    assert llm.total_input_tokens > 0
    assert llm.total_output_tokens == sum(len(f"Echo: {p}".split()) for p in PROMPTS)
    expected = (llm.total_input_tokens * 0.40 + llm.total_output_tokens * 1.60) / 1e6
    assert llm.total_cost == pytest.approx(expected)

    # The rerun is served from the disk cache: no request, no cost.
    cost = llm.total_cost
    assert llm.generate(PROMPTS) == results
    assert len(chat_requests(fake_openai)) == 3
    assert llm.total_cost == cost
    assert llm.usage.cache_hits == 3

    # A new instance sees the same cache.
    other = llmp.LLM("gpt-4.1-mini")
    assert other.generate(PROMPTS) == results
    assert len(chat_requests(fake_openai)) == 3
    assert other.total_cost == 0.0
    assert other.usage.cache_hits == 3

    samples = llm.generate("Pick a number.", n=3)
    assert len(samples) == 1
    assert len(samples[0]) == 3
    assert len(set(samples[0])) == 3
    assert chat_requests(fake_openai)[-1].body["n"] == 3

    reply = llm.chat("hello there")
    assert isinstance(reply, str)
    assert reply == "Echo: hello there"

    # With only llmp-openai installed (as in the packaging test), Gemini names its plugin.
    from llmp_openai import _hooks

    openai_only = llmp.Registry(load_entry_points=False, plugins=[_hooks])
    with pytest.raises(UnknownModelError, match="pip install llmp-gemini"):
        llmp.LLM("gemini/gemini-3-flash-preview", registry=openai_only)


def test_messages_system_prompt_and_params_reach_the_wire(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("gpt-4.1-mini", temperature=0)
    llm.generate(["q"], system_prompt="Be brief.", max_tokens=7, seed=3)
    body = chat_requests(fake_openai)[-1].body
    assert body["messages"] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]
    assert (body["temperature"], body["max_tokens"], body["seed"]) == (0, 7, 3)
    assert "stream" not in body


def test_reasoning_model_parameter_mapping_on_the_wire(fake_openai: FakeOpenAIServer) -> None:
    llmp.LLM("o4-mini").generate(["q"], max_tokens=9, reasoning="high")
    body = chat_requests(fake_openai)[-1].body
    assert body["max_completion_tokens"] == 9
    assert body["reasoning_effort"] == "high"
    assert "max_tokens" not in body
    # A sampling setting a reasoning model cannot take is refused by name, before anything is sent.
    with pytest.raises(UnsupportedParameterError, match=r"o4-mini is a reasoning model.*temperature"):
        llmp.LLM("o4-mini").generate(["q"], temperature=0.3)
    assert len(chat_requests(fake_openai)) == 1


def test_stream_joined_equals_call_and_counts_usage(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.cached_tokens = 2
    fake_openai.reasoning_tokens = 1
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    deltas = list(llm.stream("one two three four"))
    assert len(deltas) > 1
    assert "".join(deltas) == llm.chat("one two three four")
    body = chat_requests(fake_openai)[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert llm.usage.requests == 2
    assert llm.total_cached_tokens == 4
    assert llm.usage.reasoning_tokens == 2


async def test_async_api_and_stream_cache(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("gpt-4.1-mini")
    assert await llm.agenerate(["a", "b"]) == [["Echo: a"], ["Echo: b"]]
    assert await llm.achat("c") == "Echo: c"
    streamed = [d async for d in llm.astream("d e f")]
    assert "".join(streamed) == "Echo: d e f"
    before = fake_openai.request_count
    # Streamed answers are cached too, and a hit streams the whole text at once.
    assert [d async for d in llm.astream("d e f")] == ["Echo: d e f"]
    assert await llm.achat("d e f") == "Echo: d e f"
    assert fake_openai.request_count == before


async def test_sync_api_inside_a_running_event_loop(fake_openai: FakeOpenAIServer) -> None:
    # What Jupyter does: a sync call while the caller's loop is running.
    llm = llmp.LLM("gpt-4.1-mini")
    assert llm.generate(["inside"]) == [["Echo: inside"]]
    assert llmp.multi_chat(["gpt-4.1-mini", "gpt-4.1-nano"], "x") == {
        "gpt-4.1-mini": "Echo: x",
        "gpt-4.1-nano": "Echo: x",
    }


def test_multi_generate_runs_models_in_parallel(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.ttft = 0.2
    models = ["gpt-4.1-mini", "gpt-4.1-nano", "gpt-4.1"]
    out = llmp.multi_generate(models, ["p"], llm_kwargs={"cache": False})
    assert out == {m: [["Echo: p"]] for m in models}
    assert fake_openai.max_in_flight == 3
    assert {r.body["model"] for r in chat_requests(fake_openai)} == set(models)


def test_cache_key_covers_what_changes_the_answer(fake_openai: FakeOpenAIServer) -> None:
    llmp.LLM("gpt-4.1-mini").generate(["same"], temperature=0)
    assert fake_openai.request_count == 1
    llmp.LLM("gpt-4.1-mini", timeout=30, max_concurrent=3).generate(["same"], temperature=0)
    assert fake_openai.request_count == 1, "timeout and concurrency do not change the answer"
    llmp.LLM("gpt-4.1-mini").generate(["same"], temperature=0.5)
    llmp.LLM("gpt-4.1-nano").generate(["same"], temperature=0)
    llmp.LLM("gpt-4.1-mini").generate(["same"], temperature=0, n=2)
    llmp.LLM("gpt-4.1-mini").generate(["same"], "system", temperature=0)
    assert fake_openai.request_count == 5


def test_rate_limit_is_retried_after_retry_after(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(rate_limited(retry_after=0.3), times=2)
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    assert llm.chat("x") == "Echo: x"
    times = [r.timestamp for r in chat_requests(fake_openai)]
    assert len(times) == 3
    assert times[1] - times[0] >= 0.3
    assert times[2] - times[1] >= 0.3
    assert llm.usage.requests == 1


def test_rate_limit_with_retry_after_ms(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(rate_limited(retry_after=None, retry_after_ms=150))
    assert llmp.LLM("gpt-4.1-mini", cache=False).chat("x") == "Echo: x"
    t = [r.timestamp for r in chat_requests(fake_openai)]
    assert t[1] - t[0] >= 0.15


def test_server_errors_are_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(server_error(500))
    fake_openai.inject(server_error(502))
    fake_openai.inject(server_error(503))
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    llm._engine.sender.retry = RetryPolicy(max_retries=6, base=0.01)
    assert llm.chat("x") == "Echo: x"
    assert len(chat_requests(fake_openai)) == 4


def test_retries_give_up_with_a_typed_error(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(server_error(503), times=None)
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_retries=2)
    llm._engine.sender.retry = RetryPolicy(max_retries=2, base=0.01)
    with pytest.raises(ServerError) as info:
        llm.chat("x")
    assert info.value.status_code == 503
    assert len(chat_requests(fake_openai)) == 3
    # A 429 that says when to come back does not use up a retry, up to rate_limit_retries of them.
    fake_openai.reset()
    fake_openai.inject(rate_limited(retry_after=0.01), times=None)
    llm._engine.sender.retry = RetryPolicy(max_retries=2, base=0.01, rate_limit_retries=2)
    with pytest.raises(RateLimitError) as limited:
        llm.chat("x")
    assert limited.value.status_code == 429
    assert limited.value.retry_after == pytest.approx(0.01)
    assert len(chat_requests(fake_openai)) == 1 + 2 + 2


def test_401_is_not_retried_and_hides_the_key(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-wrong-" + "x" * 30
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    llm = llmp.LLM("gpt-4.1-mini")
    with pytest.raises(AuthenticationError) as info:
        llm.chat("x")
    assert info.value.status_code == 401
    assert len(chat_requests(fake_openai)) == 1
    assert secret not in str(info.value)
    assert secret not in repr(info.value)
    assert secret not in repr(llm)
    assert secret not in repr(llm._engine.keys)


def test_quota_exceeded_is_not_retried(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(quota_exceeded(), times=None)
    with pytest.raises(QuotaExceededError, match="quota"):
        llmp.LLM("gpt-4.1-mini", cache=False).chat("x")
    assert len(chat_requests(fake_openai)) == 1


def test_bad_request_is_per_item_and_nothing_finished_is_lost(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(
        bad_request("This model's maximum context length is 8 tokens.", code="context_length_exceeded"),
        times=None,
        when=lambda body: body["messages"][-1]["content"] == "too long",
    )
    llm = llmp.LLM("gpt-4.1-mini")
    with pytest.raises(GenerationError) as info:
        llm.generate(["a", "too long", "c"])
    assert info.value.results == [["Echo: a"], None, ["Echo: c"]]
    error = info.value.errors[1]
    assert isinstance(error, BadRequestError)
    assert "maximum context length" in error.message
    assert error.status_code == 400
    assert len(chat_requests(fake_openai)) == 3, "a 400 is not retried"
    out = llm.generate(["a", "too long", "c"], on_error="return")
    assert out[0] == ["Echo: a"]
    assert isinstance(out[1], BadRequestError)


def test_key_rotation_skips_a_rejected_key(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_KEYS", f"sk-bad-key-aaaaaaaaaaaa,{fake_openai.api_key}")
    # One at a time, so "after the 401" is well defined: the bad key is never used again.
    llm = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=1)
    assert llm.generate([str(i) for i in range(10)]) == [[f"Echo: {i}"] for i in range(10)]
    auths = [r.headers["authorization"] for r in chat_requests(fake_openai)]
    assert auths.count("Bearer sk-bad-key-aaaaaaaaaaaa") == 1, "the rejected key steps aside for good"
    assert len(auths) == 11
    # Concurrently, every prompt still succeeds on the remaining key.
    many = llmp.LLM("gpt-4.1-mini", cache=False, max_concurrent=8)
    assert many.generate([f"c{i}" for i in range(20)]) == [[f"Echo: c{i}"] for i in range(20)]


def test_reset_before_any_text_is_retried_after_text_is_raised(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    fake_openai.inject(reset_mid_stream(after_chunks=0))
    assert "".join(llm.stream("a b c")) == "Echo: a b c"
    fake_openai.inject(reset_mid_stream(after_chunks=3))
    with pytest.raises(ProviderConnectionError):
        list(llm.stream("a b c"))


@pytest.mark.parametrize("fault", [truncated_stream(after_chunks=2), malformed_chunk(after_chunks=2)])
def test_broken_streams_raise_malformed_response(fake_openai: FakeOpenAIServer, fault: object) -> None:
    fake_openai.inject(fault)  # type: ignore[arg-type]
    with pytest.raises(MalformedResponseError):
        list(llmp.LLM("gpt-4.1-mini", cache=False, max_retries=0).stream("a b c d"))


def test_slow_server_times_out(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(slow(5.0), times=None)
    with pytest.raises(ProviderTimeoutError):
        llmp.LLM("gpt-4.1-mini", cache=False, timeout=0.3, max_retries=0).chat("x")


def test_concurrency_is_bounded_by_max_concurrent(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.ttft = 0.05
    llm = llmp.LLM("gpt-4.1-mini", max_concurrent=5, cache=False)
    assert len(llm.generate([str(i) for i in range(40)])) == 40
    assert fake_openai.max_in_flight == 5


def test_global_concurrency_caps_in_flight(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LLMP_GLOBAL_CONCURRENCY", "2")
    monkeypatch.setenv("LLMP_GLOBAL_SLOTS_DIR", str(tmp_path / "slots"))
    fake_openai.ttft = 0.05
    llm = llmp.LLM("gpt-4.1-mini", max_concurrent=16, cache=False)
    assert len(llm.generate([str(i) for i in range(12)])) == 12
    assert fake_openai.max_in_flight == 2


def test_bad_input_is_a_clear_error(fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    llm = llmp.LLM("gpt-4.1-mini")
    assert llm.generate([]) == []
    with pytest.raises(ConfigurationError, match=r"prompts\[1\] is int"):
        llm.generate(["ok", 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="n must be"):
        llm.generate(["x"], n=0)
    with pytest.raises(ValueError, match="max_concurrent"):
        llmp.LLM("gpt-4.1-mini", max_concurrent=-1)
    with pytest.raises(ValueError, match="stream"):
        llm.generate(["x"], stream=True)
    assert fake_openai.request_count == 0
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("OPENAI_KEYS", raising=False)
    with pytest.raises(MissingAPIKeyError, match="OPENAI_API_KEY or OPENAI_KEYS"):
        llmp.LLM("gpt-4.1-mini")


def test_user_route_to_an_openai_compatible_host(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = llmp.Registry()
    monkeypatch.setenv("MYVLLM_API_KEY", fake_openai.api_key)
    llmp.add_route("myvllm/*", base_url=fake_openai.base_url, key_env="MYVLLM", registry=registry)
    llm = llmp.LLM("myvllm/Qwen3-8B", registry=registry)
    assert llm.provider == "myvllm"
    assert llm.chat("hi") == "Echo: hi"
    assert chat_requests(fake_openai)[-1].body["model"] == "Qwen3-8B"
    assert llm.total_cost is None, "no price is known for a user's own host: cost is None, not a guess"


def test_openrouter_asks_for_price_sorted_routing(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM(
        "openrouter/meta-llama/llama-3-8b", base_url=fake_openai.base_url, api_key=fake_openai.api_key
    )
    llm.chat("hi")
    body = chat_requests(fake_openai)[-1].body
    assert body["model"] == "meta-llama/llama-3-8b"
    assert body["provider"] == {"sort": "price"}


def test_local_route_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_BASE_URL", "http://127.0.0.1:9/v1")
    llm = llmp.LLM("local/llama3")
    assert llm._engine.keys is None
    assert llm._engine.base_url == "http://127.0.0.1:9/v1"


def test_key_never_reaches_the_cache_file(fake_openai: FakeOpenAIServer, tmp_path: Path) -> None:
    llmp.LLM("gpt-4.1-mini", cache=tmp_path / "c").generate(["secret check"])
    from llmp._cache import shared_cache

    shared_cache(tmp_path / "c").flush()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "c").rglob("*") if p.is_file())
    assert b"Echo: secret check" in blob
    assert fake_openai.api_key.encode() not in blob


def test_repeated_asyncio_run_reuses_nothing_stale(fake_openai: FakeOpenAIServer) -> None:
    llm = llmp.LLM("gpt-4.1-mini", cache=False)
    for i in range(3):
        assert asyncio.run(llm.achat(f"loop {i}")) == f"Echo: loop {i}"


def test_key_never_reaches_a_log_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    # The server runs in its own process: only the client's log lines are captured (an in-process
    # server's HTTP/2 decoder would log the request headers it receives, which says nothing
    # about the client).
    good = "sk-test-log-" + "z" * 30
    wrong = "sk-wrong-log-" + "y" * 30
    with FakeOpenAIServer.spawn(api_keys=[good]) as server:
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        monkeypatch.setenv("OPENAI_LOG", "debug")
        monkeypatch.setenv("LLMP_CACHE_DIR", str(tmp_path))
        with caplog.at_level(logging.DEBUG):
            assert (
                llmp.LLM("gpt-4.1-mini", base_url=server.base_url, api_key=good).chat("logged")
                == "Echo: logged"
            )
            with pytest.raises(AuthenticationError):
                llmp.LLM("gpt-4.1-mini", cache=False, base_url=server.base_url, api_key=wrong).chat("logged")
    assert any(r.name.startswith("hpack") for r in caplog.records), "HTTP/2 debug logging was captured"
    assert good not in caplog.text
    assert wrong not in caplog.text


def test_http2_opens_more_connections_past_100_streams(fake_openai: FakeOpenAIServer) -> None:
    # httpcore2 carries at most 100 streams on one HTTP/2 connection; without more connections
    # 250 concurrent requests would be capped at 100 in flight.
    fake_openai.ttft = 1.5  # long enough that all 250 are in flight together, even on a slow machine
    llm = llmp.LLM("gpt-4.1-mini", max_concurrent=250, cache=False)
    assert len(llm.generate([f"p{i}" for i in range(250)])) == 250
    assert fake_openai.max_in_flight == 250
    assert {r.http_version for r in chat_requests(fake_openai)} == {"2"}


def test_requests_carry_the_headers_the_sdk_itself_sends(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # llmp lets the SDK build one request per connection and reuses its URL and headers (see
    # llmp_openai._client): what reaches the wire must still be what chat.completions.create
    # sends, organization and project headers from the environment included.
    import httpx2
    import openai

    monkeypatch.setenv("OPENAI_ORG_ID", "org-test")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-test")

    async def with_the_sdk() -> None:
        async with httpx2.AsyncClient(http2=True) as http:
            sdk = openai.AsyncOpenAI(http_client=http, max_retries=0)
            messages: list[Any] = [{"role": "user", "content": "hi"}]
            await sdk.chat.completions.create(model="gpt-4.1-mini", messages=messages)

    async def with_llmp() -> None:
        # A fresh event loop gets fresh clients, built with the environment set above.
        llm = llmp.LLM("gpt-4.1-mini", cache=False)
        assert await llm.achat("hi") == "Echo: hi"
        assert "".join([text async for text in llm.astream("hi")]) == "Echo: hi"

    asyncio.run(with_the_sdk())
    asyncio.run(with_llmp())
    sdk_request, called, streamed = chat_requests(fake_openai)
    # The bodies differ (llmp asks for usage in streams); the read timeout is llmp's (600.0 s)
    # where the plain SDK's default reads "600".
    varying = {"content-length", "x-stainless-read-timeout"}
    expected = {k: v for k, v in sdk_request.headers.items() if k not in varying}
    assert expected["openai-organization"] == "org-test"
    assert expected["authorization"] == f"Bearer {fake_openai.api_key}"
    for record in (called, streamed):
        assert {k: v for k, v in record.headers.items() if k not in varying} == expected
        assert record.path == sdk_request.path
        assert float(record.headers["x-stainless-read-timeout"]) == 600
        assert record.body["messages"] == sdk_request.body["messages"]
    assert int(called.headers["content-length"]) == len(called.raw_body)
