"""The fake OpenAI server, driven by the real openai SDK and by raw httpx2 over TLS."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from llmp.testing import (
    MalformedChunk,
    ServerOptions,
    StatusError,
    bad_request,
    malformed_chunk,
    quota_exceeded,
    rate_limited,
    reset_mid_stream,
    server_error,
    slow,
    truncated_stream,
)
from llmp.testing._wire import split_pieces
from llmp_openai.testing import FakeOpenAIServer, format_duration

USER: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hello big world"}]
DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$|^(\d+)ms$")


def parse_duration(text: str) -> float:
    match = DURATION.match(text)
    assert text, "empty duration"
    assert match is not None, f"not an OpenAI duration: {text!r}"
    hours, minutes, seconds, millis = match.groups()
    if millis is not None:
        return int(millis) / 1000
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


@asynccontextmanager
async def sdk(
    server: FakeOpenAIServer, *, http2: bool = True, api_key: str | None = None, **kwargs: Any
) -> AsyncIterator[openai.AsyncOpenAI]:
    # Created inside the test, after the fixture set SSL_CERT_FILE: httpx2 reads it at creation.
    async with httpx2.AsyncClient(http2=http2) as http:
        yield openai.AsyncOpenAI(
            http_client=http,
            base_url=server.base_url,
            api_key=api_key or server.api_key,
            max_retries=kwargs.pop("max_retries", 0),
            **kwargs,
        )


async def collect(stream: AsyncIterator[Any], into: list[Any]) -> None:
    """Append every item to ``into`` so a test can see what arrived before a failure."""
    async for item in stream:
        into.append(item)


def auth(server: FakeOpenAIServer) -> dict[str, str]:
    return {"authorization": f"Bearer {server.api_key}"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def private_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeOpenAIServer]]:
    """Factory for servers with a test's own settings, stopped after the test."""
    servers: list[FakeOpenAIServer] = []

    def make(**kwargs: Any) -> FakeOpenAIServer:
        server = FakeOpenAIServer(**kwargs).start()
        servers.append(server)
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_path))
        return server

    yield make
    for server in servers:
        server.stop()


# ----- transport -----


@pytest.mark.parametrize(("http2", "expected"), [(True, "2"), (False, "1.1")])
async def test_protocol_negotiated_and_recorded(
    fake_openai: FakeOpenAIServer, http2: bool, expected: str
) -> None:
    body = {"model": "gpt-4o-mini", "messages": USER}
    async with httpx2.AsyncClient(http2=http2) as http:
        response = await http.post(
            f"{fake_openai.base_url}/chat/completions", json=body, headers=auth(fake_openai)
        )
    assert response.status_code == 200
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    (record,) = fake_openai.requests
    assert record.http_version == expected
    assert (record.method, record.path, record.status) == ("POST", "/v1/chat/completions", 200)
    assert record.body == body
    assert record.headers["authorization"] == f"Bearer {fake_openai.api_key}"
    assert abs(record.timestamp - time.time()) < 60


