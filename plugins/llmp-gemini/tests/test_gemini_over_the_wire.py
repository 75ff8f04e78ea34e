"""llmp + llmp-gemini end to end: the real google-genai SDK over TLS/HTTP/2 to the fake Gemini."""

from __future__ import annotations

import asyncio
import importlib.util
import secrets
from collections.abc import Callable
from typing import Any

import pytest

import llmp
from llmp.errors import (
    AuthenticationError,
    ConfigurationError,
    EmptyResponseError,
    MalformedResponseError,
    MissingAPIKeyError,
    ProviderConnectionError,
    ProviderTimeoutError,
    TLSError,
    UnsupportedFeatureError,
    UnsupportedParameterError,
)
from llmp.testing import StatusError, reset_mid_stream, slow
from llmp.testing import truncated_stream as truncated
from llmp.types import ClientSettings
from llmp_gemini._client import GeminiClient
from llmp_gemini.testing import FakeGeminiServer, GeminiRequestRecord

MakeLLM = Callable[..., llmp.LLM]


def generate_requests(server: FakeGeminiServer) -> list[GeminiRequestRecord]:
    return [r for r in server.requests if r.path.endswith(("Content", "GenerateContent"))]


def sent_config(server: FakeGeminiServer) -> dict[str, Any]:
    body = server.requests[-1].body
    assert isinstance(body, dict)
    config: dict[str, Any] = body.get("generationConfig") or {}
    return config


def test_call_and_stream_go_over_http2_to_the_native_endpoints(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    assert llm.chat("hello big world") == "Echo: hello big world"
    assert "".join(llm.stream("hello big world")) == "Echo: hello big world"
    call, stream = generate_requests(fake_gemini)
    assert call.path == "/v1/models/gemini-3-flash-preview:generateContent"
    assert stream.path == "/v1/models/gemini-3-flash-preview:streamGenerateContent"
    assert stream.query == "alt=sse"
    assert {call.http_version, stream.http_version} == {"2"}, "Gemini traffic must use HTTP/2"
    assert call.headers["x-goog-api-key"] == fake_gemini.api_key
    # The timeout is sent (google-genai sends none unless told) and announced to the server.
    assert call.headers["x-server-timeout"] == "600"


def test_aiohttp_being_importable_does_not_change_the_transport(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from google import genai
    from google.genai import _api_client

    if importlib.util.find_spec("aiohttp") is not None:
        import aiohttp  # noqa: F401  - imported, as in any process that also uses litellm
    else:
        # Where litellm (and so aiohttp) is not installed, give the SDK the same belief.
        monkeypatch.setattr(_api_client, "has_aiohttp", True)
    # Control: left to itself, google-genai would now pick aiohttp (which speaks only HTTP/1.1).
    plain = genai.Client(api_key="k", http_options={"base_url": fake_gemini.base_url})
    assert plain._api_client._use_aiohttp()

    settings = ClientSettings("gemini", "gemini", fake_gemini.base_url, fake_gemini.api_key)
    sdk_client = GeminiClient(settings).sdk._api_client
    assert not sdk_client._use_aiohttp()
    assert type(sdk_client._async_httpx_client).__module__.startswith("httpx2")
    # And on the wire: aiohttp speaks only HTTP/1.1, so HTTP/2 proves the transport was httpx2.
    llm = make_llm()
    assert llm.chat("transport check") == "Echo: transport check"
    assert "".join(llm.stream("transport check")) == "Echo: transport check"
    assert {r.http_version for r in generate_requests(fake_gemini)} == {"2"}


def test_system_prompt_candidates_and_default_thinking_on_the_wire(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm()
    replies = llm.generate(["a b"], system_prompt="Be brief.", n=3)
    assert replies == [["Echo: a b", "Echo: a b [1]", "Echo: a b [2]"]]
    body = fake_gemini.requests[-1].body
    assert body["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a b"}]}]
    config = body["generationConfig"]
    assert config["candidateCount"] == 3
    # Flash thinks by default; llmp turns it off unless asked (google-genai sends proto names here).
    assert config["thinkingConfig"] == {"thinking_budget": 0}


