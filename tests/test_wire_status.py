"""`llmp.wire.error_from_status` and the rate-limit headers, on the error bodies providers send.

The bodies come from the fake servers' wire modules, which mirror each provider's real shapes.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import time
from typing import Any

import pytest

from llmp import errors
from llmp.testing._faults import _BAD_GATEWAY_HTML
from llmp.wire import error_from_status, rate_limit_info, retry_after, retry_delay
from llmp_gemini.testing import _gemini_wire
from llmp_litellm.testing import _anthropic_wire
from llmp_openai.testing import _openai_wire

OPENAI_CONTEXT = _openai_wire.error_body(
    "This model's maximum context length is 128000 tokens. However, your messages resulted in 130001 tokens.",
    "invalid_request_error",
    param="messages",
    code="context_length_exceeded",
)


def openai(message: str, type_: str = "invalid_request_error", code: str | None = None) -> bytes:
    return _openai_wire.error_body(message, type_, code=code)


def anthropic(type_: str, message: str) -> bytes:
    return _anthropic_wire.error_body(type_, message)


def vllm(message: str) -> bytes:
    return json.dumps(
        {"object": "error", "message": message, "type": "BadRequestError", "code": 400}
    ).encode()


FASTAPI_422 = b'{"detail": [{"loc": ["body", "n"], "msg": "n must be >= 1", "type": "value_error"}]}'
GOOGLE_LIST = b'[{"error": {"code": 400, "message": "bad list", "status": "INVALID_ARGUMENT"}}]'
CASES: list[tuple[int, Any, type[errors.ProviderError], str]] = [
    (400, openai("Invalid 'temperature'."), errors.BadRequestError, "Invalid 'temperature'."),
    (404, openai("No model `x`.", code="model_not_found"), errors.BadRequestError, "No model `x`."),
    (422, FASTAPI_422, errors.BadRequestError, "n must be >= 1"),
    (400, OPENAI_CONTEXT, errors.ContextWindowExceededError, "maximum context length is 128000"),
    (
        400,
        anthropic("invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"),
        errors.ContextWindowExceededError,
        "prompt is too long",
    ),
    (
        400,
        anthropic("invalid_request_error", "input length and `max_tokens` exceed context limit: 1 + 2 > 2"),
        errors.ContextWindowExceededError,
        "exceed context limit",
    ),
    (
        400,
        _gemini_wire.error_body(400, "The input token count (1200000) exceeds the maximum number of tokens."),
        errors.ContextWindowExceededError,
        "exceeds the maximum number of tokens",
    ),
    (
        400,
        vllm("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."),
        errors.ContextWindowExceededError,
        "maximum context length is 4096",
    ),
    (
        400,
        vllm("The decoder prompt (length 5000) is longer than the maximum model length of 4096."),
        errors.ContextWindowExceededError,
        "maximum model length",
    ),
    (
        400,
        b'{"message": "too many tokens: 5000 > 4096"}',
        errors.ContextWindowExceededError,
        "too many tokens",
    ),
    (
        401,
        openai("Incorrect API key.", code="invalid_api_key"),
        errors.AuthenticationError,
        "Incorrect API key.",
    ),
    (
        401,
        anthropic("authentication_error", "invalid x-api-key"),
        errors.AuthenticationError,
        "invalid x-api-key",
    ),
    (
        403,
        _gemini_wire.error_body(403, "No unregistered callers."),
        errors.AuthenticationError,
        "unregistered",
    ),
    (402, b'{"message": "You are out of credits."}', errors.QuotaExceededError, "out of credits"),
    (
        429,
        openai("Out of quota.", "insufficient_quota", "insufficient_quota"),
        errors.QuotaExceededError,
        "quota",
    ),
    (
        429,
        openai("Rate limit reached.", "requests", "rate_limit_exceeded"),
        errors.RateLimitError,
        "Rate limit",
    ),
    (429, anthropic("rate_limit_error", "Tokens over your limit."), errors.RateLimitError, "over your limit"),
    (408, b"", errors.ProviderTimeoutError, "HTTP 408 Request Timeout"),
    (409, b'{"message": "conflict"}', errors.ConflictError, "conflict"),
    (500, openai("The server had an error.", "server_error"), errors.ServerError, "The server had an error."),
    (529, anthropic("overloaded_error", "Overloaded"), errors.ServerError, "Overloaded"),
    (502, _BAD_GATEWAY_HTML, errors.ServerError, "502 Bad Gateway"),
    (503, "upstream connect error or disconnect/reset", errors.ServerError, "upstream connect error"),
    (500, b"<html><body><h1>Oops</h1> &amp; more</body></html>", errors.ServerError, "Oops & more"),
    (400, b'{"error": "invalid model"}', errors.BadRequestError, "invalid model"),
    (400, GOOGLE_LIST, errors.BadRequestError, "bad list"),
    (418, None, errors.BadRequestError, "HTTP 418 I'm a Teapot"),
    (499, b"", errors.BadRequestError, "HTTP 499"),
]


@pytest.mark.parametrize(("status", "body", "expected", "message"), CASES)
def test_status_and_body_shapes(status: int, body: Any, expected: type, message: str) -> None:
    error = error_from_status(status, body, {}, "prov")
    assert type(error) is expected
    assert message in error.message
    assert (error.status_code, error.provider) == (status, "prov")
    retried = status >= 500 or (status in (408, 409, 429) and expected is not errors.QuotaExceededError)
    assert error.retryable == retried


@pytest.mark.parametrize("form", ["bytes", "str", "parsed"])
def test_body_may_be_bytes_text_or_parsed(form: str) -> None:
    body: Any = {
        "bytes": OPENAI_CONTEXT,
        "str": OPENAI_CONTEXT.decode(),
        "parsed": json.loads(OPENAI_CONTEXT),
    }[form]
    error = error_from_status(400, body, {}, "openai")
    assert isinstance(error, errors.ContextWindowExceededError)
    assert error.body == json.loads(OPENAI_CONTEXT)  # parsed JSON, for plugins that look further


def test_a_text_body_is_kept_as_text() -> None:
    error = error_from_status(502, _BAD_GATEWAY_HTML, {}, "openai")
    assert isinstance(error.body, str)
    assert "cloudflare" in error.body


def test_retry_after_seconds_date_and_milliseconds() -> None:
    assert error_from_status(429, b"", {"retry-after": "7"}, "p").retry_after == 7.0
    assert error_from_status(503, b"", {"retry-after-ms": "250", "retry-after": "9"}, "p").retry_after == 0.25
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    wait = error_from_status(429, b"", {"retry-after": when}, "p").retry_after
    assert wait is not None
    assert 25 <= wait <= 31
    assert error_from_status(429, b"", {}, "p").retry_after is None
    # A 400 asks for no wait even if a header says one: it is not retried.
    assert error_from_status(400, b"", {"retry-after": "7"}, "p").retry_after is None


def test_gemini_retry_info() -> None:
    body = _gemini_wire.error_body(429, "Resource exhausted.", details=_gemini_wire.quota_details("m", 7.5))
    error = error_from_status(429, body, {}, "gemini")
    assert isinstance(error, errors.RateLimitError)
    assert error.retry_after == 7.5
    assert retry_delay(body) == 7.5
    proto = {"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                    "retryDelay": {"seconds": 3, "nanos": 500000000}}]}}  # fmt: skip
    assert retry_delay(proto) == 3.5
    assert retry_delay(b"not json") is None


GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
    }
}


def test_a_provider_table_decides_over_the_status() -> None:
    # Google sends a wrong key as a 400: only the provider's table knows it is a key problem.
    assert type(error_from_status(400, GEMINI_BAD_KEY, {}, "gemini")) is errors.BadRequestError
    table = {"API_KEY_INVALID": errors.AuthenticationError}
    error = error_from_status(400, GEMINI_BAD_KEY, {}, "gemini", codes=table)
    assert type(error) is errors.AuthenticationError
    assert (error.status_code, error.message) == (400, "API key not valid. Please pass a valid API key.")
    assert error.body == GEMINI_BAD_KEY
    # Words it does not carry leave the status mapping as it is; so does an empty table.
    assert (
        type(error_from_status(404, {"error": {"message": "m"}}, {}, "g", codes=table))
        is errors.BadRequestError
    )
    assert type(error_from_status(400, GEMINI_BAD_KEY, {}, "gemini", codes={})) is errors.BadRequestError


def test_a_table_matches_codes_types_and_statuses_in_its_own_order() -> None:
    body = {"error": {"message": "busy", "type": "overloaded", "code": "try_later", "status": "UNAVAILABLE"}}
    first = {"UNAVAILABLE": errors.ServerError, "overloaded": errors.ConflictError}
    assert type(error_from_status(400, body, {}, "p", codes=first)) is errors.ServerError
    second = {"try_later": errors.RateLimitError, "UNAVAILABLE": errors.ServerError}
    assert type(error_from_status(400, body, {}, "p", codes=second)) is errors.RateLimitError


def test_a_retried_class_from_a_table_gets_the_wait_and_the_rate_limits() -> None:
    headers = {"retry-after": "3", "x-ratelimit-remaining-requests": "0", "x-ratelimit-limit-requests": "60"}
    body = openai("Too many requests in flight.", "requests", code="rate_limit_exceeded")
    error = error_from_status(
        400, body, headers, "host", codes={"rate_limit_exceeded": errors.RateLimitError}
    )
    assert isinstance(error, errors.RateLimitError)
    assert error.retryable
    assert error.retry_after == 3.0
    assert error.rate_limit is not None
    assert (error.rate_limit.remaining_requests, error.rate_limit.limit_requests) == (0, 60)
    # A class that is not retried asks for no wait, whatever the headers say.
    refused = error_from_status(429, body, headers, "host", codes={"requests": errors.BadRequestError})
    assert type(refused) is errors.BadRequestError
    assert (refused.retry_after, refused.rate_limit) == (None, None)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "soon", ""])
def test_retry_after_that_cannot_be_honoured_is_ignored(value: str) -> None:
    assert retry_after({"retry-after": value}) is None
    assert retry_after({"retry-after-ms": value}) is None


def test_negative_retry_after_is_now() -> None:
    assert retry_after({"retry-after": "-5"}) == 0.0


def test_openai_rate_limit_headers_on_a_429() -> None:
    headers = {
        "x-ratelimit-limit-requests": "500",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m30s",
        "x-ratelimit-limit-tokens": "30000",
        "x-ratelimit-remaining-tokens": "120",
        "x-ratelimit-reset-tokens": "20ms",
        "retry-after": "2",
    }
    error = error_from_status(429, _openai_wire.error_body("slow down", "requests"), headers, "openai")
    assert isinstance(error, errors.RateLimitError)
    assert error.rate_limit is not None
    assert (error.rate_limit.limit_requests, error.rate_limit.remaining_requests) == (500, 0)
    assert error.rate_limit.reset_requests == 90.0
    assert error.rate_limit.reset_tokens == pytest.approx(0.02)


def test_anthropic_rate_limit_headers() -> None:
    soon = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=40)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    headers = {
        "anthropic-ratelimit-requests-limit": "50",
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-tokens-limit": "80000",
        "anthropic-ratelimit-tokens-remaining": "100",
        "anthropic-ratelimit-tokens-reset": soon,
        "anthropic-ratelimit-input-tokens-remaining": "999",
    }
    info = rate_limit_info(headers)
    assert info is not None
    assert (info.limit_requests, info.remaining_requests, info.limit_tokens, info.remaining_tokens) == (
        50,
        0,
        80000,
        100,  # "tokens" is the most restrictive of Anthropic's token limits
    )
    assert info.reset_requests is not None
    assert 35 <= info.reset_requests <= 41
    error = error_from_status(
        429, _anthropic_wire.error_body("rate_limit_error", "slow"), headers, "anthropic"
    )
    assert error.rate_limit is not None
    assert error.rate_limit.remaining_tokens == 100


def test_anthropic_input_tokens_when_there_is_no_combined_limit() -> None:
    info = rate_limit_info(
        {"anthropic-ratelimit-input-tokens-remaining": "5", "anthropic-ratelimit-input-tokens-limit": "9"}
    )
    assert info is not None
    assert (info.remaining_tokens, info.limit_tokens) == (5, 9)


def test_rate_limit_info_on_httpx2_headers_is_case_insensitive() -> None:
    import httpx2

    headers = httpx2.Headers({"X-RateLimit-Remaining-Requests": "3", "Retry-After": "1"})
    info = rate_limit_info(headers)
    assert info is not None
    assert info.remaining_requests == 3
    assert retry_after(headers) == 1.0


def test_llmp_headers_still_imports() -> None:
    from llmp import headers

    assert headers.retry_after is retry_after
