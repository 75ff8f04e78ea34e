"""The fake Anthropic server speaks the Messages API wire: checked with a plain HTTP client, so a
mistake in the fake cannot hide behind litellm's leniency."""

import ssl

import httpx
import pytest

from llmp.testing import StatusError, reset_mid_stream, truncated_stream
from llmp_litellm.testing import FakeAnthropicServer
from llmp_litellm.testing._anthropic_wire import parse_sse


def body(**overrides: object) -> dict[str, object]:
    return {
        "model": "claude-sonnet-4-6",
        "max_tokens": 100,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "one two three"}]}],
        **overrides,
    }


def test_message_json_over_http2(http: httpx.Client, fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.cache_read_tokens = 2
    fake_anthropic.cache_creation_tokens = 1
    response = http.post("/v1/messages", json=body())
    assert response.status_code == 200
    assert response.http_version == "HTTP/2"
    assert response.headers["request-id"].startswith("req_")
    assert int(response.headers["anthropic-ratelimit-requests-remaining"]) >= 0
    assert response.headers["anthropic-ratelimit-tokens-reset"].endswith("Z")
    data = response.json()
    assert data["id"].startswith("msg_")
    assert (data["type"], data["role"], data["model"]) == ("message", "assistant", "claude-sonnet-4-6")
    assert data["content"] == [{"type": "text", "text": "Echo: one two three"}]
    assert (data["stop_reason"], data["stop_sequence"]) == ("end_turn", None)
    usage = data["usage"]
    # Five prompt words (system + user): two read from cache, one written, two uncached.
    assert (
        usage["input_tokens"],
        usage["cache_read_input_tokens"],
        usage["cache_creation_input_tokens"],
    ) == (2, 2, 1)
    assert usage["output_tokens"] == 4
    assert fake_anthropic.requests[-1].http_version == "2"


def test_sse_event_sequence(http: httpx.Client) -> None:
    response = http.post("/v1/messages", json=body(stream=True, stop_sequences=["three"]))
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.content)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}
    assert all(name == data["type"] for name, data in events)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "Echo: one two "  # cut before the stop sequence, which is not included
    delta = events[-2][1]
    assert delta["delta"] == {"stop_reason": "stop_sequence", "stop_sequence": "three"}
    assert delta["usage"] == {"output_tokens": 3}
    assert events[0][1]["message"]["usage"]["input_tokens"] == 5


def test_max_tokens_stops_the_reply(http: httpx.Client) -> None:
    data = http.post("/v1/messages", json=body(max_tokens=2)).json()
    assert data["content"][0]["text"] == "Echo: one"
    assert data["stop_reason"] == "max_tokens"


@pytest.mark.parametrize(
    ("change", "status", "type_", "message"),
    [
        ({"x-api-key": ""}, 401, "authentication_error", "x-api-key header is required"),
        ({"x-api-key": "sk-ant-wrong"}, 401, "authentication_error", "invalid x-api-key"),
        ({"anthropic-version": ""}, 400, "invalid_request_error", "anthropic-version: header is required"),
    ],
)
def test_headers_are_checked(
    http: httpx.Client, change: dict[str, str], status: int, type_: str, message: str
) -> None:
    response = http.post("/v1/messages", json=body(), headers=change)
    assert response.status_code == status
    assert response.json() == {"type": "error", "error": {"type": type_, "message": message}}
    assert "sk-ant-wrong" not in response.text


@pytest.mark.parametrize(
    ("request_body", "message"),
    [
        (
            body(max_tokens=None) | {"max_tokens": None},
            "max_tokens: Input should be greater than or equal to 1",
        ),
        ({k: v for k, v in body().items() if k != "max_tokens"}, "max_tokens: Field required"),
        (body(n=2), "n: Extra inputs are not permitted"),
        (body(messages=[{"role": "system", "content": "x"}]), 'messages: Unexpected role "system"'),
        (body(temperature=1.5), "temperature: range: 0..1"),
    ],
)
def test_bodies_are_checked_like_the_api(http: httpx.Client, request_body: object, message: str) -> None:
    response = http.post("/v1/messages", json=request_body)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert response.json()["error"]["message"].startswith(message)


def test_prompt_longer_than_the_context_window(
    http: httpx.Client, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.context_window = 3
    response = http.post("/v1/messages", json=body())
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "prompt is too long: 5 tokens > 3 maximum"


def test_injected_errors_use_anthropics_shape(
    http: httpx.Client, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.inject(StatusError(529))
    fake_anthropic.inject(StatusError(429, retry_after=7))
    overloaded = http.post("/v1/messages", json=body())
    assert overloaded.status_code == 529
    assert overloaded.json()["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    limited = http.post("/v1/messages", json=body())
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert limited.headers["retry-after"] == "7"
    assert "anthropic-ratelimit-requests-limit" in limited.headers
    assert limited.headers["request-id"].startswith("req_")
    assert fake_anthropic.request_count == 2


def test_enforced_rate_limit_answers_429_with_retry_after() -> None:
    with FakeAnthropicServer(rpm=1) as server:
        headers = {"x-api-key": server.api_key, "anthropic-version": "2023-06-01"}
        with httpx.Client(
            base_url=server.base_url,
            headers=headers,
            verify=ssl.create_default_context(cafile=str(server.ca_path)),
        ) as client:
            assert client.post("/v1/messages", json=body()).status_code == 200
            refused = client.post("/v1/messages", json=body())
            assert refused.http_version == "HTTP/1.1"
        assert refused.status_code == 429
        assert refused.json()["error"]["type"] == "rate_limit_error"
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert server.requests[-1].http_version == "1.1"


def test_truncated_stream_has_no_message_stop(
    http: httpx.Client, fake_anthropic: FakeAnthropicServer
) -> None:
    fake_anthropic.inject(truncated_stream(after_chunks=4))
    events = parse_sse(http.post("/v1/messages", json=body(stream=True)).content)
    assert [name for name, _ in events] == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
    ]


def test_reset_restores_knobs(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.context_window = 1
    fake_anthropic.cache_creation_tokens = 9
    fake_anthropic.reset()
    assert fake_anthropic.context_window == 200_000
    assert fake_anthropic.cache_creation_tokens == 0


def test_paced_stream_arrives_in_steps(http: httpx.Client, fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.token_delay = 0.01
    fake_anthropic.chunk_count = 2
    with http.stream("POST", "/v1/messages", json=body(stream=True)) as response:
        parts = list(response.iter_bytes())
    events = parse_sse(b"".join(parts))
    deltas = [d["delta"]["text"] for n, d in events if n == "content_block_delta"]
    assert deltas == ["Echo: one", " two three"]
    assert events[-1][0] == "message_stop"


def test_reset_mid_stream_over_http2(http: httpx.Client, fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.inject(reset_mid_stream(after_chunks=2))
    with (
        pytest.raises(httpx.RemoteProtocolError),  # the reset comes while reading the body
        http.stream("POST", "/v1/messages", json=body(stream=True)) as response,
    ):
        response.read()
    # The connection survives a reset of one stream.
    assert http.post("/v1/messages", json=body()).status_code == 200
