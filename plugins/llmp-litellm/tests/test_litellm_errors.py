"""litellm's exceptions arrive as llmp errors with the provider's own status, message and
rate-limit signals, chained to the original."""

import socket
import time
from typing import Any

import pytest

from llmp import errors
from llmp.testing import StatusError, malformed_chunk, reset_mid_stream, slow, truncated_stream
from llmp.types import Client, ClientSettings, Request
from llmp_litellm import _hooks
from llmp_litellm.testing import FakeAnthropicServer

REQUEST = Request("claude-sonnet-4-6", [{"role": "user", "content": "hi"}])


def client_for(server: FakeAnthropicServer) -> Client:
    settings = ClientSettings("anthropic", "litellm", server.base_url, server.api_key)
    return _hooks.llmp_apis()["litellm"](settings)


@pytest.mark.parametrize(
    ("status", "error", "type_"),
    [
        (400, errors.BadRequestError, "invalid_request_error"),
        (401, errors.AuthenticationError, "authentication_error"),
        (403, errors.AuthenticationError, "permission_error"),
        (404, errors.BadRequestError, "not_found_error"),
        (413, errors.BadRequestError, "request_too_large"),
        (429, errors.RateLimitError, "rate_limit_error"),
        (500, errors.ServerError, "api_error"),
        (503, errors.ServerError, "api_error"),
        (504, errors.ProviderTimeoutError, "timeout_error"),
        (529, errors.ServerError, "overloaded_error"),
    ],
)
async def test_status_maps_to_llmp_error(
    fake_anthropic: FakeAnthropicServer,
    status: int,
    error: type[errors.ProviderError],
    type_: str,
) -> None:
    # At the client: the core would retry what is retryable (a 429 many times over).
    fake_anthropic.inject(StatusError(status, message=f"the {type_} message"))
    with pytest.raises(error) as info:
        await client_for(fake_anthropic).complete(REQUEST)
    assert type(info.value) is error
    assert info.value.status_code == status  # 529 stays 529, though litellm calls it a 500
    assert info.value.provider == "anthropic"
    assert info.value.message == f"the {type_} message"  # the provider's words, not litellm's wrapper
    assert info.value.body == {"type": "error", "error": {"type": type_, "message": f"the {type_} message"}}
    assert type(info.value.__cause__).__module__.startswith("litellm")
    assert fake_anthropic.api_key not in str(info.value)


def test_prompt_too_long_is_a_context_window_error(
    fake_anthropic: FakeAnthropicServer, make_llm: Any
) -> None:
    fake_anthropic.context_window = 3
    with pytest.raises(
        errors.ContextWindowExceededError, match="prompt is too long: 4 tokens > 3 maximum"
    ) as info:
        make_llm().chat("one two three four")
    assert info.value.status_code == 400
    assert not info.value.retryable


async def test_rate_limit_carries_retry_after_and_limits(fake_anthropic: FakeAnthropicServer) -> None:
    fake_anthropic.inject(StatusError(429, retry_after=7))
    with pytest.raises(errors.RateLimitError) as info:
        await client_for(fake_anthropic).complete(REQUEST)
    assert info.value.retry_after == 7.0
    limits = info.value.rate_limit
    assert limits is not None
    assert limits.limit_requests == 10_000
    assert limits.remaining_tokens is not None
    assert limits.reset_requests is not None
    assert 0 <= limits.reset_requests <= 2  # the RFC 3339 reset time, as seconds from now


def test_core_waits_retry_after_before_retrying(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    fake_anthropic.inject(StatusError(429, retry_after=0.4))
    llm = make_llm(max_retries=2)
    started = time.monotonic()
    assert llm.chat("a b") == "Echo: a b"
    assert time.monotonic() - started >= 0.4
    assert fake_anthropic.request_count == 2


async def test_responses_and_streams_carry_rate_limits(fake_anthropic: FakeAnthropicServer) -> None:
    client = client_for(fake_anthropic)
    request = REQUEST
    response = await client.complete(request)
    assert response.rate_limit is not None
    assert response.rate_limit.limit_requests == 10_000
    assert response.rate_limit.reset_tokens is not None
    assert response.request_id is not None
    assert response.request_id.startswith("req_")
    chunks = [chunk async for chunk in client.stream(request)]
    limits = [chunk.rate_limit for chunk in chunks if chunk.rate_limit is not None]
    assert len(limits) == 1
    assert limits[0].remaining_requests is not None
    assert chunks[0].rate_limit is limits[0]
    assert chunks[0].model == "claude-sonnet-4-6"


@pytest.mark.parametrize("fault", [truncated_stream(4), malformed_chunk(4), reset_mid_stream(4)])
def test_a_stream_cut_short_is_an_error_not_a_shorter_answer(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, fault: Any
) -> None:
    fake_anthropic.reply_fn = lambda body, index: "many words in this reply so the cut is mid answer"
    fake_anthropic.inject(fault)
    with pytest.raises(errors.ProviderError) as info:
        list(make_llm().stream("x"))
    assert info.value.retryable


def test_a_truncated_body_is_retryable(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    fake_anthropic.inject(truncated_stream())
    with pytest.raises(errors.ProviderError) as info:
        make_llm().chat("x")
    assert info.value.retryable


def test_timeout(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    fake_anthropic.inject(slow(30))
    with pytest.raises(errors.ProviderTimeoutError):
        make_llm(timeout=0.5).chat("x")


def test_connection_refused(fake_anthropic: FakeAnthropicServer, make_llm: Any) -> None:
    with socket.socket() as sock:  # a port that nothing listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(errors.ProviderConnectionError) as info:
        make_llm(base_url=f"https://127.0.0.1:{port}").chat("x")
    assert type(info.value) is errors.ProviderConnectionError
    assert info.value.retryable


def test_untrusted_certificate_is_a_tls_error(
    fake_anthropic: FakeAnthropicServer, make_llm: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Trust only an unrelated CA: the fake's certificate no longer verifies.
    import trustme

    bundle = tmp_path / "unrelated-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    with FakeAnthropicServer() as stranger:  # a new base URL, so a new client reads SSL_CERT_FILE
        with pytest.raises(errors.TLSError) as info:
            make_llm(base_url=stranger.base_url).chat("x")
        assert stranger.request_count == 0
    assert not info.value.retryable
