import email.utils
import time

import pytest

from llmp.headers import parse_duration, rate_limit_info, retry_after


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3s", 3723.0), ("1.5", 1.5), ("0.5s", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", None, "soon", "5x", "1s garbage"])
def test_parse_duration_rejects_garbage(text: str | None) -> None:
    assert parse_duration(text) is None


def test_retry_after_prefers_milliseconds() -> None:
    assert retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == pytest.approx(1.5)
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({}) is None


def test_retry_after_http_date() -> None:
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (retry_after({"retry-after": when}) or 0) <= 31


def test_rate_limit_info() -> None:
    info = rate_limit_info(
        {
            "x-ratelimit-limit-requests": "500",
            "x-ratelimit-remaining-requests": "499",
            "x-ratelimit-reset-requests": "120ms",
            "x-ratelimit-limit-tokens": "30000",
            "x-ratelimit-remaining-tokens": "29000",
            "x-ratelimit-reset-tokens": "2s",
        }
    )
    assert info is not None
    assert (info.limit_requests, info.remaining_requests) == (500, 499)
    assert info.reset_requests == pytest.approx(0.12)
    assert (info.limit_tokens, info.remaining_tokens, info.reset_tokens) == (30000, 29000, 2.0)
    assert rate_limit_info({"content-type": "application/json"}) is None