def test_assistant_turns_are_the_model_role(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": [{"type": "text", "text": "second"}]},
    ]
    assert make_llm().chat(messages) == "Echo: second"
    body = fake_gemini.requests[-1].body
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    assert body["systemInstruction"]["parts"] == [{"text": "S"}]


def test_openai_parameters_are_mapped(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm(temperature=0.2, top_p=0.9, seed=7)
    llm.chat("x", max_tokens=50, stop=["END"], response_mime_type="application/json")
    config = sent_config(fake_gemini)
    assert config["temperature"] == 0.2
    assert config["topP"] == 0.9
    assert config["seed"] == 7
    assert config["maxOutputTokens"] == 50
    assert config["stopSequences"] == ["END"]
    assert config["responseMimeType"] == "application/json"


def test_max_tokens_and_stop_are_honoured(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    assert llm.chat("one two three four", max_tokens=2) == "Echo: one"
    assert llm.chat("one two STOP three") == "Echo: one two STOP three"
    assert llm.chat("one two STOP three", stop="STOP") == "Echo: one two "


def test_unsupported_parameters_fail_before_sending(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    with pytest.raises(UnsupportedFeatureError, match="logprobs"):
        llm.chat("x", logprobs=True)  # the core refuses what the client says it cannot do
    with pytest.raises(UnsupportedParameterError, match="thinking_budget and thinking_level were both given"):
        llm.chat("x", thinking_budget=128, thinking_level="low")
    with pytest.raises(UnsupportedParameterError, match="Did you mean 'thinking_budget'"):
        llm.chat("x", thinking_budgt=128)
    with pytest.raises(UnsupportedParameterError, match="'logit_bias'"):
        llm.chat("x", logit_bias={"1": 2})
    with pytest.raises(UnsupportedParameterError, match="no earlier assistant message made"):
        llm.chat([{"role": "tool", "content": "42", "tool_call_id": "c1"}])
    with pytest.raises(
        UnsupportedParameterError, match=r"reasoning=off: gemini-2\.5-pro cannot turn thinking off"
    ):
        make_llm("gemini/gemini-2.5-pro").chat("x", reasoning=False)
    with pytest.raises(ConfigurationError, match="temperature"):
        llm.chat("x", temperature="hot")
    assert fake_gemini.request_count == 0


def test_thinking_requests_reach_the_wire(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    flash3 = make_llm()
    flash3.chat("x", thinking_level="low")
    assert sent_config(fake_gemini)["thinkingConfig"] == {"thinking_level": "LOW"}
    flash3.chat("x", reasoning_effort="high")  # OpenAI's name for reasoning="high"
    assert sent_config(fake_gemini)["thinkingConfig"] == {"thinking_level": "HIGH", "include_thoughts": True}
    flash3.chat("x", thinking_budget=-1)
    assert sent_config(fake_gemini)["thinkingConfig"] == {"thinking_budget": -1}
    make_llm("gemini/gemini-2.5-flash").chat("x", reasoning="low", include_thoughts=False)
    assert sent_config(fake_gemini)["thinkingConfig"] == {"thinking_budget": 1024}
    # Pro models cannot stop thinking: no default is sent, the model's own applies.
    make_llm("gemini/gemini-2.5-pro").chat("x")
    assert "thinkingConfig" not in sent_config(fake_gemini)


def test_usage_counts_cached_and_thoughts(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.cached_tokens = 2
    fake_gemini.thoughts_tokens = 5
    llm = make_llm()
    assert llm.chat("one two three", thinking_budget=64) == "Echo: one two three"
    assert llm.total_input_tokens == 3
    assert llm.total_cached_tokens == 2
    assert llm.total_output_tokens == 4 + 5  # the answer's words plus the thoughts, billed as output
    assert llm.usage.reasoning_tokens == 5
    assert llm.total_cost == pytest.approx((1 * 0.50 + 2 * 0.05 + 9 * 3.00) / 1e6)
    streamed = make_llm()
    assert "".join(streamed.stream("one two three", thinking_budget=64)) == "Echo: one two three"
    assert (streamed.total_input_tokens, streamed.total_cached_tokens) == (3, 2)
    assert (streamed.total_output_tokens, streamed.usage.reasoning_tokens) == (9, 5)


def test_empty_answer_is_a_typed_error(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.empty_text = True
    llm = make_llm(max_retries=0)
    with pytest.raises(EmptyResponseError, match="sample 0 has no text") as info:
        llm.chat("x")
    assert info.value.retryable, "at the default temperature another try can differ"
    assert info.value.finish_reason == "stop"
    with pytest.raises(EmptyResponseError, match="sample 0 has no text"):
        list(llm.stream("x"))


def test_max_tokens_spent_on_thinking_is_a_typed_error_and_not_retried(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.thoughts_tokens = 40
    llm = make_llm()  # default retries: a retryable error would be sent again
    with pytest.raises(EmptyResponseError, match="output budget ran out") as info:
        llm.chat("x", max_tokens=30, thinking_budget=1024)
    assert info.value.finish_reason == "length"
    assert info.value.usage is not None
    assert info.value.usage.reasoning_tokens == 40
    assert not info.value.retryable
    with pytest.raises(EmptyResponseError, match="output budget ran out"):
        list(llm.stream("x", max_tokens=30, thinking_budget=1024))
    assert fake_gemini.request_count == 2


def test_empty_and_truncated_streams_are_typed_errors(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    llm = make_llm(max_retries=0)
    fake_gemini.inject(truncated(after_chunks=0))
    with pytest.raises(EmptyResponseError, match="finish reason none"):  # not one event
        list(llm.stream("one two three"))
    fake_gemini.inject(truncated(after_chunks=2))
    got: list[str] = []
    with pytest.raises(MalformedResponseError, match="truncated"):
        got.extend(llm.stream("one two three"))
    assert got == ["Echo:", " one"]


def test_reset_mid_stream_is_a_connection_error(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.inject(reset_mid_stream(after_chunks=1))
    with pytest.raises(ProviderConnectionError):
        list(make_llm(max_retries=0).stream("one two three"))


def test_429_waits_for_retry_info_then_succeeds(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.inject(StatusError(429, retry_after=0.6))
    assert make_llm().chat("again") == "Echo: again"
    first, second = generate_requests(fake_gemini)
    assert first.status == 429
    assert second.status == 200
    # The core waited for the server's RetryInfo delay (plus jitter), not its own short backoff.
    assert second.timestamp - first.timestamp >= 0.6


def test_wrong_key_is_an_authentication_error_and_rotation_skips_it(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "AIzaWrong" + secrets.token_hex(8)
    with pytest.raises(AuthenticationError, match="API key not valid") as info:
        make_llm(api_key=wrong).chat("x")
    assert info.value.status_code == 400  # Google's answer to a bad key is a 400 API_KEY_INVALID
    assert wrong not in str(info.value)
    monkeypatch.setenv("GEMINI_KEYS", f"{wrong},{fake_gemini.api_key}")
    llm = make_llm()
    assert [llm.chat("x") for _ in range(3)] == ["Echo: x"] * 3
    keys = [r.headers["x-goog-api-key"] for r in generate_requests(fake_gemini)[1:]]
    assert keys.count(wrong) <= 1  # once rejected, the key steps aside


def test_missing_key_names_the_environment_variables(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    with pytest.raises(MissingAPIKeyError, match="GEMINI_API_KEY or GEMINI_KEYS"):
        make_llm()


def test_timeout_is_a_provider_timeout(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    fake_gemini.inject(slow(30))
    with pytest.raises(ProviderTimeoutError):
        make_llm(timeout=0.3, max_retries=0).chat("x")


def test_untrusted_certificate_is_a_tls_error(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises(TLSError, match="SSL_CERT_FILE"):
        make_llm().chat("x")
    assert fake_gemini.request_count == 0


def test_base_url_may_name_the_api_version(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    assert make_llm(base_url=fake_gemini.base_url + "/v1beta").chat("x") == "Echo: x"
    assert fake_gemini.requests[-1].path == "/v1beta/models/gemini-3-flash-preview:generateContent"


def test_cache_key_follows_what_the_user_passes(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm(cache=True)
    assert llm.chat("cached?") == llm.chat("cached?")
    assert fake_gemini.request_count == 1
    llm.chat("cached?", thinking_level="high")  # a different thinking config is a different answer
    assert fake_gemini.request_count == 2
    # The key names the thinking config actually sent: the default budget is 0, so asking for
    # budget 0 explicitly is the same request and a cache hit.
    llm.chat("cached?", thinking_budget=0)
    assert fake_gemini.request_count == 2


def test_billed_tokens_of_an_empty_answer_are_counted(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    fake_gemini.thoughts_tokens = 40
    llm = make_llm()
    with pytest.raises(EmptyResponseError):
        llm.chat("x", max_tokens=30, thinking_budget=1024)
    assert llm.usage.reasoning_tokens == 40, "thinking tokens were billed though no text came back"
    assert llm.total_output_tokens >= 40


async def test_clients_are_per_event_loop(fake_gemini: FakeGeminiServer, make_llm: MakeLLM) -> None:
    llm = make_llm()
    assert await llm.achat("here") == "Echo: here"
    # Another loop (asyncio.run in a thread) gets its own client and connection pool.
    # No "attached to a different loop" error: that loop builds its own client and pool.
    other = await asyncio.to_thread(asyncio.run, llm.achat("there"))
    assert other == "Echo: there"
    assert await llm.achat("here again") == "Echo: here again"


def test_http2_opens_more_connections_past_100_streams(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    # httpcore2 carries at most 100 streams on one HTTP/2 connection and never opens a second to
    # the same origin: without more connections 250 concurrent requests would stall at 100.
    fake_gemini.ttft = 1.5  # long enough that all 250 are in flight together, even on a slow machine
    llm = make_llm(max_concurrent=250)
    assert len(llm.generate([f"p{i}" for i in range(250)])) == 250
    assert fake_gemini.max_in_flight == 250
    assert {r.http_version for r in generate_requests(fake_gemini)} == {"2"}


def test_requests_carry_the_headers_and_body_the_sdk_itself_sends(
    fake_gemini: FakeGeminiServer, make_llm: MakeLLM
) -> None:
    # llmp lets google-genai build one request per (model, streaming, timeout) and writes the
    # JSON body itself: the wire must still carry what generate_content sends.
    from google import genai
    from google.genai import types

    async def with_the_sdk() -> None:
        options = types.HttpOptions(base_url=fake_gemini.base_url, timeout=600_000)
        sdk = genai.Client(api_key=fake_gemini.api_key, vertexai=False, http_options=options)
        config = types.GenerateContentConfig(
            system_instruction="Be brief.", temperature=0.5, thinking_config={"thinking_budget": 0}
        )
        await sdk.aio.models.generate_content(model="gemini-2.5-flash", contents="hi", config=config)

    asyncio.run(with_the_sdk())
    llm = make_llm("gemini/gemini-2.5-flash")
    assert llm.chat("hi", system_prompt="Be brief.", temperature=0.5) == "Echo: hi"
    sdk_request, ours = generate_requests(fake_gemini)
    assert ours.path == sdk_request.path
    assert ours.body == sdk_request.body
    varying = {"content-length"}  # the SDK's json.dumps spaces its separators; ours does not
    assert {k: v for k, v in ours.headers.items() if k not in varying} == {
        k: v for k, v in sdk_request.headers.items() if k not in varying
    }