async def test_tls_is_verified_against_the_fake_ca_only(
    fake_openai: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    async with httpx2.AsyncClient(http2=True) as http:
        with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await http.get(f"{fake_openai.base_url}/models", headers=auth(fake_openai))
    # The explicit route for clients that do not read SSL_CERT_FILE.
    context = ssl.create_default_context(cafile=str(fake_openai.ca_path))
    async with httpx2.AsyncClient(http2=True, verify=context) as http:
        response = await http.get(f"{fake_openai.base_url}/models", headers=auth(fake_openai))
    assert response.status_code == 200


async def test_fixture_points_the_environment_at_the_server(
    fake_openai: FakeOpenAIServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert os.environ["OPENAI_BASE_URL"] == fake_openai.base_url
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+/v1", fake_openai.base_url)
    assert os.environ["SSL_CERT_FILE"] == str(fake_openai.ca_path)
    assert re.fullmatch(r"sk-test-[A-Za-z0-9]{24}", os.environ["OPENAI_API_KEY"])
    assert Path(os.environ["LLMP_CACHE_DIR"]).is_relative_to(tmp_path)
    # A client configured from the environment alone (the SDK's own default HTTP client) works.
    client = openai.AsyncOpenAI(max_retries=0)
    reply = await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    await client.close()
    assert reply.choices[0].message.content == "Echo: hello big world"


# ----- the chat-completions wire -----


async def test_non_stream_parses_into_sdk_objects(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.cached_tokens = 2
    fake_openai.reasoning_tokens = 7
    messages: list[ChatCompletionMessageParam] = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hi"},
    ]
    async with sdk(fake_openai) as client:
        reply = await client.chat.completions.create(model="my-model", messages=messages, n=3)
    assert reply.object == "chat.completion"
    assert reply.model == "my-model"
    assert reply.id.startswith("chatcmpl-")
    assert reply.system_fingerprint
    assert [c.message.content for c in reply.choices] == [
        "Echo: say hi",
        "Echo: say hi [1]",
        "Echo: say hi [2]",
    ]
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert {c.finish_reason for c in reply.choices} == {"stop"}
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.refusal is None
    usage = reply.usage
    assert usage is not None
    assert usage.prompt_tokens == 4  # words of every message
    assert usage.completion_tokens == 3 + 4 + 4 + 7  # visible words plus reasoning
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 2
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 7


@pytest.mark.parametrize("http2", [True, False])
async def test_stream_parses_into_sdk_chunks(fake_openai: FakeOpenAIServer, http2: bool) -> None:
    async with sdk(fake_openai, http2=http2) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=USER, n=2, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    texts = ["", ""]
    finishes: dict[int, str | None] = {}
    for chunk in chunks[:-1]:
        (choice,) = chunk.choices
        texts[choice.index] += choice.delta.content or ""
        if choice.finish_reason:
            finishes[choice.index] = choice.finish_reason
        assert chunk.usage is None
    assert texts == ["Echo: hello big world", "Echo: hello big world [1]"]
    assert finishes == {0: "stop", 1: "stop"}
    assert chunks[0].choices[0].delta.role == "assistant"
    # One delta per word: the content arrives in pieces, not as one blob.
    assert sum(1 for c in chunks if c.choices and c.choices[0].index == 0 and c.choices[0].delta.content) == 4
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (3, 4 + 5)


async def test_stream_without_include_usage_has_no_usage_and_ends_with_done(
    fake_openai: FakeOpenAIServer,
) -> None:
    body = {"model": "m", "messages": USER, "stream": True}
    async with httpx2.AsyncClient(http2=True) as http:
        response = await http.post(
            f"{fake_openai.base_url}/chat/completions", json=body, headers=auth(fake_openai)
        )
    events = [e for e in response.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e[len("data: ") :]) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
@pytest.mark.parametrize("stream", [False, True])
async def test_token_budget_truncates_with_length(
    fake_openai: FakeOpenAIServer, param: str, stream: bool
) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "one two three four five"}]
    async with sdk(fake_openai) as client:
        kwargs: dict[str, Any] = {param: 3}
        if stream:
            chunks = [
                c
                async for c in await client.chat.completions.create(
                    model="m", messages=messages, stream=True, **kwargs
                )
            ]
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        else:
            reply = await client.chat.completions.create(model="m", messages=messages, **kwargs)
            text, finish = reply.choices[0].message.content or "", [reply.choices[0].finish_reason]
            assert reply.usage is not None
            assert reply.usage.completion_tokens == 3
    assert text == "Echo: one two"
    assert finish == ["length"]


async def test_stop_sequence_and_custom_reply_fn(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.reply_fn = lambda body, i: f"model={body['model']} choice={i} END trailing"
    async with sdk(fake_openai) as client:
        reply = await client.chat.completions.create(model="x", messages=USER, n=2, stop=["END"])
    assert [c.message.content for c in reply.choices] == ["model=x choice=0 ", "model=x choice=1 "]
    fake_openai.reset()
    async with sdk(fake_openai) as client:
        reply = await client.chat.completions.create(model="x", messages=USER)
    assert reply.choices[0].message.content == "Echo: hello big world"  # reset restored the default


async def test_models_endpoint(fake_openai: FakeOpenAIServer) -> None:
    async with sdk(fake_openai) as client:
        models = await client.models.list()
    assert "gpt-4o-mini" in [m.id for m in models.data]


@pytest.mark.parametrize(
    ("body", "param"),
    [({"model": "m"}, "messages"), ({"model": "m", "messages": USER, "n": 0}, "n")],
)
async def test_invalid_requests_get_openai_400s(
    fake_openai: FakeOpenAIServer, body: dict[str, Any], param: str
) -> None:
    async with httpx2.AsyncClient(http2=True) as http:
        response = await http.post(
            f"{fake_openai.base_url}/chat/completions", json=body, headers=auth(fake_openai)
        )
        garbage = await http.post(
            f"{fake_openai.base_url}/chat/completions", content=b"{nope", headers=auth(fake_openai)
        )
        missing = await http.post(f"{fake_openai.base_url}/nowhere", json=body, headers=auth(fake_openai))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert garbage.status_code == 400
    assert "JSON" in garbage.json()["error"]["message"]
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "Invalid URL (POST /v1/nowhere)"


async def test_strict_models_answers_404(private_server: Callable[..., FakeOpenAIServer]) -> None:
    server = private_server(models=["real-model"], strict_models=True)
    async with sdk(server) as client:
        assert (await client.chat.completions.create(model="real-model", messages=USER)).choices
        with pytest.raises(openai.NotFoundError) as caught:
            await client.chat.completions.create(model="ghost", messages=USER)
    assert caught.value.code == "model_not_found"


# ----- headers, auth and rate limits -----


async def test_rate_limit_and_request_id_headers(fake_openai: FakeOpenAIServer) -> None:
    async with sdk(fake_openai) as client:
        first = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
        second = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
    for raw in (first, second):
        headers = raw.headers
        for kind in ("requests", "tokens"):
            limit = int(headers[f"x-ratelimit-limit-{kind}"])
            # Budgets refill continuously, so at this (default, high) tier each request is soon back.
            assert 0 <= int(headers[f"x-ratelimit-remaining-{kind}"]) < limit
            assert parse_duration(headers[f"x-ratelimit-reset-{kind}"]) >= 0
        assert headers["x-request-id"].startswith("req_")
    assert first.request_id != second.request_id


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.0004, "1ms"),
        (0.02, "20ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (360, "6m0s"),
        (3723.5, "1h2m3.5s"),
    ],
)
def test_duration_format_matches_openai(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == pytest.approx(seconds, abs=0.001)


async def test_rpm_budget_enforced_with_accurate_headers(
    private_server: Callable[..., FakeOpenAIServer],
) -> None:
    clock = FakeClock()
    server = private_server(rpm=2, clock=clock)
    async with sdk(server) as client:
        first = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
        second = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert second.headers["x-ratelimit-remaining-requests"] == "0"
        # Two of two used, refilling at 2/min: full again in 60 s, the next one fits in 30 s.
        assert parse_duration(second.headers["x-ratelimit-reset-requests"]) == pytest.approx(60)
        error = caught.value
        assert error.code == "rate_limit_exceeded"
        assert error.type == "requests"
        assert error.response.headers["retry-after"] == "30"
        assert error.response.headers["retry-after-ms"] == "30000"
        assert client._parse_retry_after_header(error.response.headers) == pytest.approx(30)
        clock.now += 30
        again = await client.chat.completions.with_raw_response.create(model="m", messages=USER)
    assert again.headers["x-ratelimit-remaining-requests"] == "0"
    assert [r.status for r in server.requests] == [200, 200, 429, 200]


async def test_tpm_budget_enforced(private_server: Callable[..., FakeOpenAIServer]) -> None:
    server = private_server(tpm=20, clock=FakeClock())
    big: list[ChatCompletionMessageParam] = [{"role": "user", "content": " ".join(["w"] * 30)}]
    async with sdk(server) as client:
        ok = await client.chat.completions.with_raw_response.create(model="m", messages=USER)  # 3 + 4 tokens
        assert ok.headers["x-ratelimit-remaining-tokens"] == "13"
        with pytest.raises(openai.RateLimitError) as too_large:
            await client.chat.completions.create(model="m", messages=big)
        await client.chat.completions.create(model="m", messages=USER)
        with pytest.raises(openai.RateLimitError) as exhausted:
            await client.chat.completions.create(model="m", messages=USER)
    assert "Request too large" in too_large.value.message
    assert "retry-after" not in too_large.value.response.headers  # waiting cannot help
    assert exhausted.value.type == "tokens"
    assert int(exhausted.value.response.headers["retry-after"]) >= 1


async def test_wrong_or_missing_key_is_401_without_echoing_it(fake_openai: FakeOpenAIServer) -> None:
    wrong = "sk-wrong-abcdefghijklmnop"
    async with sdk(fake_openai, api_key=wrong) as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
    error = caught.value
    assert error.status_code == 401
    assert error.code == "invalid_api_key"
    assert error.type == "invalid_request_error"
    assert isinstance(error.body, dict)
    assert error.body["param"] is None
    assert "abcdefghijklmnop" not in error.response.text
    async with httpx2.AsyncClient(http2=True) as http:
        missing = await http.post(
            f"{fake_openai.base_url}/chat/completions", json={"model": "m", "messages": USER}
        )
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "invalid_api_key"


# ----- faults -----


async def test_injected_429_carries_retry_after_and_sdk_retries(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(rate_limited(retry_after=3, retry_after_ms=20), times=2)
    async with sdk(fake_openai) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model="m", messages=USER)
    headers = caught.value.response.headers
    assert (headers["retry-after"], headers["retry-after-ms"]) == ("3", "20")
    assert caught.value.code == "rate_limit_exceeded"
    # The SDK prefers retry-after-ms: it waits 20 ms, retries once into the second 429, then succeeds.
    async with sdk(fake_openai, max_retries=2) as client:
        reply = await client.chat.completions.create(model="m", messages=USER)
    assert reply.choices[0].message.content == "Echo: hello big world"
    assert [r.status for r in fake_openai.requests] == [429, 429, 200]
    assert fake_openai.pending_faults == []


@pytest.mark.parametrize(
    ("fault", "error", "fragment"),
    [
        (
            bad_request("Invalid 'temperature': too hot.", param="temperature"),
            openai.BadRequestError,
            "too hot",
        ),
        (StatusError(401), openai.AuthenticationError, "Incorrect API key"),
        (StatusError(408), openai.APIStatusError, "timed out"),
        (StatusError(409), openai.ConflictError, "conflicted"),
        (server_error(500), openai.InternalServerError, "server had an error"),
        (server_error(502), openai.InternalServerError, "Bad Gateway"),
        (server_error(503), openai.InternalServerError, "overloaded"),
        (quota_exceeded(), openai.RateLimitError, "quota"),
    ],
)
async def test_status_faults_raise_the_matching_sdk_error(
    fake_openai: FakeOpenAIServer, fault: StatusError, error: type[openai.APIStatusError], fragment: str
) -> None:
    fake_openai.inject(fault)
    async with sdk(fake_openai) as client:
        with pytest.raises(error) as caught:
            await client.chat.completions.create(model="m", messages=USER)
        after = await client.chat.completions.create(model="m", messages=USER)  # times=1: then healthy
    assert caught.value.status_code == fault.status
    assert fragment in caught.value.response.text
    assert "x-ratelimit-remaining-requests" in caught.value.response.headers
    assert after.choices[0].finish_reason == "stop"


@pytest.mark.parametrize("http2", [True, False])
async def test_reset_mid_stream_is_a_connection_error_after_k_chunks(
    fake_openai: FakeOpenAIServer, http2: bool
) -> None:
    fake_openai.inject(reset_mid_stream(after_chunks=2))
    received: list[Any] = []
    async with sdk(fake_openai, http2=http2) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(openai.APIConnectionError):
            await collect(stream, received)
        # The client (and over HTTP/2 the same connection) keeps working afterwards.
        reply = await client.chat.completions.create(model="m", messages=USER)
    assert [c.choices[0].delta.content for c in received] == ["", "Echo:"]
    assert reply.choices[0].message.content == "Echo: hello big world"


@pytest.mark.parametrize("http2", [True, False])
async def test_reset_mid_body_without_streaming(fake_openai: FakeOpenAIServer, http2: bool) -> None:
    fake_openai.inject(reset_mid_stream())
    async with sdk(fake_openai, http2=http2) as client:
        with pytest.raises(openai.APIConnectionError):
            await client.chat.completions.create(model="m", messages=USER)


async def test_truncated_stream_ends_without_finish_or_done(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(truncated_stream(after_chunks=3))
    async with sdk(fake_openai) as client:
        stream = await client.chat.completions.create(
            model="m", messages=USER, stream=True, stream_options={"include_usage": True}
        )
        chunks = [c async for c in stream]
    assert len(chunks) == 3
    assert all(c.choices and c.choices[0].finish_reason is None for c in chunks)
    assert all(c.usage is None for c in chunks)
    fake_openai.inject(truncated_stream(after_chunks=100))  # capped: still cut before the finish
    body = {"model": "m", "messages": USER, "stream": True}
    async with httpx2.AsyncClient(http2=True) as http:
        response = await http.post(
            f"{fake_openai.base_url}/chat/completions", json=body, headers=auth(fake_openai)
        )
    assert response.status_code == 200
    assert "[DONE]" not in response.text
    assert '"finish_reason":"stop"' not in response.text


async def test_malformed_chunk_breaks_sdk_parsing(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(malformed_chunk(after_chunks=1))
    received: list[Any] = []
    async with sdk(fake_openai) as client:
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        with pytest.raises(json.JSONDecodeError):
            await collect(stream, received)
    assert len(received) == 1
    assert isinstance(fake_openai.requests[0].fault, MalformedChunk)


@pytest.mark.parametrize("http2", [True, False])
async def test_slow_fault_lets_a_client_timeout_fire_then_frees_the_server(
    fake_openai: FakeOpenAIServer, http2: bool
) -> None:
    fake_openai.inject(slow(30))
    async with sdk(fake_openai, http2=http2, timeout=0.3) as client:
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=USER)
        assert time.monotonic() - started < 10
        if not http2:
            # HTTP/1.1: the client drops the connection on timeout, so the server hears it at once.
            assert await asyncio.to_thread(fake_openai.wait_idle, 10)
        reply = await client.chat.completions.create(model="m", messages=USER)
    # HTTP/2: httpcore2 abandons the timed-out stream without RST_STREAM, so the server only hears
    # of it when the connection closes (above). Either way it stops waiting long before 30 s.
    assert await asyncio.to_thread(fake_openai.wait_idle, 10)
    assert reply.choices
    assert fake_openai.in_flight == 0


@pytest.mark.parametrize("http2", [True, False])
async def test_client_leaving_during_ttft_gets_no_answer_and_frees_the_server(
    fake_openai: FakeOpenAIServer, http2: bool
) -> None:
    fake_openai.ttft = 0.5
    async with sdk(fake_openai, http2=http2, timeout=0.1) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=USER)
    # The connection closed during ttft: the server must not hang answering it.
    assert await asyncio.to_thread(fake_openai.wait_idle, 10)
    assert [r.status for r in fake_openai.requests] == [None]


async def test_reset_releases_requests_left_over_from_a_previous_test(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(slow(60))
    async with sdk(fake_openai, timeout=0.3) as client:
        with pytest.raises(openai.APITimeoutError):
            await client.chat.completions.create(model="m", messages=USER)
        # Over HTTP/2 the abandoned request is still being handled (see the test above)...
        assert fake_openai.in_flight == 1
        fake_openai.reset()
        # ...and reset() both ends its wait and keeps it out of the new peak count.
        assert fake_openai.max_in_flight == 0
        assert await asyncio.to_thread(fake_openai.wait_idle, 10)
        await client.chat.completions.create(model="m", messages=USER)
    assert fake_openai.max_in_flight == 1


def test_stop_is_prompt_with_a_client_connection_left_open(
    private_server: Callable[..., FakeOpenAIServer],
) -> None:
    server = private_server()
    client = httpx2.Client(http2=True)  # never closed before stop(): an idle pooled connection
    assert client.get(f"{server.base_url}/models").status_code == 200
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5  # asyncio alone would wait 30 s for the TLS close
    assert not server.running
    client.close()


async def test_fault_predicate_and_fifo_order(fake_openai: FakeOpenAIServer) -> None:
    boom = fake_openai.inject(server_error(503), times=None, when=lambda body: "boom" in json.dumps(body))
    first = fake_openai.inject(StatusError(409))
    second = fake_openai.inject(StatusError(400))
    statuses = []
    async with httpx2.AsyncClient(http2=True) as http:
        for content in ["boom", "fine", "fine", "fine", "boom"]:
            body = {"model": "m", "messages": [{"role": "user", "content": content}]}
            response = await http.post(
                f"{fake_openai.base_url}/chat/completions", json=body, headers=auth(fake_openai)
            )
            statuses.append(response.status_code)
    assert statuses == [503, 409, 400, 200, 503]
    assert (boom.fired, first.fired, second.fired) == (2, 1, 1)
    assert fake_openai.pending_faults == [boom]


async def test_faults_are_handed_out_exactly_under_concurrency(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.inject(server_error(500), times=25)
    async with sdk(fake_openai) as client:
        results = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=USER) for _ in range(60)),
            return_exceptions=True,
        )
    assert sum(isinstance(r, openai.InternalServerError) for r in results) == 25
    assert sum(isinstance(r, openai.types.chat.ChatCompletion) for r in results) == 35


# ----- latency and concurrency -----


async def test_ttft_and_token_delay(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.ttft = 0.2
    fake_openai.token_delay = 0.05
    async with sdk(fake_openai) as client:
        started = time.monotonic()
        await client.chat.completions.create(model="m", messages=USER)
        # 4 deltas: ttft, then 3 gaps.
        assert time.monotonic() - started >= 0.2 + 3 * 0.05
        started = time.monotonic()
        stream = await client.chat.completions.create(model="m", messages=USER, stream=True)
        arrivals = [time.monotonic() async for c in stream if c.choices and c.choices[0].delta.content]
    assert arrivals[0] - started >= 0.2
    assert arrivals[-1] - arrivals[0] >= 3 * 0.05 * 0.9


async def test_max_in_flight_measures_concurrency(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.ttft = 0.5  # long enough that all 16 overlap
    async with sdk(fake_openai) as client:
        await asyncio.gather(*(client.chat.completions.create(model="m", messages=USER) for _ in range(16)))
    assert fake_openai.max_in_flight == 16
    assert fake_openai.in_flight == 0
    assert fake_openai.request_count == 16
    assert {r.http_version for r in fake_openai.requests} == {"2"}


async def test_http2_stream_limit_caps_concurrency_per_connection(
    private_server: Callable[..., FakeOpenAIServer],
) -> None:
    server = private_server(ttft=0.3, options=ServerOptions(h2_max_concurrent_streams=4))
    async with sdk(server) as client:
        await asyncio.gather(*(client.chat.completions.create(model="m", messages=USER) for _ in range(8)))
    assert server.max_in_flight == 4


async def test_reset_clears_everything(fake_openai: FakeOpenAIServer) -> None:
    fake_openai.ttft = 0.01
    fake_openai.inject(server_error(500), times=5)
    async with sdk(fake_openai) as client:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model="m", messages=USER)
    assert (fake_openai.request_count, len(fake_openai.pending_faults)) == (1, 1)
    fake_openai.reset()
    assert (fake_openai.requests, fake_openai.request_count, fake_openai.max_in_flight) == ([], 0, 0)
    assert fake_openai.pending_faults == []
    assert fake_openai.ttft == 0.0


def test_split_pieces_preserves_text_exactly() -> None:
    for text in ["", "a", " lead and trail  ", "line\nbreak\n\n two", "x y z w v"]:
        for count in [None, 1, 2, 3, 10]:
            pieces = split_pieces(text, count)
            assert "".join(pieces) == text
            assert count is None or len(pieces) <= count


# ----- separate process -----


async def test_spawned_server_serves_and_stops(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAIServer.spawn(api_keys=["sk-spawned"], ttft=0.01) as handle:
        monkeypatch.setenv("SSL_CERT_FILE", str(handle.ca_path))
        assert handle.api_key == "sk-spawned"
        async with httpx2.AsyncClient(http2=True) as http:
            client = openai.AsyncOpenAI(
                http_client=http, base_url=handle.base_url, api_key="sk-spawned", max_retries=0
            )
            reply = await client.chat.completions.create(model="m", messages=USER)
        assert reply.choices[0].message.content == "Echo: hello big world"
        assert (await asyncio.to_thread(handle.stats))["request_count"] == 1
        await asyncio.to_thread(handle.reset)
        assert (await asyncio.to_thread(handle.stats))["request_count"] == 0
    assert handle.process.returncode is not None


def test_steering_endpoints_refuse_a_mistake_with_a_400_that_names_it(fake_openai: FakeOpenAIServer) -> None:
    from llmp.testing._steering import steer

    status, body = steer(fake_openai, "POST", "knobs", b'{"ttfb": 1}')
    assert status == 400
    assert "ttfb" in body.decode()
    assert "ttft" in body.decode()  # and what it could have been
    assert steer(fake_openai, "POST", "knobs", b'{"ttft": 0.25}') == (200, b"{}")
    assert fake_openai.ttft == 0.25
    assert steer(fake_openai, "POST", "fault", b"{}")[0] == 400  # no status: says so
